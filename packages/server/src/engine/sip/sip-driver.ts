import type dgram from 'node:dgram';
import type { Disposition } from '@dzvin/protocol';
import type { Recorder } from '../../domain/calls/call-model.ts';
import type { CallRef, Endpoint, LegRef, PhoneDriver, PhoneEvents } from '../../domain/calls/phone-driver.ts';
import { type Clock, systemClock } from '../../domain/clock.ts';
import { DomainError } from '../../domain/errors.ts';
import { newCallId, newTag } from './build.ts';
import { parseNameAddr, quote } from './header-values.ts';
import type { G711Codec } from './media/g711.ts';
import { g711Sdp, openRtpSocket } from './media/local-media.ts';
import { joinMedia, type MediaEnd, type MediaJoint } from './media/media-joint.ts';
import { createMediaWatch } from './media/media-watch.ts';
import type { NgClient } from './media/ng-client.ts';
import { type CallAudioTap, createCallAudioTap } from './media/rtp-recording.ts';
import { FRAME_MS, type RtpSender, startRtpSender, toneFrame } from './media/rtp-sender.ts';
import { firstAudioStream, g711Codecs } from './media/sdp-audio.ts';
import {
  getCallId,
  getHeader,
  getHeaders,
  type Header,
  type SipRequest,
  type SipResponse,
} from './message.ts';
import { createPhoneOriginated, type PhoneOriginatedDeps } from './phone-originated.ts';
import { createReinviteAnswerer } from './reinvite.ts';
import type { ClientTransaction, NewRequest, TransactionLayer } from './transaction.ts';
import type { Remote, SipTransport } from './transport.ts';
import { isSipUri, parseUri } from './uri.ts';

/**
 * The SIP phone driver (issue 15): the call core's PhoneDriver for employees whose softphone or
 * desk phone is registered through Kamailio. To ring one it sends an INVITE through Kamailio
 * (which finds the phone in its location table), with media anchored by rtpengine; the other
 * party of the call is whatever the core connected — a simulated caller, whose voice this driver
 * sends as RTP (a tone) and whose ear receives the phone's RTP, or another phone. Such a call's recording
 * is the real audio (`suppliesAudio`): the phone's RTP decoded as tx, the tone sent as rx
 * (media/rtp-recording.ts). The core decides
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
  /** Called when the driver learns something a test or an operator wants to see. */
  onTrace?: (what: string, detail?: unknown) => void;
  /**
   * A talking phone whose RTP stops for this long has vanished (no BYE will come): its part of the
   * call is hung up (BYE) and the call ends as if it had hung up. Default 30 s.
   */
  mediaTimeoutMs?: number;
  /**
   * The directory, for calls placed from phones and carriers' calls to trunks
   * (phone-originated.ts); without it such INVITEs get 501.
   */
  directory?: Pick<PhoneOriginatedDeps, 'accountByDomain' | 'employeeByExt' | 'trunks' | 'greeting'>;
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
  /** The call's other side as rtpengine sees it: our RTP socket. */
  rtp: dgram.Socket | null;
  rtpTo: Remote | null;
  codec: G711Codec;
  sender: RtpSender | null;
  /** The leg's part in the call's recording, from the answer on (null: not recorded). */
  audio: CallAudioTap | null;
  received: number;
  sent: number;
  /** The phone put the call on hold (its last re-INVITE offered sendonly/inactive). */
  held: boolean;
}

