// A re-INVITE inside a call (RFC 3261 §14): what phones send to put a call on hold and take it off
// (RFC 3264 §8.4: a=sendonly / a=inactive, or the old c=0.0.0.0), or to refresh the session. The
// media path stays as it is (rtpengine keeps relaying); the answer is the SDP the phone already
// has from us, its version bumped, with the direction that answers the offer's. The phone's hold
// state is reported so the call's media watch pauses while the phone (rightly) sends nothing.
//
// A carrier's re-INVITE (issue 16) goes further (`renegotiate`): its new offer — a new address or
// port, hold — is given to rtpengine as the first one was, and answered with rtpengine's answer, so
// the carrier's RTP goes where it now says; one without SDP gets an offer in the 200 and the
// answer its ACK brings is applied. So does a browser's re-INVITE with an offer (issue 18: hold,
// resume, an ICE restart after a network change), with the WebRTC flags on the browser's side.
import { createResponse } from './build.ts';
import { telephoneEventPt } from './media/dtmf.ts';
import type { G711Codec } from './media/g711.ts';
import { g711Sdp } from './media/local-media.ts';
import type { NgClient } from './media/ng-client.ts';
import type { NgSdpOptions } from './media/ng-types.ts';
import { firstAudioStream, g711Codecs } from './media/sdp-audio.ts';
import { getCallId, getHeader, type SipRequest, type SipResponse } from './message.ts';
import { RFC3261_TIMERS, type ServerTransaction } from './transaction.ts';
import type { Remote } from './transport.ts';
import { webrtcAnswer, webrtcReply } from './uac-dialog.ts';

const ANSWER_DIRECTION: Record<string, string> = {
  sendonly: 'recvonly',
  recvonly: 'sendonly',
  inactive: 'inactive',
  sendrecv: 'sendrecv',
};

/** Whether an offer puts the call on hold: sendonly, inactive, or a connection address of 0.0.0.0. */
export function isHoldOffer(sdp: string): boolean {
  const audio = firstAudioStream(sdp);
  if (!audio) return false;
  return audio.direction === 'sendonly' || audio.direction === 'inactive' || audio.address === '0.0.0.0';
}

/**
 * Our answer to an in-dialog offer: `ours` (the SDP the phone has from us) with the origin's
 * version incremented and every direction attribute replaced by the one answering `offer`'s
 * (sendonly → recvonly, inactive → inactive…). An empty offer (the phone asks us to offer) gets
 * ours as sendrecv.
 */
export function answerReoffer(offer: string, ours: string, version: number): string {
  const direction = offer.trim()
    ? (ANSWER_DIRECTION[firstAudioStream(offer)?.direction ?? 'sendrecv'] ?? 'sendrecv')
    : 'sendrecv';
  const lines = ours
    .split(/\r?\n/)
    .filter((l) => l !== '' && !/^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.test(l));
  const out = lines.map((l) => {
    // A browser's (issue 18): our first SDP was rtpengine's offer, DTLS `actpass`, and the browser
    // answered active; an answer must say the role kept (RFC 8842 §5.5), rtpengine's passive.
    if (/^a=setup:actpass\s*$/.test(l)) return 'a=setup:passive';
    const o = /^o=(\S+) (\S+) (\S+) (.*)$/.exec(l);
    return o ? `o=${o[1]} ${o[2]} ${version} ${o[4]}` : l;
  });
  out.push(`a=${direction}`);
  return `${out.join('\r\n')}\r\n`;
}

/**
 * Dzvin's own answer (its RTP socket at `port`) to `offer` as rtpengine hands it to us: the G.711
 * laws of the offer in its order, its telephone-event if any, the direction answering its own.
 */
