import type { Disposition, Employee, Ivr } from '@dzvin/protocol';
import type { CallRef, LegRef, PhoneDriver, PhoneEvents } from '../../domain/calls/phone-driver.ts';
import { DomainError } from '../../domain/errors.ts';
import type { AccountRecord } from '../../domain/ports.ts';
import { createResponse, newTag } from './build.ts';
import { parseNameAddr } from './header-values.ts';
import { telephoneEventPt } from './media/dtmf.ts';
import type { G711Codec } from './media/g711.ts';
import { g711Sdp } from './media/local-media.ts';
import type { MediaEnd, MediaHost, RtpPort } from './media/media-host.ts';
import type { MediaWatch } from './media/media-watch.ts';
import type { NgClient } from './media/ng-client.ts';
import { NgError, NgRejectedError } from './media/ng-errors.ts';
import { FRAME_MS } from './media/rtp-sender.ts';
import { firstAudioStream, g711Codecs } from './media/sdp-audio.ts';
import { IVR_PROMPT, RINGBACK, type Voice } from './media/voice.ts';
import {
  getCallId,
  getHeader,
  getHeaders,
  type Header,
  type SipRequest,
  type SipResponse,
} from './message.ts';
import { type ReferDialog, referNotifyHeaders } from './refer.ts';
import type { ReinviteAnswerer } from './reinvite.ts';
import {
  type NewRequest,
  RFC3261_TIMERS,
  type ServerTransaction,
  type TransactionLayer,
} from './transaction.ts';
import { bare, type Remote, type SipTransport } from './transport.ts';
import { type TrunkCaller, type TrunkCallerDeps, trunkCaller } from './trunk-caller.ts';
import { isWebrtcSdp, webrtcAnswer, webrtcReply } from './uac-dialog.ts';
import { isSipUri, parseUri } from './uri.ts';

/**
 * Calls placed FROM a phone (issue 15): the B2BUA's UAS side for an INVITE Kamailio relays after
 * digest auth. Kamailio adds `X-Dzvin-Auth: <ext>@<domain>` (and strips it from anyone else), so
 * that header names the employee who dialled; the request URI's user part is what they dialled.
 * The call core decides the rest (`PhoneEvents.offHook`: an ext → internal call, a number →
 * outgoing call); this module turns the core's view into SIP for the caller's phone:
 *
 * - 180 once the core has placed the call (the other side rings), 200 with rtpengine's SDP when
 *   the core connects the parties, retransmitted T1 doubling to T2 until the ACK (§13.3.1.4), the
 *   call ended after 64·T1 without one;
 * - the core ending the call before an answer → the final response of its disposition (486 busy,
 *   480 no answer, 503 congestion, 500 failure), after it → a BYE;
 * - the phone's CANCEL → 200 + 487 and the call ends unanswered; its BYE → 200 and the call ends.
 *
 * Refused before the core is asked: no or unknown X-Dzvin-Auth 403, no G.711 in the offer 488,
 * nothing of that ext/number in the account 404, media that cannot be anchored (rtpengine
 * silent or far behind: `mediaRefusal`) 503 + Retry-After, and before all of these an INVITE
 * that waited MAX_QUEUE_MS in our socket (`queuedMs`) 503 + Retry-After — none of them leaves a
 * history row.
 *
 * The same UAS serves a carrier's call to a trunk's number (no X-Dzvin-Auth: trunk-caller.ts
 * decides whose it is, or 403 / 433): the core routes it as an incoming call whose external party
 * is this caller (`PhoneEvents.incoming`); an IVR answers it at once and plays its greeting
 * (`playIvr`), the caller's RFC 4733 keys are its digits, and it hears ringback, a simulated
 * party's voice or the phone that answered.
 */
export interface PhoneOriginatedDeps {
  layer: TransactionLayer;
  transport: SipTransport;
  ng: NgClient;
  /** The account of a SIP domain, and an employee by ext (the directory). */
  accountByDomain(domain: string): Promise<AccountRecord | null>;
  employeeByExt(accountId: number, ext: string): Promise<Employee | null>;
  /** The core's PhoneEvents (null until attached) and the driver the caller's phone belongs to. */
  events(): PhoneEvents | null;
  driver: PhoneDriver;
  /** Kamailio, when a dialog has no usable route. */
  edge: Remote;
  /** The media worker: the caller's RTP socket, what Dzvin plays to it, its digits. */
  media: MediaHost;
  /** Notices a talking phone whose RTP stopped (it reports `call:<Call-ID>` to the driver, which calls `silent`). */
  mediaWatch?: MediaWatch;
  /** Answers the phone's re-INVITEs (hold, resume); without it they get 491. */
  reinvites?: ReinviteAnswerer;
  /** The trunks, for a carrier's INVITE (trunk-caller.ts); without them such an INVITE gets 403. */
  trunks?: TrunkCallerDeps;
  /** An IVR's recorded greeting (8 kHz 16-bit PCM samples), null when it has none: the built-in prompt plays. */
  greeting?(accountId: number, ivrId: number): Promise<Int16Array | null>;
  timers?: { t1: number; t2: number };
  /**
   * NG requests unanswered at once (`ng.inFlight()`) from which a new INVITE is refused at once
   * with 503 + Retry-After instead of queued behind them (default MAX_NG_IN_FLIGHT).
   */
  maxNgInFlight?: number;
  /**
   * An INVITE whose X-Dzvin-Received (the moment Kamailio's edge took it, dzvin.cfg TO_B2BUA)
   * is at least this many ms old when the B2BUA reads it waited that long in our socket behind a
   * busy main thread: it is refused at once with 503 + Retry-After (DZVIN_SIP_MAX_QUEUE_MS;
   * default MAX_QUEUE_MS). 0 refuses every INVITE that carries the header.
   */
  maxQueueMs?: number;
  onError?: (err: unknown) => void;
  /** An INVITE refused for overload (503 + Retry-After), with its cause; at most a line a second. */
  onWarning?: (message: string) => void;
  onTrace?: (what: string, detail?: unknown) => void;
}