/** The simulated party's voice, as a phone hears it. */
export const SIMULATED_VOICE = toneFrame(400);

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
  const byLeg = new Map<string, PhoneLeg>();
  const byCallId = new Map<string, PhoneLeg>();
  /** Talking phones whose RTP stopped: vanished (leg:<legUuid>, or a phone's own call: call:<callId>). */
  const mediaWatch = createMediaWatch({
    timeoutMs: deps.mediaTimeoutMs ?? 30_000,
    onSilent: (key) => {
      const [kind, id] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
      if (kind === 'call') return originated?.silent(id);
      const leg = byLeg.get(id);
      if (leg?.state !== 'up') return;
      trace('media.timeout', { legUuid: id, received: leg.received });
      bye(leg);
      events?.remoteHangup(leg.ref.uuid).catch(onError);
    },
  });
  /** The phones' re-INVITEs (hold, resume, session refresh) of calls up. */
  const reinvites = createReinviteAnswerer({ onTrace: trace });
  /** Calls whose two real phones hear each other (by call uuid), and the legs each joint spans. */
  const joints = new Map<string, { joint: MediaJoint; legs: Set<string> }>();
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

  function inDialog(leg: PhoneLeg, method: string, seq: number): SipRequest {
    const headers: Header[] = [
      { name: 'Max-Forwards', value: '70' },
      ...leg.routeSet.map((value) => ({ name: 'Route', value })),
      { name: 'From', value: leg.from },
      { name: 'To', value: `${leg.to};tag=${leg.toTag}` },
      { name: 'Call-ID', value: leg.callId },
      { name: 'CSeq', value: `${seq} ${method}` },
    ];
    return {
      type: 'request',
      method,
      uri: leg.remoteTarget ?? leg.invite.uri,
      headers,
      body: Buffer.alloc(0),
    };
  }

  function ack(leg: PhoneLeg) {
    layer.sendStateless(inDialog(leg, 'ACK', 1), nextHop(leg)).catch(onError);
  }

  function bye(leg: PhoneLeg) {
    leg.state = 'ending';
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
    leg.sender?.stop();
    leg.audio = null;
    leg.rtp?.close();
    leg.rtp = null;
    byLeg.delete(leg.ref.legUuid);
    byCallId.delete(leg.callId);
    mediaWatch.unwatch(`leg:${leg.ref.legUuid}`);
    unjoinLeg(leg);
    trace('leg.ended', { legUuid: leg.ref.legUuid, received: leg.received, sent: leg.sent });
    ng.delete({ 'call-id': leg.callId, 'from-tag': leg.fromTag, flags: [] }).catch(onError);
  }

  /**
   * The simulated party's voice to the phone: a 400 Hz tone (media/rtp-sender.ts paces it by
   * elapsed time); what was sent is also the recording's rx, placed by the time each frame
   * stands for.
   */
  function startSending(leg: PhoneLeg) {
    if (!leg.rtp || !leg.rtpTo || leg.sender || joints.has(leg.ref.uuid)) return;
    const recordedAt = clock.now();
    leg.sender = startRtpSender({
      socket: leg.rtp,
      to: leg.rtpTo,
      codec: leg.codec,
      frame: SIMULATED_VOICE,
      said: (samples, k) => {
        leg.sent++;
        leg.audio?.said(samples, recordedAt + k * FRAME_MS);
      },
    });
  }

  function unjoin(uuid: string) {
    const j = joints.get(uuid);
    if (!j) return;
    joints.delete(uuid);
    j.joint.stop();
    trace('media.unjoined', { uuid, ...j.joint.stats() });
  }

  /** A leg leaving its call (hung up, transferred away) ends the relay it is part of. */
  function unjoinLeg(leg: PhoneLeg) {
    if (joints.get(leg.ref.uuid)?.legs.has(leg.ref.legUuid)) unjoin(leg.ref.uuid);
  }

  /** The talking phones of a connected call get their media: each other, or a simulated party's tone. */
  function media(call: CallRef) {
    joinPhones(call);
    if (joints.has(call.uuid)) return;
    for (const leg of byLeg.values()) if (leg.ref.uuid === call.uuid && leg.state === 'up') startSending(leg);
    // A caller on a real phone or trunk talking to a simulated party hears its voice.
    originated?.speak(call.uuid, SIMULATED_VOICE);
  }

  /**
   * When the core connects a call with two real phones in it (a phone's call to another phone, or
   * two legs rung over SIP), they hear each other: the media joint relays between their ends, the
   * tone to the rung phone stops, and one phone's tap records both (its own RTP as tx, the other
   * phone's as rx) — the rung employee's, as for a simulated caller.
   */
  function joinPhones(call: CallRef) {
    if (joints.has(call.uuid)) return;
    const ends: { end: MediaEnd; leg?: PhoneLeg }[] = [];
    const caller = originated?.mediaEnd(call.uuid);
    if (caller) ends.push({ end: caller });
    for (const leg of byLeg.values())
      if (leg.ref.uuid === call.uuid && leg.state === 'up' && leg.rtp && leg.rtpTo)
        ends.push({ end: { socket: leg.rtp, to: leg.rtpTo, codec: leg.codec }, leg });
    if (ends.length < 2) return;
    const [a, b] = ends;
    // A tone already sent (a phone joined later, e.g. after a transfer) stops.
    for (const e of ends) {
      e.leg?.sender?.stop();
      if (e.leg) e.leg.sender = null;
    }
    // The caller's end hears the other phone now, not Dzvin.
    if (caller) originated?.speak(call.uuid, null);
    const recording = [a, b].find((e) => e.leg?.audio);
    for (const e of ends) if (e !== recording && e.leg) e.leg.audio = null;
    const tap = recording?.leg?.audio ?? null;
    const other = recording === a ? 'b' : 'a';
    const joint = joinMedia(a.end, b.end, {
      onRelay: (from, datagram) => {
        if (from === other) tap?.heardOther(datagram);
      },
    });
    joints.set(call.uuid, {
      joint,
      legs: new Set(ends.flatMap((e) => (e.leg ? [e.leg.ref.legUuid] : []))),
    });
    trace('media.joined', { uuid: call.uuid, codecs: [a.end.codec, b.end.codec] });
  }

  async function answered(leg: PhoneLeg, ok: SipResponse) {
    const to = parseNameAddr(getHeader(ok, 'To') ?? '');
    leg.toTag = to.ok ? (to.value.params.tag ?? null) : null;
    const target = parseNameAddr(getHeader(ok, 'Contact') ?? '');
    leg.remoteTarget = target.ok
      ? getHeader(ok, 'Contact')!.replace(/^[^<]*<([^>]*)>.*$/, '$1')
      : leg.invite.uri;
    // A UAC's route set is the 2xx's Record-Route in reverse order (§12.1.2).
    leg.routeSet = getHeaders(ok, 'Record-Route').reverse();
    ack(leg);
    if (leg.state !== 'inviting') {
      // Cancelled (the core stopped this phone ringing) but it answered first: hang it up.
      bye(leg);
      return;
    }
    leg.state = 'up';
    mediaWatch.watch(`leg:${leg.ref.legUuid}`, () => leg.received);
    const sdp = ok.body.toString('utf8');
    const codecs = g711Codecs(sdp);
    if (!codecs.length) {
      trace('no-g711', { legUuid: leg.ref.legUuid });
      bye(leg);
      await events?.refused(leg.ref.legUuid, 3);
      return;
    }
    leg.codec = codecs[0];
    try {
      const forUs = await ng.answer({
        'call-id': leg.callId,
        'from-tag': leg.fromTag,
        'to-tag': leg.toTag ?? '',
        sdp,
        replace: ['origin', 'session-connection'],
        ICE: 'remove',
      });
      const media = firstAudioStream(forUs.sdp);
      if (media?.address) leg.rtpTo = { address: media.address, port: media.port };
    } catch (err) {
      onError(err);
    }
    trace('leg.answered', { legUuid: leg.ref.legUuid, codec: leg.codec, rtpTo: leg.rtpTo });
    if (deps.recorder)
      leg.audio = createCallAudioTap({ uuid: leg.ref.uuid, recorder: deps.recorder, now: () => clock.now() });
    // The phone hears its other party once the core connects them (connected): a simulated one's
    // tone, or another phone's RTP — one stream from the start, never a tone then a new SSRC.
    await events?.answered(leg.ref.legUuid);
    // Answered into a call already talking (a transfer to this phone): its media starts now.
    if (leg.state === 'up' && connectedCalls.has(leg.ref.uuid))
      media({ uuid: leg.ref.uuid, accountId: leg.ref.accountId });
  }

  async function invite(ref: LegRef) {
    const domain = deps.domainOf(ref.accountId);
    if (!domain) throw new Error(`no SIP domain for account ${ref.accountId}`);
    const rtp = await openRtpSocket();
    const callId = newCallId('dzvin');
    const fromTag = newTag();
    const leg: PhoneLeg = {
      ref,
      state: 'inviting',
      callId,
      fromTag,
      toTag: null,
      from: `${quote('Dzvin')} <sip:dzvin@${domain}>;tag=${fromTag}`,
      to: `<sip:${ref.employee.ext}@${domain}>`,
      invite: null as unknown as SipRequest,
      tx: null,
      cseq: 1,
      remoteTarget: null,
      routeSet: [],
      rtp,
      rtpTo: null,
      codec: 'PCMA',
      sender: null,
      audio: null,
      received: 0,
      sent: 0,
      held: false,
    };
    rtp.on('message', (datagram) => {
      leg.received++;
      if (leg.state === 'up') leg.audio?.heard(datagram);
    });
    byLeg.set(ref.legUuid, leg);
    byCallId.set(callId, leg);
    const offered = await ng.offer({
      'call-id': callId,
      'from-tag': fromTag,
      sdp: g711Sdp(rtp.address().port),
      replace: ['origin', 'session-connection'],
      ICE: 'remove',
    });
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
      body: Buffer.from(offered.sdp, 'utf8'),
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
      case 'REFER':
        if (!leg) return void tx.reply(481, 'Call/Transaction Does Not Exist');
        referred(leg, tx).catch((err) => {
          onError(err);
          tx.reply(500, 'Server Internal Error');
        });
        return;
      case 'OPTIONS':
        return void tx.reply(200, 'OK', {
          headers: [{ name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, REFER' }],
        });
      case 'INVITE':
        if (leg && getHeader(req, 'To')?.includes('tag=')) {
          // Hold, resume or a refresh from the phone of one of our calls: the call goes on.
          if (leg.state !== 'up') return void tx.reply(491, 'Request Pending');
          const held = reinvites.answer(tx, leg.invite.body.toString('utf8'), leg.fromTag, contact);
          if (held !== null) leg.held = held;
          if (held === true) mediaWatch.unwatch(`leg:${leg.ref.legUuid}`);
          if (held === false) mediaWatch.watch(`leg:${leg.ref.legUuid}`, () => leg.received);
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

  /**
   * A blind transfer from the phone (RFC 3515 REFER, `Refer-To: <sip:<ext>@<domain>>`): the core
   * rings that employee and the call moves when they answer (this phone then gets a BYE), as the
   * API's transfer does. Accepted 202, with one NOTIFY (`100 Trying`, the subscription terminated:
   * the phone learns the outcome from the BYE, or from the call staying). An ext that is nobody's
   * 404, a call that cannot be transferred 403; an attended transfer (`Replaces`) 501 for now.
   */
  async function referred(leg: PhoneLeg, tx: NewRequest['tx']) {
    const req = tx.request;
    if (leg.state !== 'up') return void tx.reply(403, 'Only A Call Being Talked On Can Be Transferred');
    const raw = getHeader(req, 'Refer-To') ?? getHeader(req, 'r') ?? '';
    const referTo = parseNameAddr(raw);
    const uri = referTo.ok ? referTo.value.uri : null;
    if (!uri || !isSipUri(uri) || !uri.user) return void tx.reply(400, 'Bad Refer-To');
    if (/replaces(=|%3d)/i.test(raw)) return void tx.reply(501, 'Attended Transfer Not Supported Yet');
    const toExt = uri.user;
    try {
      await events?.transfer(leg.ref.accountId, leg.ref.uuid, toExt);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      trace('leg.refer-refused', { legUuid: leg.ref.legUuid, code: err.code });
      if (err.code === 'EMPLOYEE_NOT_FOUND') return void tx.reply(404, 'Not Found');
      return void tx.reply(403, err.message.replace(/[\r\n]+/g, ' ').slice(0, 100) || 'Forbidden');
    }
    tx.reply(202, 'Accepted');
    trace('leg.referred', { legUuid: leg.ref.legUuid, to: toExt });
    leg.cseq += 1;
    const notify = inDialog(leg, 'NOTIFY', leg.cseq);
    notify.headers.push(
      { name: 'Contact', value: contact },
      { name: 'Event', value: 'refer' },
      { name: 'Subscription-State', value: 'terminated;reason=noresource' },
      { name: 'Content-Type', value: 'message/sipfrag;version=2.0' },
    );
    notify.body = Buffer.from('SIP/2.0 100 Trying\r\n', 'utf8');
    layer.request(notify, nextHop(leg), { onResponse: () => {} });
  }

  /** A 2xx the INVITE transaction no longer holds (a retransmission): ACK it again. */
  function onStrayResponse(r: SipResponse) {
    const leg = byCallId.get(getCallId(r) ?? '');
    if (leg && r.status >= 200 && r.status < 300 && leg.toTag) ack(leg);
  }

  function release(ref: LegRef) {
    const leg = byLeg.get(ref.legUuid);
    if (!leg) return;
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
      return endpoint.kind === 'employee' && deps.registered(endpoint.accountId, endpoint.employee.ext);
    },
    ring(leg, _timeoutMs) {
      invite(leg).catch((err) => {
        onError(err);
        const l = byLeg.get(leg.legUuid);
        if (l) finish(l);
        events?.refused(leg.legUuid, 3).catch(onError);
      });
    },
    dial() {
      throw new Error('the SIP driver dials no external numbers yet (SIP trunks: issue 16)');
    },
    suppliesAudio(call: CallRef) {
      // A phone of the call is talking: its RTP and what it is sent are the recording.
      for (const leg of byLeg.values()) if (leg.ref.uuid === call.uuid && leg.audio) return true;
      return false;
    },
    connected(call) {
      connectedCalls.add(call.uuid);
      originated?.connected(call);
      media(call);
    },
    playIvr(call, ivr) {
      originated?.playIvr(call, ivr);
    },
    release,
    ended(call: CallRef, disposition?: Disposition) {
      connectedCalls.delete(call.uuid);
      unjoin(call.uuid);
      for (const leg of [...byLeg.values()]) if (leg.ref.uuid === call.uuid) release(leg.ref);
      originated?.ended(call, disposition);
    },
  };
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
        mediaWatch,
        reinvites,
        onError,
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
    /** What each live leg sent and received (tests, metrics). */
    /** The media relayed between the two phones of each call that has two (tests, metrics). */
    joints: () => [...joints.entries()].map(([uuid, j]) => ({ uuid, ...j.joint.stats() })),
    legs: () =>
      [...byLeg.values()].map((l) => ({
        legUuid: l.ref.legUuid,
        callId: l.callId,
        state: l.state,
        received: l.received,
        sent: l.sent,
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
    },
  };
}
export type SipDriver = ReturnType<typeof createSipDriver>;
