import type { Disposition } from '@dzvin/protocol';
import type { Recorder } from '../../domain/calls/call-model.ts';
import type { CallRef, Endpoint, LegRef, PhoneDriver, PhoneEvents } from '../../domain/calls/phone-driver.ts';
import { type Clock, systemClock } from '../../domain/clock.ts';
import { DomainError } from '../../domain/errors.ts';
import { newCallId, newTag } from './build.ts';
import { createCarrierCalls } from './carrier-calls.ts';
import { parseNameAddr, quote } from './header-values.ts';
import type { G711Codec } from './media/g711.ts';
import {
  type MediaEnd,
  type MediaHost,
  type MediaRelay,
  type RtpPort,
  startMediaHost,
} from './media/media-host.ts';
import { createMediaWatch } from './media/media-watch.ts';
import type { NgClient } from './media/ng-client.ts';
import { NgError } from './media/ng-errors.ts';
import { SIMULATED_VOICE, type Voice } from './media/voice.ts';
import { getCallId, getHeader, getHeaders, type SipRequest, type SipResponse } from './message.ts';
import { createPhoneOriginated, type PhoneOriginatedDeps } from './phone-originated.ts';
import { parseReplaces, type ReferDialog, referNotifyHeaders } from './refer.ts';
import { createReinviteAnswerer } from './reinvite.ts';
import type { ClientTransaction, NewRequest, TransactionLayer } from './transaction.ts';
import type { Remote, SipTransport } from './transport.ts';
import { answerMedia, establish, inDialogRequest, offerMedia } from './uac-dialog.ts';
import { isSipUri, parseUri } from './uri.ts';

/**
 * The SIP phone driver (issue 15): the call core's PhoneDriver for employees whose softphone or
 * desk phone is registered through Kamailio. To ring one it sends an INVITE through Kamailio
 * (which finds the phone in its location table), with media anchored by rtpengine; the other
 * party of the call is whatever the core connected — a simulated caller, whose voice this driver
 * sends as RTP (a tone) and whose ear receives the phone's RTP, or another phone. Such a call's recording
 * is the real audio (`suppliesAudio`): the phone's RTP decoded as tx, the tone sent as rx
 * (media/rtp-recording.ts). Every packet of that is handled by the media worker, a thread of its
 * own (media/media-worker.ts): this driver only tells it what to do per call event
 * (media/media-host.ts), so signalling never waits behind RTP, nor RTP behind it. The core decides
 * everything else (routing, timeouts, history, events): the driver reports answered / refused /
 * remote hangup, as the simulator's driver does.
 *
 * Calls placed FROM a phone are phone-originated.ts (the UAS side); two phones in one call hear
 * each other through media/media-joint.ts; re-INVITEs (hold, resume) are reinvite.ts. A carrier's
 * call to a trunk (its IVR, DTMF) is phone-originated.ts too (trunk-caller.ts says whose it is).
 */
export interface SipDriverDeps {
  layer: TransactionLayer;
  transport: SipTransport;
  /** Kamailio, where INVITEs to phones go (it looks the ext up in its location table). */
  edge: Remote;
  ng: NgClient;
  /** Whether `ext` of the account has a phone registered now (the registration watcher's view). */
  registered(accountId: number, ext: string): boolean;
  /**
   * Whether `ext`'s phones are browsers (registered over a WebSocket, issue 18): its INVITE then
   * offers WebRTC media (ICE, DTLS-SRTP) through rtpengine. Absent: never.
   */
  webrtc?(accountId: number, ext: string): boolean;
  /** The SIP domain of an account (its domain): phones register as `ext@domain`. */
  domainOf(accountId: number): string | undefined;
  /**
   * Where the calls of its phones are recorded: the phone's RTP and what was sent to it are fed
   * there. Absent: the driver supplies no audio, and the recorder synthesizes it.
   */
  recorder?: Pick<Recorder, 'feed'>;
  /** The recorder's clock (places the fed audio). Default: the system clock. */
  clock?: Clock;
  onError?: (err: unknown) => void;
  /** Something an operator should see that is no bug: INVITEs refused for overload (phone-originated.ts). */
  onWarning?: (message: string) => void;
  /** Called when the driver learns something a test or an operator wants to see. */
  onTrace?: (what: string, detail?: unknown) => void;
  /**
   * A talking phone whose RTP stops for this long has vanished (no BYE will come): its part of the
   * call is hung up (BYE) and the call ends as if it had hung up. Default 30 s.
   */
  mediaTimeoutMs?: number;
  /** A new INVITE that waited this long in our socket is refused 503 (phone-originated.ts MAX_QUEUE_MS). */
  maxQueueMs?: number;
  /**
   * The directory, for calls placed from phones and carriers' calls to trunks
   * (phone-originated.ts); without it such INVITEs get 501.
   */
  directory?: Pick<PhoneOriginatedDeps, 'accountByDomain' | 'employeeByExt' | 'trunks' | 'greeting'>;
  /**
   * A trunk's carrier password (its digest challenge is answered with it): with it, the driver
   * dials out on trunks that have a SIP carrier (carrier-calls.ts); without, it serves no
   * external numbers.
   */
  carrierSecret?: (accountId: number, trunkId: number) => Promise<string | null>;
  /** The media worker to use; absent: the driver starts its own and stops it at `close`. */
  media?: MediaHost;
}