/**
 * From this many NG requests waiting for rtpengine at once, new INVITEs are refused at once (503)
 * instead of each waiting out the NG timeout (3 s) first: a last resort for an rtpengine that is
 * gone or seconds behind (at 200 calls/s about 1,000 requests are sent in a second). Not an
 * admission control for a busy main thread: at 200 a bench:sip step at 150 calls/s, where the
 * main thread was at a core, refused 30% of its calls that would mostly have completed.
 */
export const MAX_NG_IN_FLIGHT = 1000;
/**
 * An INVITE that waited this long between Kamailio's edge and the B2BUA's reading it (a main
 * thread at a core of CPU, the datagrams queued in our socket: bench:sip at 300 calls/s had
 * setups of 11 s and sent no 503) is refused at once, before any database, media or routing
 * work: a 503 costs a fraction of a call, so the process catches up and the caller (or
 * Kamailio's dispatcher, offering it to the next process) has an answer now rather than a
 * timeout. A second: twice the T1 after which Kamailio and the caller retransmit, well under
 * what a caller waits for a first answer; a quiet process reads an INVITE within a few ms.
 */
export const MAX_QUEUE_MS = 1000;
/** X-Dzvin-Received further ahead of our clock than this is no queueing figure (clocks not shared): ignored. */
export const RECEIVED_AHEAD_MS = 5000;
/** …and one older than this (64·T1: the caller's timer B has given up) is not believed either. */
export const RECEIVED_MAX_AGE_MS = 32_000;

/**
 * How long ago (ms) Kamailio's edge took a request, from its `X-Dzvin-Received: <seconds>.<µs>`
 * (`$TV(Sn)`, Unix time) and our clock `now` (ms); a little ahead of our clock counts as 0. Null
 * when the header is missing, malformed, or says more than RECEIVED_AHEAD_MS in the future or more
 * than RECEIVED_MAX_AGE_MS in the past: Kamailio and Dzvin must share a clock (one machine, or
 * NTP), and a skewed one must not refuse every call.
 */
export function queuedMs(value: string | undefined, now: number): number | null {
  const m = /^\s*(\d{1,12})(?:\.(\d{1,9}))?\s*$/.exec(value ?? '');
  if (!m) return null;
  const at = Number(m[1]) * 1000 + Number(`0.${m[2] ?? '0'}`) * 1000;
  const waited = now - at;
  if (waited < -RECEIVED_AHEAD_MS || waited > RECEIVED_MAX_AGE_MS) return null;
  return Math.max(0, waited);
}

/** Retry-After of an overload refusal: another process (Kamailio's dispatcher) or the carrier may try. */
export const OVERLOAD_RETRY_AFTER_SEC = 1;

/**
 * What a failure to anchor an INVITE's media is answered (before the core is asked: nothing was
 * placed, so it may be offered again — Kamailio's dispatcher gives a 503 with Retry-After to the
 * next process). rtpengine silent, its socket gone or out of ports, or our RTP socket not bound:
 * 503 + Retry-After, the cause in a Warning; an offer rtpengine could not parse: 488; anything
 * else is our bug: 500.
 */
export function mediaRefusal(err: unknown): { status: number; reason: string; overload: string | null } {
  if (err instanceof NgError) {
    if (err.code === 'PROTOCOL') return { status: 500, reason: 'Media Unavailable', overload: null };
    if (err instanceof NgRejectedError && /pars|sdp/i.test(err.reason) && !/port/i.test(err.reason))
      return { status: 488, reason: 'Not Acceptable Here', overload: null };
    return { status: 503, reason: 'Service Unavailable', overload: err.message };
  }
  if (err instanceof Error && err.message.startsWith('RTP socket'))
    return { status: 503, reason: 'Service Unavailable', overload: `Dzvin's ${err.message}` };
  if (err instanceof Error && err.message === 'media worker stopped')
    return { status: 503, reason: 'Service Unavailable', overload: 'the media worker stopped' };
  return { status: 500, reason: 'Media Unavailable', overload: null };
}

