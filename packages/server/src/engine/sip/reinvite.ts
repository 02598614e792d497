// A re-INVITE inside a call (RFC 3261 §14): what phones send to put a call on hold and take it off
// (RFC 3264 §8.4: a=sendonly / a=inactive, or the old c=0.0.0.0), or to refresh the session. The
// media path stays as it is (rtpengine keeps relaying); the answer is the SDP the phone already
// has from us, its version bumped, with the direction that answers the offer's. The phone's hold
// state is reported so the call's media watch pauses while the phone (rightly) sends nothing.
import { createResponse } from './build.ts';
import { firstAudioStream, g711Codecs } from './media/sdp-audio.ts';
import { getCallId, getHeader, type SipRequest, type SipResponse } from './message.ts';
import { RFC3261_TIMERS, type ServerTransaction } from './transaction.ts';

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
    const o = /^o=(\S+) (\S+) (\S+) (.*)$/.exec(l);
    return o ? `o=${o[1]} ${o[2]} ${version} ${o[4]}` : l;
  });
  out.push(`a=${direction}`);
  return `${out.join('\r\n')}\r\n`;
}

export interface ReinviteOptions {
  timers?: { t1: number; t2: number };
  onTrace?: (what: string, detail?: unknown) => void;
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
    /** The ACK of one of our re-INVITE 200s: it stops retransmitting. */
    onAck(ack: SipRequest): boolean {
      const key = keyOf(ack);
      const timer = pending.get(key);
      if (!timer) return false;
      clearTimeout(timer);
      pending.delete(key);
      return true;
    },
    close() {
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
    },
  };
}
export type ReinviteAnswerer = ReturnType<typeof createReinviteAnswerer>;