type LegState = 'inviting' | 'cancelling' | 'up' | 'ending' | 'ended';

interface PhoneLeg {
  ref: LegRef;
  state: LegState;
  callId: string;
  fromTag: string;
  toTag: string | null;
  from: string;
  to: string;
  invite: SipRequest;
  tx: ClientTransaction | null;
  cseq: number;
  remoteTarget: string | null;
  routeSet: string[];
  /** The call's other side as rtpengine sees it: our RTP socket (in the media worker). */
  rtp: RtpPort | null;
  rtpTo: Remote | null;
  codec: G711Codec;
  /** The simulated party's voice plays to the phone (one stream whoever speaks: rtp-stream.ts). */
  speaking: boolean;
  /** The recording (its call's uuid) the leg is part of, from the answer on (null: not recorded). */
  audio: string | null;
  /** What the media worker was last told of the leg's recording (`tap`). */
  tapped: string;
  /** The phone put the call on hold (its last re-INVITE offered sendonly/inactive). */
  held: boolean;
  /** This leg's tap is the call's recording now (one phone of a call at a time; see `arrange`). */
  taping: boolean;
  /** The phone is a browser: rtpengine bridges its WebRTC media (uac-dialog.ts webrtcOffer). */
  webrtc: boolean;
  /** The SDP the phone has from us since a renegotiation (a browser's re-INVITE); else the INVITE's. */
  ours?: string;
}

/**
 * Which disposition a phone's final refusal means for the core (protocol's DISPOSITION): 486/600
 * busy (4), 408/480 no answer (1), 502/503/504 congestion (2), any other 4xx–6xx failure (3) —
 * a 603 Decline included: the document has no "rejected", and busy would tell a CRM to call back.
 */
export function refusalDisposition(status: number): Disposition {
  if (status === 486 || status === 600) return 4;
  if (status === 480 || status === 408) return 1;
  if (status === 502 || status === 503 || status === 504) return 2;
  return 3;
}