export function localAnswer(offer: string, port: number, version: number): string {
  const codecs = g711Codecs(offer);
  const te = telephoneEventPt(offer);
  const pt = (c: G711Codec) => (c === 'PCMA' ? 8 : 0);
  const formats = [...codecs.map(pt), ...(te === null ? [] : [te])];
  const direction = ANSWER_DIRECTION[firstAudioStream(offer)?.direction ?? 'sendrecv'] ?? 'sendrecv';
  return [
    'v=0',
    `o=dzvin ${version} ${version} IN IP4 127.0.0.1`,
    's=dzvin',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP ${formats.join(' ')}`,
    ...codecs.map((c) => `a=rtpmap:${pt(c)} ${c}/8000`),
    ...(te === null ? [] : [`a=rtpmap:${te} telephone-event/8000`, `a=fmtp:${te} 0-15`]),
    'a=ptime:20',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

/** A dialog whose media rtpengine anchors, as `renegotiate` needs it. */
export interface AnchoredDialog {
  ng: NgClient;
  callId: string;
  /** Our tag in the dialog, and the far end's (rtpengine's from-tag / to-tag by who offers). */
  ourTag: string;
  theirTag: string;
  /** Dzvin's RTP socket for the far end (its port on 127.0.0.1). */
  port: number;
  contact: string;
  /**
   * The far end is a browser (issue 18): its offer is WebRTC, taken by rtpengine with
   * uac-dialog.ts webrtcAnswer's flags, and our answer goes back with webrtcReply's — DTLS in the
   * role rtpengine has had since the call began (`dtls`: a role change would need a new DTLS
   * association). An ICE restart then gets rtpengine's new ICE credentials and takes the browser's
   * new candidates. Absent: plain RTP/AVP both sides.
   */
  webrtc?: { dtls: 'active' | 'passive' };
}

/** What a renegotiation changed: where Dzvin sends RTP (rtpengine's side for us), the law, hold. */
export interface Renegotiated {
  rtpTo: Remote | null;
  codec: G711Codec | null;
  held: boolean;
  /** The SDP the far end has from us now. */
  sdp: string;
}

const NG_OPTIONS = { replace: ['origin', 'session-connection'], ICE: 'remove' as const };

/** rtpengine's flags for the far end's offer (towards us) and for our answer (towards it). */
function ngFlags(d: AnchoredDialog): { fromThem: NgSdpOptions; toThem: NgSdpOptions } {
  if (!d.webrtc) return { fromThem: NG_OPTIONS, toThem: NG_OPTIONS };
  const replace = NG_OPTIONS.replace;
  return {
    fromThem: { replace, ...webrtcAnswer() },
    toThem: { replace, ...webrtcReply(), DTLS: d.webrtc.dtls },
  };
}

export interface ReinviteOptions {
  timers?: { t1: number; t2: number };
  onTrace?: (what: string, detail?: unknown) => void;
  onError?: (err: unknown) => void;
}

/**
 * Answers re-INVITEs of calls and retransmits each 200 (T1 doubling to T2) until its ACK, for up
 * to 64·T1 (§13.3.1.4); the dialog is not ended when no ACK comes — the call goes on as it was.
 */
export function createReinviteAnswerer(opts: ReinviteOptions = {}) {
  const { t1, t2 } = opts.timers ?? RFC3261_TIMERS;
  const trace = opts.onTrace ?? (() => {});
  /** 200s waiting for their ACK, by `Call-ID CSeq-number`. */
  const pending = new Map<string, NodeJS.Timeout>();
  /** What to do with the ACK of a 200 that carried our offer (its answer), by the same key. */
  const ackAnswers = new Map<string, (ack: SipRequest) => void>();
  /** Dialogs (Call-IDs) with a renegotiation under way: a second re-INVITE meanwhile gets 491. */
  const renegotiating = new Set<string>();
  let version = Math.floor(Date.now() / 1000);

  function keyOf(m: SipRequest | SipResponse) {
    return `${getCallId(m)} ${(getHeader(m, 'CSeq') ?? '').trim().split(/\s+/)[0]}`;
  }

  function retransmit(
    key: string,
    tx: ServerTransaction,
    ok: SipResponse,
    interval: number,
    elapsed: number,
  ) {
    const timer = setTimeout(() => {
      if (!pending.has(key)) return;
      if (elapsed + interval >= 64 * t1) {
        pending.delete(key);
        ackAnswers.delete(key);
        renegotiating.delete(key.slice(0, key.lastIndexOf(' ')));
        return;
      }
      tx.respond(ok);
      retransmit(key, tx, ok, Math.min(2 * interval, t2), elapsed + interval);
    }, interval);
    timer.unref();
    pending.set(key, timer);
  }

  return {
    /**
     * Answers the re-INVITE `tx` of a call whose phone has `ours` from us: 488 when it offers no
     * G.711 (the call goes on unchanged), else 200 with our answer. Returns whether the phone is
     * now on hold (null when refused).
     */
    answer(tx: ServerTransaction, ours: string, localTag: string, contact: string): boolean | null {
      const offer = tx.request.body.toString('utf8');
      if (offer.trim() && !g711Codecs(offer).length) {
        tx.reply(488, 'Not Acceptable Here', { toTag: localTag });
        return null;
      }
      const held = offer.trim() ? isHoldOffer(offer) : false;
      version += 1;
      const ok = createResponse(tx.request, 200, 'OK', {
        toTag: localTag,
        headers: [
          { name: 'Contact', value: contact },
          { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS' },
          { name: 'Content-Type', value: 'application/sdp' },
        ],
        body: Buffer.from(answerReoffer(offer, ours, version), 'utf8'),
      });
      tx.respond(ok);
      retransmit(keyOf(tx.request), tx, ok, t1, 0);
      trace('reinvite.answered', { callId: getCallId(tx.request), held });
      return held;
    },
    /**
     * The re-INVITE `tx` of a call whose media rtpengine anchors (a carrier's): the far end's new
     * offer goes to rtpengine as the far end's (from-tag theirs), Dzvin's answer for its own socket
     * back through it (`localAnswer`), and the carrier gets rtpengine's answer in the 200 — its RTP
     * now goes wherever its offer says, hold included. Without SDP (the far end asks for an offer,
     * RFC 3261 §14.2): rtpengine's offer for our socket in the 200, and the answer in the ACK given
     * to rtpengine. `changed` hears what Dzvin's side must follow (where to send, the law, hold)
     * once it is known. 488 when the offer has no G.711, 491 while another renegotiation of the
     * dialog is under way, 500 when rtpengine fails — the call going on as it was each time.
     */
    async renegotiate(
      tx: ServerTransaction,
      d: AnchoredDialog,
      changed: (m: Renegotiated) => void,
    ): Promise<void> {
      const offer = tx.request.body.toString('utf8');
      if (offer.trim() && !g711Codecs(offer).length) {
        tx.reply(488, 'Not Acceptable Here', { toTag: d.ourTag });
        return;
      }
      if (renegotiating.has(d.callId)) {
        trace('reinvite.pending', { callId: d.callId });
        tx.reply(491, 'Request Pending', { toTag: d.ourTag });
        return;
      }
      renegotiating.add(d.callId);
      const key = keyOf(tx.request);
      const done = () => {
        if (!pending.has(key)) renegotiating.delete(d.callId);
      };
      try {
        version += 1;
        let body: string;
        let apply: Renegotiated | null = null;
        if (offer.trim()) {
          // The far end offers: rtpengine takes its offer (and its new address) and gives us ours.
          const flags = ngFlags(d);
          const forUs = await d.ng.offer({
            'call-id': d.callId,
            'from-tag': d.theirTag,
            'to-tag': d.ourTag,
            sdp: offer,
            ...flags.fromThem,
          });
          const answer = await d.ng.answer({
            'call-id': d.callId,
            'from-tag': d.theirTag,
            'to-tag': d.ourTag,
            sdp: localAnswer(forUs.sdp, d.port, version),
            ...flags.toThem,
          });
          body = answer.sdp;
          const stream = firstAudioStream(forUs.sdp);
          apply = {
            rtpTo: stream?.address ? { address: stream.address, port: stream.port } : null,
            codec: g711Codecs(forUs.sdp)[0] ?? null,
            held: isHoldOffer(offer),
            sdp: body,
          };
        } else {
          // No offer: we make one (our socket, through rtpengine); the ACK brings the answer.
          const ours = await d.ng.offer({
            'call-id': d.callId,
            'from-tag': d.ourTag,
            'to-tag': d.theirTag,
            sdp: g711Sdp(d.port),
            ...NG_OPTIONS,
          });
          body = ours.sdp;
          ackAnswers.set(key, (ack) => {
            const sdp = ack.body.toString('utf8');
            if (!sdp.trim() || !g711Codecs(sdp).length) {
              trace('reinvite.ack-without-answer', { callId: d.callId });
              return;
            }
            d.ng
              .answer({ 'call-id': d.callId, 'from-tag': d.ourTag, 'to-tag': d.theirTag, sdp, ...NG_OPTIONS })
              .then((forUs) => {
                const stream = firstAudioStream(forUs.sdp);
                changed({
                  rtpTo: stream?.address ? { address: stream.address, port: stream.port } : null,
                  codec: g711Codecs(forUs.sdp)[0] ?? null,
                  held: isHoldOffer(sdp),
                  sdp: body,
                });
                trace('reinvite.ack-answer', {
                  callId: d.callId,
                  rtpTo: stream && `${stream.address}:${stream.port}`,
                });
              })
              .catch(opts.onError ?? (() => {}));
          });
        }
        const ok = createResponse(tx.request, 200, 'OK', {
          toTag: d.ourTag,
          headers: [
            { name: 'Contact', value: d.contact },
            { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS' },
            { name: 'Content-Type', value: 'application/sdp' },
          ],
          body: Buffer.from(body, 'utf8'),
        });
        tx.respond(ok);
        retransmit(key, tx, ok, t1, 0);
        trace('reinvite.renegotiated', {
          callId: d.callId,
          offer: !!offer.trim(),
          held: apply?.held ?? null,
        });
        if (apply) changed(apply);
      } catch (err) {
        (opts.onError ?? (() => {}))(err);
        tx.reply(500, 'Media Unavailable', { toTag: d.ourTag });
      } finally {
        done();
      }
    },
    /** The ACK of one of our re-INVITE 200s: it stops retransmitting (and brings the answer to our offer). */
    onAck(ack: SipRequest): boolean {
      const key = keyOf(ack);
      const timer = pending.get(key);
      if (!timer) return false;
      clearTimeout(timer);
      pending.delete(key);
      renegotiating.delete(getCallId(ack) ?? '');
      const answer = ackAnswers.get(key);
      ackAnswers.delete(key);
      answer?.(ack);
      return true;
    },
    close() {
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
      ackAnswers.clear();
      renegotiating.clear();
    },
  };
}
export type ReinviteAnswerer = ReturnType<typeof createReinviteAnswerer>;