type State = 'placing' | 'early' | 'answering' | 'up' | 'ending' | 'ended';

interface Originated {
  tx: ServerTransaction;
  invite: SipRequest;
  callId: string;
  phoneTag: string;
  localTag: string;
  uuid: string | null;
  state: State;
  /** The phone hung up (CANCEL) while the core was still placing the call. */
  cancelled: boolean;
  sdpForPhone: string;
  ok: SipResponse | null;
  retransmit: NodeJS.Timeout | null;
  routeSet: string[];
  remoteTarget: string;
  cseq: number;
  /** Our RTP socket for the phone (in the media worker: one stream whoever speaks, rtp-stream.ts). */
  rtp: RtpPort | null;
  /** Where rtpengine takes RTP for the phone, and the law it is sent (our answer's first it offered). */
  rtpTo: Remote | null;
  codec: G711Codec;
  /** The account of the call (a digit is reported with it). */
  accountId: number;
  /** The employee whose phone placed the call (null: a trunk's caller). */
  ext: string | null;
  /** A trunk's caller (a carrier's INVITE) rather than an employee's phone. */
  carrier: boolean;
  /** The phone is a browser (its offer was WebRTC, issue 18): rtpengine ends ICE and DTLS-SRTP. */
  webrtc: boolean;
  /** Dzvin speaking to the caller: an IVR prompt, ringback, a simulated party's voice. */
  speaking: boolean;
  /** The caller is in an IVR: its DTMF (RFC 4733) chooses. */
  inIvr: boolean;
  /** The payload type of RFC 4733 events in the caller's offer (null: it has no telephone-event). */
  dtmf: number | null;
}

export { IVR_PROMPT_HZ } from './media/voice.ts';

/** The final response to a phone's INVITE for how the core ended the call before an answer. */
export function finalForDisposition(d: Disposition | undefined): [number, string] {
  if (d === 4) return [486, 'Busy Here'];
  if (d === 1) return [480, 'Temporarily Unavailable'];
  if (d === 2) return [503, 'Service Unavailable'];
  return [500, 'Call Failed'];
}

/** `ext@domain` of Kamailio's X-Dzvin-Auth, or null when it is missing or malformed. */
export function parseAuthHeader(value: string | undefined): { ext: string; domain: string } | null {
  const m = /^\s*([^@\s]+)@([^@\s]+)\s*$/.exec(value ?? '');
  return m ? { ext: m[1], domain: m[2].toLowerCase() } : null;
}

const NOT_FOUND_CODES = new Set(['EMPLOYEE_NOT_FOUND', 'BAD_INPUT', 'VALIDATION']);