export function createSipDriver(deps: SipDriverDeps) {
  const { layer, transport, ng } = deps;
  const onError = deps.onError ?? (() => {});
  const trace = deps.onTrace ?? (() => {});
  const clock = deps.clock ?? systemClock;
  let events: PhoneEvents | null = null;
  const media = deps.media ?? startMediaHost({ recorder: deps.recorder, clock, onError });
  const received = (leg: PhoneLeg) => leg.rtp?.received ?? 0;
  const byLeg = new Map<string, PhoneLeg>();
  const byCallId = new Map<string, PhoneLeg>();
  /** Talking phones whose RTP stopped: vanished (leg:<legUuid>, or a phone's own call: call:<callId>). */
  const mediaWatch = createMediaWatch({
    timeoutMs: deps.mediaTimeoutMs ?? 30_000,
    onSilent: (key) => {
      const [kind, id] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
      if (kind === 'call') return originated?.silent(id);
      if (kind === 'carrier') return carriers?.silent(id);
      const leg = byLeg.get(id);
      if (leg?.state !== 'up') return;
      trace('media.timeout', { legUuid: id, received: received(leg) });
      bye(leg);
      events?.remoteHangup(leg.ref.uuid).catch(onError);
    },
  });
  /** The phones' re-INVITEs (hold, resume, session refresh) of calls up. */
  const reinvites = createReinviteAnswerer({ onTrace: trace, onError });
  /** Calls whose two real phones hear each other (by call uuid), the legs each joint spans, and which ends (`arrange`). */
  const joints = new Map<string, { joint: MediaRelay; legs: Set<string>; key: string }>();
  /** Calls the core has connected (their parties talk): a phone answering later (a transfer) is joined at once. */
  const connectedCalls = new Set<string>();
  const contact = `<sip:dzvin@${transport.sentBy}${transport.uriParams}>`;

  /** The first hop of an in-dialog request: the first route (loose routing), else the target. */
  function nextHop(leg: PhoneLeg): Remote {
    const first = leg.routeSet[0];
    const uri = first ? parseNameAddr(first) : null;
    const parsed = uri?.ok ? { ok: true as const, uri: uri.value.uri } : parseUri(leg.remoteTarget ?? '');
    const target = parsed.ok ? parsed.uri : null;
    if (target && isSipUri(target))
      return { address: target.host.replace(/^\[|\]$/g, ''), port: target.port ?? 5060 };
    return deps.edge;
  }

  const inDialog = inDialogRequest;

  function ack(leg: PhoneLeg) {
    layer.sendStateless(inDialog(leg, 'ACK', 1), nextHop(leg)).catch(onError);
  }

  function bye(leg: PhoneLeg) {
    leg.state = 'ending';
    stopSending(leg);
    retap(leg);
    unjoinLeg(leg);
    leg.cseq += 1;
    layer.request(inDialog(leg, 'BYE', leg.cseq), nextHop(leg), {
      onResponse: (r) => {
        if (r.status >= 200) finish(leg);
      },
      onEnd: (reason) => {
        if (reason !== 'normal') finish(leg);
      },
    });
  }

  /** Everything of a leg stops: RTP, rtpengine's call, the indices. */
  function finish(leg: PhoneLeg) {
    if (leg.state === 'ended') return;
    leg.state = 'ended';
    leg.speaking = false;
    leg.audio = null;
    const stats = { received: received(leg), sent: leg.rtp?.sent ?? 0 };
    if (leg.rtp) media.close(leg.rtp);
    leg.rtp = null;
    byLeg.delete(leg.ref.legUuid);
    byCallId.delete(leg.callId);
    mediaWatch.unwatch(`leg:${leg.ref.legUuid}`);
    unjoinLeg(leg);
    trace('leg.ended', { legUuid: leg.ref.legUuid, ...stats });
    ng.delete({ 'call-id': leg.callId, 'from-tag': leg.fromTag, flags: [] }).catch(onError);
  }

  /**
   * The simulated party's voice to the phone: a 400 Hz tone (media/rtp-sender.ts paces it by
   * elapsed time); what was sent is also the recording's rx, placed by the time each frame
   * stands for (while the leg is taping).
   */
  function startSending(leg: PhoneLeg) {
    if (!leg.rtp || !leg.rtpTo || leg.speaking) return;
    leg.speaking = true;
    media.speak(leg.rtp, SIMULATED_VOICE);
  }

  function stopSending(leg: PhoneLeg) {
    if (!leg.speaking) return;
    leg.speaking = false;
    if (leg.rtp) media.speak(leg.rtp, null);
  }

  /**
   * Tells the media worker the leg's part in its recording: the recording it belongs to, and
   * whether it is the one taping now (a leg that is not up never is).
   */
  function retap(leg: PhoneLeg) {
    if (!leg.rtp) return;
    const taping = leg.state === 'up' && leg.taping && leg.audio !== null;
    const state = `${leg.audio}:${taping}`;
    if (state === leg.tapped) return;
    leg.tapped = state;
    media.tap(leg.rtp, leg.audio, taping);
  }

  function unjoin(uuid: string) {
    const j = joints.get(uuid);
    if (!j) return;
    joints.delete(uuid);
    j.joint.stop();
    trace('media.unjoined', { uuid, ...j.joint.stats() });
  }

  /**
   * A leg leaving its call (hung up, transferred away) ends the relay it is part of; the phones
   * still talking in a connected call get their media again (`arrange`).
   */
  function unjoinLeg(leg: PhoneLeg) {
    if (joints.get(leg.ref.uuid)?.legs.has(leg.ref.legUuid)) unjoin(leg.ref.uuid);
    if (connectedCalls.has(leg.ref.uuid)) arrange({ uuid: leg.ref.uuid, accountId: leg.ref.accountId });
  }

  /**
   * Who hears whom in a connected call, from who is in it now. Its ends are the phone of the call's
   * other side when that is real (`originated`: the phone that placed the call, or a trunk's caller)
   * and the talking legs this driver rang (oldest first):
   *
   * - two ends hear each other through the media joint (two phones in a call, or the employee and
   *   the employee they consult in an attended transfer while the caller is simulated);
   * - three ends (the caller's real phone, the employee talking to it and the one they consult): the
   *   two employees hear each other and the caller waits, hearing nothing (Dzvin sends it nothing);
   * - one end hears the simulated party's voice (a tone) — the caller once a consultation ends or the
   *   rung phone with a simulated caller.
   *
   * Called whenever that changes (the call connects, a phone answers into it, a leg leaves): a
   * pairing that stays is left alone (one continuous stream), one that changes is rebuilt. The
   * oldest talking leg's tap records (its RTP as tx, what it hears as rx): the employee on the call,
   * during a consultation the transferring one.
   */
  function arrange(call: CallRef) {
    const legs = [...byLeg.values()].filter(
      (l) => l.ref.uuid === call.uuid && l.state === 'up' && l.rtp && l.rtpTo,
    );
    const caller = originated?.mediaEnd(call.uuid) ?? carriers?.mediaEnd(call.uuid) ?? null;
    type End = { end: MediaEnd; leg?: PhoneLeg; id: string };
    const ends: End[] = [
      ...(caller ? [{ end: caller, id: 'caller' }] : []),
      ...legs.map((leg) => ({ end: { port: leg.rtp!, codec: leg.codec }, leg, id: leg.ref.legUuid })),
    ];
    const pair = ends.length >= 3 ? ends.filter((e) => e.leg).slice(0, 2) : ends.length === 2 ? ends : [];
    const key = pair.map((e) => e.id).join('+');
    const taping = legs[0];
    for (const l of legs) {
      l.taping = l === taping;
      retap(l);
    }
    const current = joints.get(call.uuid);
    if (current && current.key !== key) unjoin(call.uuid);
    if (!pair.length) {
      // One end: the simulated party's voice (a tone), whichever phone it is.
      for (const l of legs) startSending(l);
      if (!legs.length) speakFar(call.uuid, SIMULATED_VOICE);
      return;
    }
    // Two phones hear each other: no tone to either; a real caller left out waits in silence.
    for (const l of legs) stopSending(l);
    if (caller) speakFar(call.uuid, null);
    if (joints.has(call.uuid)) return;
    const [a, b] = pair;
    // The taping leg's recording hears the other phone as rx: the worker feeds what it relays to a taping end.
    const joint = media.join(a.end.port, b.end.port);
    joints.set(call.uuid, {
      joint,
      key,
      legs: new Set(pair.flatMap((e) => (e.leg ? [e.leg.ref.legUuid] : []))),
    });
    trace('media.joined', { uuid: call.uuid, ends: key, codecs: [a.end.codec, b.end.codec] });
  }

  async function answered(leg: PhoneLeg, ok: SipResponse) {
    establish(leg, ok);
    ack(leg);
    if (leg.state !== 'inviting') {
      // Cancelled (the core stopped this phone ringing) but it answered first: hang it up.
      bye(leg);
      return;
    }
    leg.state = 'up';
    mediaWatch.watch(`leg:${leg.ref.legUuid}`, () => received(leg));
    const answer = await answerMedia(ng, leg, ok, onError, leg.webrtc);
    if (!answer.codec) {
      trace('no-g711', { legUuid: leg.ref.legUuid });
      bye(leg);
      await events?.refused(leg.ref.legUuid, 3);
      return;
    }
    leg.codec = answer.codec;
    leg.rtpTo = answer.rtpTo;
    if (leg.rtp && leg.rtpTo) media.peer(leg.rtp, leg.rtpTo, leg.codec);
    trace('leg.answered', { legUuid: leg.ref.legUuid, codec: leg.codec, rtpTo: leg.rtpTo });
    if (deps.recorder) {
      leg.audio = leg.ref.uuid;
      retap(leg);
    }
    // The phone hears its other party once the core connects them (connected): a simulated one's
    // tone, or another phone's RTP — one stream from the start, never a tone then a new SSRC.
    await events?.answered(leg.ref.legUuid);
    // Answered into a call already talking (a transfer to this phone): its media starts now.
    if (leg.state === 'up' && connectedCalls.has(leg.ref.uuid))
      arrange({ uuid: leg.ref.uuid, accountId: leg.ref.accountId });
  }

  async function invite(ref: LegRef) {
    const domain = deps.domainOf(ref.accountId);
    if (!domain) throw new Error(`no SIP domain for account ${ref.accountId}`);
    const rtp = await media.open();
    const callId = newCallId('dzvin');
    const fromTag = newTag();
    const leg: PhoneLeg = {
      ref,
      state: 'inviting',
      callId,
      fromTag,
      toTag: null,
      from: `${callerIdentity(ref.caller, domain)};tag=${fromTag}`,
      to: `<sip:${ref.employee.ext}@${domain}>`,
      invite: null as unknown as SipRequest,
      tx: null,
      cseq: 1,
      remoteTarget: null,
      routeSet: [],
      rtp,
      rtpTo: null,
      codec: 'PCMA',
      speaking: false,
      audio: null,
      tapped: 'null:false',
      held: false,
      taping: false,
      webrtc: deps.webrtc?.(ref.accountId, ref.employee.ext) ?? false,
    };
    byLeg.set(ref.legUuid, leg);
    byCallId.set(callId, leg);
    const offered = await offerMedia(ng, callId, fromTag, rtp.port, leg.webrtc);
    if (leg.state !== 'inviting') return finish(leg);
    leg.invite = {
      type: 'request',
      method: 'INVITE',
      uri: `sip:${ref.employee.ext}@${domain}`,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: leg.from },
        { name: 'To', value: leg.to },
        { name: 'Call-ID', value: callId },
        { name: 'CSeq', value: '1 INVITE' },
        { name: 'Contact', value: contact },
        { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, REFER' },
        { name: 'Content-Type', value: 'application/sdp' },
      ],
      body: Buffer.from(offered, 'utf8'),
    };
    trace('leg.invite', { legUuid: ref.legUuid, callId });
    leg.tx = layer.request(leg.invite, deps.edge, {
      onResponse: (r) => {
        if (r.status < 200) return;
        if (r.status < 300) {
          answered(leg, r).catch(onError);
          return;
        }
        const wasInviting = leg.state === 'inviting';
        finish(leg);
        // 487 answers our own CANCEL: the core already knows.
        if (wasInviting && r.status !== 487) {
          trace('leg.refused', { legUuid: ref.legUuid, status: r.status });
          events?.refused(ref.legUuid, refusalDisposition(r.status)).catch(onError);
        }
      },
      onEnd: (reason) => {
        if (reason === 'normal') return;
        // Cancelled, and no final response ever came (timer C, §9.1): the leg is over all the same.
        if (leg.state === 'cancelling') return finish(leg);
        if (leg.state !== 'inviting') return;
        finish(leg);
        events?.refused(ref.legUuid, 3).catch(onError);
      },
    });
  }

  function onRequest(r: NewRequest) {
    if (refuseExtensions(r)) return;
    if (carriers?.onRequest(r)) return;
    if (originated?.onRequest(r)) return;
    const { tx } = r;
    const req = tx.request;
    const leg = byCallId.get(getCallId(req) ?? '');
    switch (req.method) {
      case 'BYE': {
        if (!leg) return void tx.reply(481, 'Call/Transaction Does Not Exist');
        tx.reply(200, 'OK');
        const wasUp = leg.state === 'up';
        finish(leg);
        // The employee hung up: the conversation is over.
        if (wasUp) events?.remoteHangup(leg.ref.uuid).catch(onError);
        return;
      }
      case 'REFER': {
        const dialog = leg ? legDialog(leg) : originated?.referDialog(getCallId(req) ?? '');
        if (!dialog) return void tx.reply(481, 'Call/Transaction Does Not Exist');
        referred(dialog, tx).catch((err) => {
          onError(err);
          tx.reply(500, 'Server Internal Error');
        });
        return;
      }
      case 'OPTIONS':
        // In a dialog we do not have (Kamailio's keep-alive after this process restarted, or
        // another's dialog): 481, so the edge ends it at the phone and the carrier (RFC 3261
        // §12.2.2). Out of a dialog, or in one of ours: 200.
        if (!leg && getHeader(req, 'To')?.includes('tag=') && !originated?.knows(getCallId(req) ?? ''))
          return void tx.reply(481, 'Call/Transaction Does Not Exist');
        return void tx.reply(200, 'OK', {
          headers: [{ name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, REFER' }],
        });
      case 'INVITE':
        if (leg && getHeader(req, 'To')?.includes('tag=')) {
          // Hold, resume or a refresh from the phone of one of our calls: the call goes on.
          if (leg.state !== 'up') return void tx.reply(491, 'Request Pending');
          if (leg.webrtc && leg.rtp && req.body.length) {
            // A browser's offer (hold, resume, an ICE restart) goes through rtpengine with the
            // WebRTC flags: an ICE restart needs rtpengine's new credentials in the answer (RFC
            // 8839 §4.4.1.1.1), not the old SDP. rtpengine stays the passive DTLS end, as offered.
            const rtp = leg.rtp;
            const d = {
              ng,
              callId: leg.callId,
              ourTag: leg.fromTag,
              theirTag: leg.toTag ?? '',
              port: rtp.port,
              contact,
              webrtc: { dtls: 'passive' as const },
            };
            reinvites
              .renegotiate(tx, d, (m) => {
                if (leg.state !== 'up' || leg.rtp !== rtp) return;
                leg.ours = m.sdp;
                const rtpTo = m.rtpTo ?? leg.rtpTo;
                const codec = m.codec ?? leg.codec;
                if (
                  rtpTo &&
                  (rtpTo.address !== leg.rtpTo?.address ||
                    rtpTo.port !== leg.rtpTo?.port ||
                    codec !== leg.codec)
                ) {
                  leg.rtpTo = rtpTo;
                  leg.codec = codec;
                  media.peer(rtp, rtpTo, codec);
                }
                leg.held = m.held;
                if (m.held) mediaWatch.unwatch(`leg:${leg.ref.legUuid}`);
                else mediaWatch.watch(`leg:${leg.ref.legUuid}`, () => received(leg));
                trace('leg.reinvite', { legUuid: leg.ref.legUuid, held: m.held, webrtc: true });
              })
              .catch(onError);
            return;
          }
          const held = reinvites.answer(
            tx,
            leg.ours ?? leg.invite.body.toString('utf8'),
            leg.fromTag,
            contact,
          );
          if (held !== null) leg.held = held;
          if (held === true) mediaWatch.unwatch(`leg:${leg.ref.legUuid}`);
          if (held === false) mediaWatch.watch(`leg:${leg.ref.legUuid}`, () => received(leg));
          trace('leg.reinvite', { legUuid: leg.ref.legUuid, held });
          return;
        }
        if (getHeader(req, 'To')?.includes('tag='))
          return void tx.reply(481, 'Call/Transaction Does Not Exist');
        // A call placed from a phone, with no directory to place it in.
        return void tx.reply(501, 'Calls from phones are not routed yet', { toTag: newTag() });
      default:
        return void tx.reply(leg ? 501 : 481, leg ? 'Not Implemented' : 'Call/Transaction Does Not Exist');
    }
  }

  /**
   * RFC 3261 §8.2.2.3: a request that requires an extension we do not support (`100rel`, `timer`,
   * anything) is answered 420 listing them in `Unsupported`; ACK and CANCEL never are.
   */
  function refuseExtensions({ tx }: NewRequest): boolean {
    const req = tx.request;
    if (req.method === 'ACK' || req.method === 'CANCEL') return false;
    const required = getHeaders(req, 'Require')
      .flatMap((v) => v.split(','))
      .map((t) => t.trim())
      .filter(Boolean);
    if (!required.length) return false;
    trace('extension.unsupported', { method: req.method, required });
    tx.reply(420, 'Bad Extension', {
      toTag: getHeader(req, 'To')?.includes('tag=') ? undefined : newTag(),
      headers: [{ name: 'Unsupported', value: required.join(', ') }],
    });
    return true;
  }

  /** The dialog of a leg this driver rang, as a REFER on it sees it. */
  function legDialog(leg: PhoneLeg): ReferDialog {
    return {
      accountId: leg.ref.accountId,
      uuid: leg.ref.uuid,
      ext: leg.ref.employee.ext,
      up: leg.state === 'up',
      notify(fragment) {
        if (leg.state === 'ended') return;
        leg.cseq += 1;
        const notify = inDialog(leg, 'NOTIFY', leg.cseq);
        notify.headers.push({ name: 'Contact', value: contact }, ...referNotifyHeaders);
        notify.body = Buffer.from(`${fragment}\r\n`, 'utf8');
        layer.request(notify, nextHop(leg), { onResponse: () => {} });
      },
    };
  }

  /**
   * A transfer from the phone (RFC 3515 REFER), on a call it was rung for or one it placed:
   *
   * - blind, `Refer-To: <sip:<ext>@<domain>>`: the core rings that employee and the call moves
   *   when they answer (this phone then gets a BYE), as the API's transfer does. 202, with one
   *   NOTIFY (`100 Trying`, the subscription terminated: the phone learns the outcome from the
   *   BYE, or from the call staying). An ext that is nobody's 404, a call that cannot be
   *   transferred (or a phone on it that is not the employee talking) 403.
   * - attended, `Refer-To: <sip:<ext>@<domain>?Replaces=<call-id>%3Bto-tag%3D…%3Bfrom-tag%3D…>`
   *   naming the phone's other dialog — a call it placed to another employee, who answered (its
   *   consultation): that employee takes this call over (`replaceTransfer`), the consultation
   *   ends answered, the phone gets a BYE on both. 202 + NOTIFY `200 OK`; the core refusing 403.
   *   A Replaces that names no dialog of this phone is what RFC 3891 §3 answers 481 to; the REFER
   *   itself is valid, so (RFC 3515 §2.4.4, the outcome of the referenced request is reported in
   *   a NOTIFY) it gets 202 and a NOTIFY `481 Call/Transaction Does Not Exist`, and the call stays.
   *   A Replaces naming a call the phone was rung for (its caller would have to move) 501.
   */
  async function referred(d: ReferDialog, tx: NewRequest['tx']) {
    const req = tx.request;
    if (!d.up) return void tx.reply(403, 'Only A Call Being Talked On Can Be Transferred');
    const raw = getHeader(req, 'Refer-To') ?? getHeader(req, 'r') ?? '';
    const referTo = parseNameAddr(raw);
    const uri = referTo.ok ? referTo.value.uri : null;
    if (!uri || !isSipUri(uri) || !uri.user) return void tx.reply(400, 'Bad Refer-To');
    const replacesKey = Object.keys(uri.headers).find((k) => k.toLowerCase() === 'replaces');
    if (replacesKey !== undefined) return replaced(d, tx, uri.headers[replacesKey]);
    if (/replaces(=|%3d)/i.test(raw)) return void tx.reply(400, 'Bad Refer-To');
    const toExt = uri.user;
    const refused = await coreRefusal(d, () => events?.transfer(d.accountId, d.uuid, toExt, d.ext));
    if (refused) return void tx.reply(...refused);
    tx.reply(202, 'Accepted');
    trace('leg.referred', { uuid: d.uuid, by: d.ext, to: toExt });
    d.notify('SIP/2.0 100 Trying');
  }

  /** The core's answer to a transfer, as the REFER's response when it refuses. */
  async function coreRefusal(
    d: ReferDialog,
    work: () => Promise<void> | undefined,
  ): Promise<[number, string] | null> {
    try {
      await work();
      return null;
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      trace('leg.refer-refused', { uuid: d.uuid, by: d.ext, code: err.code });
      if (err.code === 'EMPLOYEE_NOT_FOUND') return [404, 'Not Found'];
      return [403, err.message.replace(/[\r\n]+/g, ' ').slice(0, 100) || 'Forbidden'];
    }
  }

  /** An attended transfer from the phone: REFER with Replaces (see `referred`). */
  async function replaced(d: ReferDialog, tx: NewRequest['tx'], value: string) {
    const target = parseReplaces(value);
    if (!target) return void tx.reply(400, 'Bad Replaces');
    const consult = originated?.dialogOf(target.callId, target.fromTag, target.toTag);
    if (!consult || consult.accountId !== d.accountId || consult.ext !== d.ext) {
      const rung = byCallId.get(target.callId);
      const tags = [rung?.fromTag, rung?.toTag];
      if (
        rung &&
        rung.ref.employee.ext === d.ext &&
        tags.includes(target.fromTag) &&
        tags.includes(target.toTag)
      )
        return void tx.reply(501, 'Replacing A Call This Phone Was Rung For Is Not Supported');
      trace('leg.replaces-unknown', { uuid: d.uuid, callId: target.callId });
      tx.reply(202, 'Accepted');
      d.notify('SIP/2.0 481 Call/Transaction Does Not Exist');
      return;
    }
    const refused = await coreRefusal(d, () =>
      events?.replaceTransfer(d.accountId, d.uuid, consult.uuid, d.ext),
    );
    if (refused) return void tx.reply(...refused);
    tx.reply(202, 'Accepted');
    trace('leg.replaced', { uuid: d.uuid, by: d.ext, consultation: consult.uuid });
    d.notify('SIP/2.0 200 OK');
    arrange({ uuid: d.uuid, accountId: d.accountId });
  }

  /** A 2xx the INVITE transaction no longer holds (a retransmission): ACK it again. */
  function onStrayResponse(r: SipResponse) {
    const leg = byCallId.get(getCallId(r) ?? '');
    if (leg && r.status >= 200 && r.status < 300 && leg.toTag) ack(leg);
  }

  function release(ref: LegRef) {
    const leg = byLeg.get(ref.legUuid);
    if (!leg) {
      // The phone that placed the call, when it leaves a call that goes on (transferred away).
      if (originated?.release(ref) && connectedCalls.has(ref.uuid)) arrange(ref);
      return;
    }
    if (leg.state === 'inviting') {
      leg.state = 'cancelling';
      if (leg.tx) leg.tx.cancel();
      else finish(leg);
      return;
    }
    if (leg.state === 'up') bye(leg);
  }

  const driver: PhoneDriver = {
    serves(endpoint: Endpoint) {
      if (endpoint.kind === 'external') return carriers !== null && endpoint.trunk?.sipCarrier != null;
      return deps.registered(endpoint.accountId, endpoint.employee.ext);
    },
    ring(leg, _timeoutMs) {
      invite(leg).catch((err) => {
        onError(err);
        const l = byLeg.get(leg.legUuid);
        if (l) finish(l);
        // rtpengine silent or out of ports is congestion (2), as a phone's 503 is; anything else a failure.
        const congested = err instanceof NgError && err.code !== 'PROTOCOL';
        events?.refused(leg.legUuid, congested ? 2 : 3).catch(onError);
      });
    },
    dial(call, number, trunk) {
      // Only asked for a trunk with a carrier (`serves`).
      if (!carriers || !trunk?.sipCarrier)
        throw new Error('the SIP driver dials out only on a trunk with a SIP carrier');
      carriers.dial(call, number, trunk);
    },
    suppliesAudio(call: CallRef) {
      // A phone of the call is talking: its RTP and what it is sent are the recording.
      for (const leg of byLeg.values()) if (leg.ref.uuid === call.uuid && leg.audio) return true;
      return false;
    },
    connected(call) {
      connectedCalls.add(call.uuid);
      originated?.connected(call);
      // The talking phones get their media: each other, or a simulated party's tone.
      arrange(call);
    },
    playIvr(call, ivr) {
      originated?.playIvr(call, ivr);
    },
    release,
    moveLeg(from: LegRef, to: LegRef) {
      const leg = byLeg.get(from.legUuid);
      if (leg?.state !== 'up' || leg.ref.uuid !== from.uuid) return false;
      // Out of the consultation's relay (not re-arranged: the consultation ends next).
      if (joints.get(from.uuid)?.legs.has(from.legUuid)) unjoin(from.uuid);
      stopSending(leg);
      byLeg.delete(from.legUuid);
      mediaWatch.unwatch(`leg:${from.legUuid}`);
      leg.ref = to;
      byLeg.set(to.legUuid, leg);
      if (!leg.held) mediaWatch.watch(`leg:${to.legUuid}`, () => received(leg));
      leg.taping = false;
      // A new recording (the call it joins): the worker starts a new tap (its own timelines).
      if (deps.recorder) leg.audio = to.uuid;
      retap(leg);
      trace('leg.moved', { from: from.uuid, to: to.uuid, legUuid: to.legUuid });
      return true;
    },
    ended(call: CallRef, disposition?: Disposition) {
      connectedCalls.delete(call.uuid);
      unjoin(call.uuid);
      for (const leg of [...byLeg.values()]) if (leg.ref.uuid === call.uuid) release(leg.ref);
      originated?.ended(call, disposition);
      carriers?.ended(call);
    },
  };
  /** The far end of a call that is not a phone we rang: a phone that placed it, or a carrier. */
  function speakFar(uuid: string, voice: Voice | null) {
    originated?.speak(uuid, voice);
    carriers?.speak(uuid, voice);
  }
  // Calls out on trunks with a SIP carrier (the UAC side towards carriers).
  const carriers = deps.carrierSecret
    ? createCarrierCalls({
        layer,
        ng,
        edge: deps.edge,
        contact,
        secret: deps.carrierSecret,
        events: () => events,
        media,
        mediaWatch,
        reinvites,
        disposition: refusalDisposition,
        onError,
        onTrace: trace,
      })
    : null;
  // Calls placed from phones (the UAS side): their phone is a party this driver serves.
  const originated = deps.directory
    ? createPhoneOriginated({
        layer,
        transport,
        ng,
        ...deps.directory,
        events: () => events,
        driver,
        edge: deps.edge,
        media,
        mediaWatch,
        reinvites,
        maxQueueMs: deps.maxQueueMs,
        onError,
        onWarning: deps.onWarning,
        onTrace: trace,
      })
    : null;

  return {
    driver,
    attach(e: PhoneEvents) {
      events = e;
    },
    onRequest,
    onStrayResponse,
    /** The ACK to a 2xx we sent (a call placed from a phone). */
    onAck(ack: SipRequest) {
      if (!reinvites.onAck(ack)) originated?.onAck(ack);
    },
    originated: () => originated?.calls() ?? [],
    /** New INVITEs refused 503 for overload since start (phone-originated.ts): tests, metrics. */
    overloadRefusals: () => originated?.overloadRefusals() ?? 0,
    /** What each live leg sent and received (tests, metrics). */
    /** The media relayed between the two phones of each call that has two (tests, metrics). */
    joints: () => [...joints.entries()].map(([uuid, j]) => ({ uuid, ...j.joint.stats() })),
    legs: () =>
      [...byLeg.values()].map((l) => ({
        legUuid: l.ref.legUuid,
        callId: l.callId,
        state: l.state,
        received: received(l),
        sent: l.rtp?.sent ?? 0,
        held: l.held,
      })),
    close() {
      mediaWatch.close();
      reinvites.close();
      originated?.close();
      for (const leg of [...byLeg.values()]) {
        release(leg.ref);
        finish(leg);
      }
      if (!deps.media) media.shutdown().catch(onError);
    },
  };
}
export type SipDriver = ReturnType<typeof createSipDriver>;

/**
 * The From of an INVITE to a phone: who is calling, as its screen shows it — the name (a CRM's or
 * the contacts book's, a colleague's) as display name, the number or ext as user — else
 * `"Dzvin" <sip:dzvin@domain>`. Names come from CRMs: control characters go, the length is
 * bounded, quotes are escaped; a number that is not a plain SIP user (digits, `+*#`) is not used.
 */
export function callerIdentity(caller: LegRef['caller'], domain: string): string {
  const number = caller?.number && /^\+?[0-9*#]{1,32}$/.test(caller.number) ? caller.number : null;
  const name = (caller?.name ?? '')
    .replace(/\p{Cc}+/gu, ' ')
    .trim()
    .slice(0, 64);
  const shown = name || number || 'Dzvin';
  return `${quote(shown)} <sip:${number ?? 'dzvin'}@${domain}>`;
}