export function createPhoneOriginated(deps: PhoneOriginatedDeps) {
  const { layer, transport, ng, media } = deps;
  const onError = deps.onError ?? (() => {});
  const trace = deps.onTrace ?? (() => {});
  const { t1, t2 } = deps.timers ?? RFC3261_TIMERS;
  const byCallId = new Map<string, Originated>();
  const byUuid = new Map<string, Originated>();
  const contact = `<sip:dzvin@${transport.sentBy}${transport.uriParams}>`;
  const maxNgInFlight = deps.maxNgInFlight ?? MAX_NG_IN_FLIGHT;
  const maxQueueMs = deps.maxQueueMs ?? MAX_QUEUE_MS;
  /** INVITEs refused 503 for overload since start (queueing delay, rtpengine): tests, metrics. */
  let refusedTotal = 0;

  // Overload refusals are logged at most once a second with how many there were: a line per
  // refused call would add to the load that caused them.
  let refusedSince = 0;
  let lastCause = '';
  let warnTimer: NodeJS.Timeout | null = null;
  const warnNow = () => {
    warnTimer = null;
    if (!refusedSince) return;
    deps.onWarning?.(
      `SIP: ${refusedSince} INVITE(s) refused 503 (Retry-After ${OVERLOAD_RETRY_AFTER_SEC} s) before routing, no history row; last cause: ${lastCause}`,
    );
    refusedSince = 0;
  };
  function overloaded(tx: ServerTransaction, toTag: string, cause: string) {
    tx.reply(503, 'Service Unavailable', {
      toTag,
      headers: [
        { name: 'Retry-After', value: String(OVERLOAD_RETRY_AFTER_SEC) },
        { name: 'Warning', value: `399 dzvin "${cause.replace(/["\\\r\n]/g, "'")}"` },
      ],
    });
    trace('originated.overload', { callId: getCallId(tx.request), cause });
    refusedTotal++;
    refusedSince++;
    lastCause = cause;
    if (!warnTimer) {
      // The first of a burst at once, the rest summed up a second later.
      if (refusedSince === 1) warnNow();
      warnTimer = setTimeout(warnNow, 1000);
      warnTimer.unref();
    }
  }

  function reply(o: Originated, status: number, reason: string) {
    o.tx.reply(status, reason, { toTag: o.localTag });
  }

  /** Dzvin's audio to the caller becomes `voice` (null: silence, e.g. another phone speaks now). */
  function speak(o: Originated, voice: Voice | null) {
    if (!o.rtp) return;
    const speaking = voice !== null && o.rtpTo !== null && o.state !== 'ended' && o.state !== 'ending';
    if (!speaking && !o.speaking) return;
    o.speaking = speaking;
    media.speak(o.rtp, speaking ? voice : null);
  }

  /** Whether the caller is in an IVR: its digits are reported while it is. */
  function setIvr(o: Originated, on: boolean) {
    if (o.inIvr === on) return;
    o.inIvr = on;
    if (o.rtp && o.dtmf !== null) media.dtmf(o.rtp, o.dtmf, on, (digit) => pressed(o, digit));
  }

  function finish(o: Originated) {
    if (o.state === 'ended') return;
    o.speaking = false;
    o.state = 'ended';
    if (o.retransmit) clearTimeout(o.retransmit);
    o.retransmit = null;
    const received = o.rtp?.received ?? 0;
    if (o.rtp) media.close(o.rtp);
    o.rtp = null;
    byCallId.delete(o.callId);
    deps.mediaWatch?.unwatch(`call:${o.callId}`);
    if (o.uuid) byUuid.delete(o.uuid);
    trace('originated.ended', { uuid: o.uuid, callId: o.callId, received });
    ng.delete({ 'call-id': o.callId, 'from-tag': o.phoneTag, flags: [] }).catch(onError);
  }

  function hangUpCall(o: Originated) {
    if (o.uuid) deps.events()?.callerHangup(o.uuid).catch(onError);
  }

  /** First hop of our in-dialog requests: the first route (Kamailio's Record-Route), else the target. */
  function nextHop(o: Originated): Remote {
    const first = o.routeSet[0];
    const na = first ? parseNameAddr(first) : null;
    const parsed = na?.ok ? { ok: true as const, uri: na.value.uri } : parseUri(o.remoteTarget);
    const target = parsed.ok ? parsed.uri : null;
    if (target && isSipUri(target))
      return { address: target.host.replace(/^\[|\]$/g, ''), port: target.port ?? 5060 };
    return deps.edge;
  }

  /** A request of ours in the dialog, UAS side (§12.1.1: the route set is Record-Route as received; From is our To). */
  function inDialog(o: Originated, method: string): SipRequest {
    o.cseq += 1;
    const headers: Header[] = [
      { name: 'Max-Forwards', value: '70' },
      ...o.routeSet.map((value) => ({ name: 'Route', value })),
      { name: 'From', value: `${getHeader(o.invite, 'To')};tag=${o.localTag}` },
      { name: 'To', value: getHeader(o.invite, 'From') ?? '' },
      { name: 'Call-ID', value: o.callId },
      { name: 'CSeq', value: `${o.cseq} ${method}` },
    ];
    return { type: 'request', method, uri: o.remoteTarget, headers, body: Buffer.alloc(0) };
  }

  /** BYE from the UAS side. */
  function bye(o: Originated) {
    if (o.retransmit) clearTimeout(o.retransmit);
    o.retransmit = null;
    speak(o, null);
    o.state = 'ending';
    const req = inDialog(o, 'BYE');
    trace('originated.bye', { uuid: o.uuid });
    layer.request(req, nextHop(o), {
      onResponse: (r) => {
        if (r.status >= 200) finish(o);
      },
      onEnd: (reason) => {
        if (reason !== 'normal') finish(o);
      },
    });
  }

  /** The 200 again, T1 doubling to T2, until the ACK; after 64·T1 the call is given up. */
  function retransmit(o: Originated, interval: number, elapsed: number) {
    o.retransmit = setTimeout(() => {
      o.retransmit = null;
      if (o.state !== 'answering' || !o.ok) return;
      const at = elapsed + interval;
      if (at >= 64 * t1) {
        trace('originated.no-ack', { uuid: o.uuid });
        bye(o);
        hangUpCall(o);
        return;
      }
      o.tx.respond(o.ok);
      retransmit(o, Math.min(2 * interval, t2), at);
    }, interval);
    o.retransmit.unref();
  }

  /**
   * Whether a request came from Kamailio's edge socket: its address, and over UDP its port (the
   * edge relays every new request from that one socket, `$fs` in dzvin.cfg; over TCP the port is
   * the connection's own). X-Dzvin-Auth and X-Dzvin-Source are Kamailio's word only because it
   * strips them from everyone else: from anywhere else (another process on this machine, the
   * B2BUA's port reachable by mistake) they would let a forger place calls as any employee.
   */
  function fromEdge(remote: Remote): boolean {
    const same = bare(remote.address).toLowerCase() === bare(deps.edge.address).toLowerCase();
    return same && (transport.reliable || remote.port === deps.edge.port);
  }

  async function onInvite(tx: ServerTransaction) {
    const req = tx.request;
    const refuse = (status: number, reason: string) => void tx.reply(status, reason, { toTag: newTag() });
    if (!fromEdge(tx.remote)) {
      trace('originated.not-from-edge', { remote: `${tx.remote.address}:${tx.remote.port}` });
      return refuse(403, 'Forbidden');
    }
    // Waited too long in our socket (the main thread behind): refused before any work of its own.
    // Only Kamailio's word (fromEdge); without the header (another edge, a direct test) never.
    const waited = queuedMs(getHeader(req, 'X-Dzvin-Received'), Date.now());
    if (waited !== null && waited >= maxQueueMs)
      return overloaded(tx, newTag(), `overloaded: waited ${Math.round(waited)} ms`);
    const who = parseAuthHeader(getHeader(req, 'X-Dzvin-Auth'));
    let account: AccountRecord | null;
    let employee: Employee | null = null;
    let carrier: Extract<TrunkCaller, { ok: true }> | null = null;
    if (who) {
      account = await deps.accountByDomain(who.domain);
      employee = account ? await deps.employeeByExt(account.id, who.ext) : null;
      if (!account || !employee) return refuse(403, 'Forbidden');
    } else {
      // Nobody of ours: a carrier delivering a call to a trunk's number, or nobody we know.
      const t: TrunkCaller = deps.trunks
        ? await trunkCaller(req, deps.trunks)
        : { ok: false, status: 403, reason: 'Forbidden', source: null };
      if (!t.ok) {
        trace('trunk.refused', { status: t.status, source: t.source, uri: req.uri });
        return refuse(t.status, t.reason);
      }
      carrier = t;
      account = t.account;
    }
    if (!g711Codecs(req.body.toString('utf8')).length) return refuse(488, 'Not Acceptable Here');
    // rtpengine (or our reading of its replies) far behind: refused now, before any work of its own.
    if (ng.inFlight() >= maxNgInFlight)
      return overloaded(tx, newTag(), `${ng.inFlight()} requests to rtpengine unanswered`);
    const target = parseUri(req.uri);
    const dialled = target.ok && isSipUri(target.uri) ? target.uri.user : undefined;
    if (!dialled) return refuse(404, 'Not Found');
    const from = parseNameAddr(getHeader(req, 'From') ?? '');
    const phoneTag = from.ok ? from.value.params.tag : undefined;
    const callId = getCallId(req);
    if (!phoneTag || !callId) return refuse(400, 'Bad Request');
    const contactUri = (getHeader(req, 'Contact') ?? '').replace(/^[^<]*<([^>]*)>.*$/, '$1');
    const o: Originated = {
      tx,
      invite: req,
      callId,
      phoneTag,
      localTag: newTag(),
      uuid: null,
      state: 'placing',
      cancelled: false,
      sdpForPhone: '',
      webrtc: false,
      ok: null,
      retransmit: null,
      routeSet: getHeaders(req, 'Record-Route'),
      remoteTarget: contactUri || req.uri,
      cseq: Math.floor(Math.random() * 10_000),
      rtp: null,
      rtpTo: null,
      codec: g711Codecs(req.body.toString('utf8')).includes('PCMA') ? 'PCMA' : 'PCMU',
      accountId: account.id,
      ext: employee?.ext ?? null,
      carrier: carrier !== null,
      speaking: false,
      inIvr: false,
      dtmf: null,
    };
    byCallId.set(callId, o);
    try {
      // Media first: rtpengine anchors the phone's offer and answers it for Dzvin's side.
      o.rtp = await media.open();
      // Ended while the socket opened (a CANCEL and the core's end): nothing will close it but us.
      if ((o.state as State) === 'ended') {
        media.close(o.rtp);
        o.rtp = null;
        return;
      }
      // A browser's offer (issue 18) is WebRTC: rtpengine ends ICE and DTLS-SRTP for Dzvin's side.
      const webrtc = isWebrtcSdp(req.body.toString('utf8'));
      o.webrtc = webrtc;
      const offered = await ng.offer({
        'call-id': callId,
        'from-tag': phoneTag,
        sdp: req.body.toString('utf8'),
        replace: ['origin', 'session-connection'],
        ...(webrtc ? webrtcAnswer() : { ICE: 'remove' }),
      });
      const answered = await ng.answer({
        'call-id': callId,
        'from-tag': phoneTag,
        'to-tag': o.localTag,
        sdp: g711Sdp(o.rtp.port),
        replace: ['origin', 'session-connection'],
        ...(webrtc ? webrtcReply() : { ICE: 'remove' }),
      });
      o.sdpForPhone = answered.sdp;
      o.dtmf = telephoneEventPt(offered.sdp);
      const stream = firstAudioStream(offered.sdp);
      if (stream?.address) o.rtpTo = { address: stream.address, port: stream.port };
      if (o.rtp && o.rtpTo) media.peer(o.rtp, o.rtpTo, o.codec);
    } catch (err) {
      const refusal = mediaRefusal(err);
      if (!refusal.overload) onError(err);
      if (o.state === 'placing' && !o.cancelled) {
        if (refusal.overload) overloaded(o.tx, o.localTag, refusal.overload);
        else reply(o, refusal.status, refusal.reason);
      }
      finish(o);
      return;
    }
    if (o.cancelled) return finish(o);
    const events = deps.events();
    if (!events) {
      reply(o, 503, 'Starting');
      return finish(o);
    }
    const placed = (call: CallRef) => {
      o.uuid = call.uuid;
      byUuid.set(call.uuid, o);
    };
    try {
      if (carrier) {
        trace('trunk.call', { trunk: carrier.trunk.number, from: carrier.from, source: carrier.source });
        await events.incoming(account, carrier.from, carrier.trunk.number, {
          driver: deps.driver,
          placed,
          trunk: carrier.trunk,
        });
      } else await events.offHook({ account, ext: employee!.ext, dialled, driver: deps.driver, placed });
    } catch (err) {
      if (o.state === 'ended') return;
      const code = err instanceof DomainError ? err.code : '';
      if (!(err instanceof DomainError)) onError(err);
      trace('originated.refused', { dialled, code });
      if (!o.cancelled) {
        if (NOT_FOUND_CODES.has(code)) reply(o, 404, 'Not Found');
        else if (code === 'EMPLOYEE_UNAVAILABLE') reply(o, 480, 'Temporarily Unavailable');
        // The account has no trunk to dial out on: nothing the phone can fix by retrying at once.
        else if (code === 'NO_TRUNK' || code === 'TRUNK_NOT_FOUND')
          reply(o, 503, 'No Trunk For Outgoing Calls');
        else if (code === 'CONFLICT') reply(o, 486, 'Busy Here');
        // A domain refusal we have no better answer for is still the caller's problem, not a crash.
        else if (code) reply(o, 403, 'Forbidden');
        else reply(o, 500, 'Server Internal Error');
      }
      finish(o);
      return;
    }
    if (o.cancelled) {
      finish(o);
      hangUpCall(o);
      return;
    }
    if (o.state !== 'placing') return; // already answered or ended by the core
    o.state = 'early';
    trace('originated.ringing', { uuid: o.uuid, dialled });
    o.tx.reply(180, 'Ringing', { toTag: o.localTag, headers: [{ name: 'Contact', value: contact }] });
  }

  /** The core connected the parties: the phone gets its 200 (answer SDP from rtpengine). */
  function connected(call: CallRef) {
    const o = byUuid.get(call.uuid);
    if (!o) return;
    // Out of an IVR (a phone answered): the prompt or ringback stops; the driver gives the media.
    setIvr(o, false);
    speak(o, null);
    if (o.state === 'early' || o.state === 'placing') answer(o);
  }

  /**
   * An IVR answers a trunk's caller: the INVITE gets its 200 now (the caller must hear the
   * prompt), the prompt plays for the IVR's timeout, then ringback while the core routes the call;
   * the caller's digits (RFC 4733) go to the core.
   */
  function playIvr(call: CallRef, ivr: Ivr) {
    const o = byUuid.get(call.uuid);
    if (!o || o.state === 'ending' || o.state === 'ended') return;
    if (o.state === 'early' || o.state === 'placing') answer(o);
    setIvr(o, true);
    const startedAt = performance.now();
    const promptFrames = Math.ceil((ivr.timeoutSec * 1000) / FRAME_MS);
    const play = (greeting: Int16Array | null) => {
      if (!o.inIvr || byUuid.get(call.uuid) !== o) return; // a digit came first, or the call ended
      trace('originated.ivr', {
        uuid: o.uuid,
        ivr: ivr.id,
        dtmf: o.dtmf !== null,
        greeting: greeting !== null,
      });
      const audio = greeting?.length
        ? { kind: 'samples' as const, samples: greeting, gapMs: 1000 }
        : IVR_PROMPT;
      // The IVR's timeout runs from its start (the core's timer), not from when the audio loaded.
      const skipped = Math.floor((performance.now() - startedAt) / FRAME_MS);
      speak(o, [{ audio, frames: Math.max(0, promptFrames - skipped) }, { audio: RINGBACK }]);
    };
    if (!deps.greeting) return play(null);
    deps.greeting(o.accountId, ivr.id).then(play, (err) => {
      onError(err);
      play(null);
    });
  }

  /** A key the caller pressed: the IVR's choice, else ignored (the core says why). */
  function pressed(o: Originated, digit: string) {
    const events = deps.events();
    if (!o.inIvr || !o.uuid || !events) return;
    trace('originated.digit', { uuid: o.uuid, digit });
    const uuid = o.uuid;
    events.digit(o.accountId, uuid, digit).then(
      () => {
        // Chosen: the call goes on to its target; the caller hears ringback until a phone answers.
        if (byUuid.get(uuid) === o && o.inIvr) {
          setIvr(o, false);
          speak(o, [{ audio: RINGBACK }]);
        }
      },
      (err) => {
        if (!(err instanceof DomainError)) onError(err);
        trace('originated.digit-ignored', { uuid, digit, code: err instanceof DomainError ? err.code : '' });
      },
    );
  }

  function answer(o: Originated) {
    o.state = 'answering';
    o.ok = createResponse(o.invite, 200, 'OK', {
      toTag: o.localTag,
      headers: [
        // §12.1.1: the UAS copies Record-Route into its 2xx, so the phone has the same route set.
        ...getHeaders(o.invite, 'Record-Route').map((value) => ({ name: 'Record-Route', value })),
        { name: 'Contact', value: contact },
        { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, REFER' },
        { name: 'Content-Type', value: 'application/sdp' },
      ],
      body: Buffer.from(o.sdpForPhone, 'utf8'),
    });
    trace('originated.answer', { uuid: o.uuid });
    deps.mediaWatch?.watch(`call:${o.callId}`, () => o.rtp?.received ?? 0);
    o.tx.respond(o.ok);
    retransmit(o, t1, 0);
  }

  /** The core ended the call: a final response before the answer, a BYE after it. */
  function ended(call: CallRef, disposition?: Disposition) {
    const o = byUuid.get(call.uuid);
    if (!o) return;
    if (o.state === 'placing' || o.state === 'early') {
      const [status, reason] = finalForDisposition(disposition);
      trace('originated.final', { uuid: o.uuid, status });
      reply(o, status, reason);
      finish(o);
      return;
    }
    if (o.state === 'answering' || o.state === 'up') bye(o);
  }

  /**
   * A request of a call placed from a phone: a new INVITE with X-Dzvin-Auth, the CANCEL of one,
   * or a BYE of its dialog. Returns false for anything else (the SIP driver's own legs).
   */
  function onRequest({ tx, cancels }: NewRequest): boolean {
    const req = tx.request;
    const o = byCallId.get(getCallId(req) ?? '');
    if (req.method === 'INVITE') {
      if (o) {
        // A re-INVITE: hold, resume, a session refresh. While our 200 waits for its ACK, 491 (§14.2).
        if (o.state !== 'up' || !deps.reinvites) {
          tx.reply(491, 'Request Pending');
          return true;
        }
        if (o.rtp && (o.carrier || (o.webrtc && req.body.length))) {
          // A carrier's re-INVITE: its new offer (or ours, when it sent none) through rtpengine. A
          // browser's offer (hold, an ICE restart) too, with the WebRTC flags: rtpengine stays the
          // active DTLS end it has been since its answer (uac-dialog.ts webrtcReply).
          const rtp = o.rtp;
          const d = {
            ng,
            callId: o.callId,
            ourTag: o.localTag,
            theirTag: o.phoneTag,
            port: rtp.port,
            contact,
            ...(o.webrtc ? { webrtc: { dtls: 'active' as const } } : {}),
          };
          deps.reinvites
            .renegotiate(tx, d, (m) => {
              if (o.state !== 'up' || !o.rtp) return;
              o.sdpForPhone = m.sdp;
              const rtpTo = m.rtpTo ?? o.rtpTo;
              const codec = m.codec ?? o.codec;
              if (
                rtpTo &&
                (rtpTo.address !== o.rtpTo?.address || rtpTo.port !== o.rtpTo?.port || codec !== o.codec)
              ) {
                o.rtpTo = rtpTo;
                o.codec = codec;
                media.peer(o.rtp, rtpTo, codec);
              }
              if (m.held) deps.mediaWatch?.unwatch(`call:${o.callId}`);
              else deps.mediaWatch?.watch(`call:${o.callId}`, () => o.rtp?.received ?? 0);
              trace('originated.reinvite', {
                uuid: o.uuid,
                held: m.held,
                carrier: o.carrier,
                rtpTo: o.rtpTo,
              });
            })
            .catch(onError);
          return true;
        }
        const held = deps.reinvites.answer(tx, o.sdpForPhone, o.localTag, contact);
        if (held === true) deps.mediaWatch?.unwatch(`call:${o.callId}`);
        if (held === false) deps.mediaWatch?.watch(`call:${o.callId}`, () => o.rtp?.received ?? 0);
        trace('originated.reinvite', { uuid: o.uuid, held });
        return true;
      }
      if (getHeader(req, 'To')?.includes('tag=')) return false;
      onInvite(tx).catch((err) => {
        onError(err);
        tx.reply(500, 'Server Internal Error', { toTag: newTag() });
      });
      return true;
    }
    if (!o) return false;
    if (req.method === 'CANCEL' && cancels === o.tx) {
      tx.reply(200, 'OK');
      if (o.state === 'placing' || o.state === 'early') {
        trace('originated.cancelled', { uuid: o.uuid });
        reply(o, 487, 'Request Terminated');
        o.cancelled = true;
        // While the core is still placing the call, onInvite ends it once it has a uuid.
        if (o.state === 'early') {
          finish(o);
          hangUpCall(o);
        }
      }
      return true;
    }
    if (req.method === 'BYE') {
      tx.reply(200, 'OK');
      const live = o.state !== 'ending' && o.state !== 'ended';
      finish(o);
      if (live) hangUpCall(o);
      return true;
    }
    return false;
  }

  /** The ACK to our 2xx (the transaction layer hands it to the TU). */
  function onAck(ack: SipRequest): boolean {
    const o = byCallId.get(getCallId(ack) ?? '');
    if (!o) return false;
    if (o.state === 'answering') {
      o.state = 'up';
      if (o.retransmit) clearTimeout(o.retransmit);
      o.retransmit = null;
      trace('originated.up', { uuid: o.uuid });
    }
    return true;
  }

  /** The phone's end of the media while its call is being answered or up (two phones: media-joint.ts). */
  function mediaEnd(uuid: string): MediaEnd | null {
    const o = byUuid.get(uuid);
    if (!o?.rtp || !o.rtpTo || (o.state !== 'answering' && o.state !== 'up')) return null;
    return { port: o.rtp, codec: o.codec };
  }

  /** The phone's RTP stopped mid-call (media-watch.ts): it vanished; BYE and the call ends. */
  function silent(callId: string) {
    const o = byCallId.get(callId);
    if (!o || (o.state !== 'answering' && o.state !== 'up')) return;
    trace('media.timeout', { uuid: o.uuid, received: o.rtp?.received ?? 0 });
    bye(o);
    hangUpCall(o);
  }

  /** The dialog of a call the phone placed, for a REFER on it (null: none, or a trunk's caller's). */
  function referDialog(callId: string): ReferDialog | null {
    const o = byCallId.get(callId);
    if (!o?.uuid || o.ext === null) return null;
    return {
      accountId: o.accountId,
      uuid: o.uuid,
      ext: o.ext,
      up: o.state === 'up',
      notify(fragment) {
        if (o.state !== 'up' && o.state !== 'ending') return;
        const req = inDialog(o, 'NOTIFY');
        req.headers.push({ name: 'Contact', value: contact }, ...referNotifyHeaders);
        req.body = Buffer.from(`${fragment}\r\n`, 'utf8');
        layer.request(req, nextHop(o), { onResponse: () => {} });
      },
    };
  }

  /**
   * The call a phone placed whose dialog a Replaces names (RFC 3891: its Call-ID and both tags,
   * in either order — the phone's From tag and ours), answered and up; null when there is none.
   */
  function dialogOf(callId: string, tagA: string, tagB: string) {
    const o = byCallId.get(callId);
    if (!o?.uuid || o.ext === null || o.state !== 'up') return null;
    const tags = [o.phoneTag, o.localTag];
    if (!tags.includes(tagA) || !tags.includes(tagB) || tagA === tagB) return null;
    return { uuid: o.uuid, accountId: o.accountId, ext: o.ext };
  }

  /**
   * The core ended the phone's part of a call that goes on: the phone that dialled out has
   * transferred it (its leg is the call's primary one). An answered call gets its BYE; one not
   * yet answered is left to `ended` (its final response). True when a BYE went.
   */
  function release(ref: LegRef): boolean {
    const o = byUuid.get(ref.uuid);
    if (!o || o.carrier || ref.legUuid !== ref.uuid || ref.employee.ext !== o.ext) return false;
    if (o.state !== 'answering' && o.state !== 'up') return false;
    bye(o);
    return true;
  }

  return {
    onRequest,
    onAck,
    /** A dialog of a call placed from outside (a phone, a carrier) that this process runs. */
    knows: (callId: string) => byCallId.has(callId),
    connected,
    referDialog,
    dialogOf,
    release,
    playIvr,
    /** The caller hears a simulated party (`voice`) or, null, another phone through the driver's relay. */
    speak(uuid: string, voice: Voice | null) {
      const o = byUuid.get(uuid);
      if (o && (o.state === 'answering' || o.state === 'up') && !o.inIvr) speak(o, voice);
    },
    mediaEnd,
    silent,
    ended,
    /** How many new INVITEs were refused 503 for overload (queueing delay, rtpengine) since start. */
    overloadRefusals: () => refusedTotal,
    /** The calls placed from phones now (tests, metrics). */
    calls: () =>
      [...byCallId.values()].map((o) => ({
        uuid: o.uuid,
        callId: o.callId,
        state: o.state,
        received: o.rtp?.received ?? 0,
      })),
    close() {
      for (const o of [...byCallId.values()]) {
        if (o.state === 'answering' || o.state === 'up') bye(o);
        finish(o);
      }
    },
  };
}
export type PhoneOriginated = ReturnType<typeof createPhoneOriginated>;
