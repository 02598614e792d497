// Calls out over a trunk's SIP carrier (issue 16): the external party of a click-to-call, of an
// employee dialling out, of the callback widget, when the call's trunk has a `sipCarrier`. The
// B2BUA places the INVITE as a UAC through Kamailio (every call leaves through the edge;
// `X-Dzvin-Carrier` tells dzvin.cfg to relay it to the request URI rather than look a phone up),
// presents the trunk's number as the caller, answers the carrier's digest challenge (401/407, once
// per request: a second challenge is a wrong password) and anchors the media in rtpengine as for
// a phone. The core hears `externalAnswered` / `externalRefused` / `remoteHangup` as it does from
// the simulator; the driver's `arrange` joins the carrier's media to the employee's phone (or
// speaks the simulated employee's voice to it).
import { createHash, randomBytes } from 'node:crypto';
import type { Disposition, Trunk } from '@dzvin/protocol';
import type { CallRef, PhoneEvents } from '../../domain/calls/phone-driver.ts';
import { newCallId, newTag } from './build.ts';
import { quote, splitList } from './header-values.ts';
import type { G711Codec } from './media/g711.ts';
import type { MediaEnd, MediaHost, RtpPort } from './media/media-host.ts';
import type { MediaWatch } from './media/media-watch.ts';
import type { NgClient } from './media/ng-client.ts';
import type { Voice } from './media/voice.ts';
import { getCallId, getHeaders, type Header, type SipRequest, type SipResponse } from './message.ts';
import type { ReinviteAnswerer } from './reinvite.ts';
import type { ClientTransaction, NewRequest, TransactionLayer } from './transaction.ts';
import type { Remote } from './transport.ts';
import { answerMedia, establish, inDialogRequest, offerMedia } from './uac-dialog.ts';

export interface CarrierCallsDeps {
  layer: TransactionLayer;
  ng: NgClient;
  /** Kamailio's socket facing the B2BUA: every request to a carrier goes there. */
  edge: Remote;
  /** Our Contact (the B2BUA's address, as Kamailio relays to it). */
  contact: string;
  /** The carrier's digest password of a trunk (write-only in the API). */
  secret(accountId: number, trunkId: number): Promise<string | null>;
  events(): PhoneEvents | null;
  /** The media worker: the carrier's RTP socket and what Dzvin plays to it. */
  media: MediaHost;
  mediaWatch: MediaWatch;
  /** The carrier's re-INVITEs: their new offers through rtpengine (reinvite.ts `renegotiate`). */
  reinvites: ReinviteAnswerer;
  /** How a carrier's refusal maps to a disposition (the same table as a phone's). */
  disposition(status: number): Disposition;
  onError(err: unknown): void;
  onTrace(what: string, detail?: unknown): void;
}

type State = 'inviting' | 'cancelling' | 'up' | 'ending' | 'ended';

interface CarrierLeg {
  call: CallRef;
  trunk: Trunk;
  state: State;
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
  /** Our RTP socket for the carrier (in the media worker: one stream whoever speaks). */
  rtp: RtpPort;
  rtpTo: Remote | null;
  codec: G711Codec;
  speaking: boolean;
  /** The challenge was answered once already for this request (a second one: wrong credentials). */
  authorized: boolean;
}

/** Digits of an E.164 number, as carriers expect them in a SIP URI user part. */
const digits = (n: string) => n.replace(/[^0-9]/g, '');

/**
 * A Digest `Authorization` / `Proxy-Authorization` value answering `challenge` (RFC 2617 / RFC
 * 3261 §22.4; MD5, `qop=auth` when offered). Null when the challenge is not one we can answer.
 */
export function digestAnswer(
  challenge: string,
  method: string,
  uri: string,
  username: string,
  password: string,
): string | null {
  const m = /^\s*Digest\s+(.*)$/is.exec(challenge);
  if (!m) return null;
  const params = new Map<string, string>();
  for (const part of splitList(m[1])) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    params.set(
      part.slice(0, eq).trim().toLowerCase(),
      part
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/s, '$1'),
    );
  }
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  const algorithm = params.get('algorithm') ?? 'MD5';
  if (realm === undefined || nonce === undefined || algorithm.toUpperCase() !== 'MD5') return null;
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const ha1 = md5(`${username}:${realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  const qops = (params.get('qop') ?? '').split(',').map((q) => q.trim());
  const fields = [
    `username=${quote(username)}`,
    `realm=${quote(realm)}`,
    `nonce=${quote(nonce)}`,
    `uri=${quote(uri)}`,
    'algorithm=MD5',
  ];
  if (qops.includes('auth')) {
    const cnonce = randomBytes(8).toString('hex');
    const nc = '00000001';
    fields.push(`response=${quote(md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`))}`);
    fields.push('qop=auth', `nc=${nc}`, `cnonce=${quote(cnonce)}`);
  } else fields.push(`response=${quote(md5(`${ha1}:${nonce}:${ha2}`))}`);
  const opaque = params.get('opaque');
  if (opaque !== undefined) fields.push(`opaque=${quote(opaque)}`);
  return `Digest ${fields.join(', ')}`;
}

export function createCarrierCalls(deps: CarrierCallsDeps) {
  const { layer, ng, media, onError } = deps;
  const trace = deps.onTrace;
  const byUuid = new Map<string, CarrierLeg>();
  const byCallId = new Map<string, CarrierLeg>();

  /** In-dialog requests go to the edge: Kamailio record-routed the call. */
  const inDialog = inDialogRequest;

  function speak(leg: CarrierLeg, voice: Voice | null) {
    const speaking = voice !== null && leg.rtpTo !== null && leg.state === 'up';
    if (!speaking && !leg.speaking) return;
    leg.speaking = speaking;
    media.speak(leg.rtp, speaking ? voice : null);
  }

  function finish(leg: CarrierLeg) {
    if (leg.state === 'ended') return;
    leg.state = 'ended';
    leg.speaking = false;
    const received = leg.rtp.received;
    media.close(leg.rtp);
    byUuid.delete(leg.call.uuid);
    byCallId.delete(leg.callId);
    deps.mediaWatch.unwatch(`carrier:${leg.callId}`);
    trace('carrier.ended', { uuid: leg.call.uuid, received });
    ng.delete({ 'call-id': leg.callId, 'from-tag': leg.fromTag, flags: [] }).catch(onError);
  }

  function bye(leg: CarrierLeg) {
    speak(leg, null);
    leg.state = 'ending';
    leg.cseq += 1;
    layer.request(inDialog(leg, 'BYE', leg.cseq), deps.edge, {
      onResponse: (r) => {
        if (r.status >= 200) finish(leg);
      },
      onEnd: (reason) => {
        if (reason !== 'normal') finish(leg);
      },
    });
  }

  function ack(leg: CarrierLeg) {
    layer.sendStateless(inDialog(leg, 'ACK', leg.cseq), deps.edge).catch(onError);
  }

  async function answered(leg: CarrierLeg, ok: SipResponse) {
    establish(leg, ok);
    ack(leg);
    if (leg.state !== 'inviting') return bye(leg);
    leg.state = 'up';
    const answer = await answerMedia(ng, leg, ok, onError);
    if (!answer.codec) {
      trace('carrier.no-g711', { uuid: leg.call.uuid });
      bye(leg);
      await deps.events()?.externalRefused(leg.call.uuid, 3);
      return;
    }
    leg.codec = answer.codec;
    leg.rtpTo = answer.rtpTo;
    if (leg.rtpTo) media.peer(leg.rtp, leg.rtpTo, leg.codec);
    deps.mediaWatch.watch(`carrier:${leg.callId}`, () => leg.rtp.received);
    trace('carrier.answered', { uuid: leg.call.uuid, codec: leg.codec });
    await deps.events()?.externalAnswered(leg.call.uuid);
  }

  /** Sends (or, answering a challenge, re-sends with a new CSeq) the INVITE to the carrier. */
  function send(leg: CarrierLeg, auth?: Header) {
    const headers = leg.invite.headers.filter(
      (h) => !/^(proxy-)?authorization$/i.test(h.name) && h.name.toLowerCase() !== 'cseq',
    );
    headers.push({ name: 'CSeq', value: `${leg.cseq} INVITE` });
    if (auth) headers.push(auth);
    leg.invite = { ...leg.invite, headers };
    leg.tx = layer.request(leg.invite, deps.edge, {
      onResponse: (r) => {
        if (r.status < 200) return;
        if (r.status < 300) return void answered(leg, r).catch(onError);
        if ((r.status === 401 || r.status === 407) && leg.state === 'inviting' && !leg.authorized) {
          challenged(leg, r).catch((err) => {
            onError(err);
            refused(leg, 3);
          });
          return;
        }
        if (r.status === 487 && leg.state !== 'inviting') return finish(leg);
        refused(leg, deps.disposition(r.status), r.status);
      },
      onEnd: (reason) => {
        if (reason === 'normal') return;
        if (leg.state === 'cancelling') return finish(leg);
        // No answer at all (timer B) or the carrier unreachable: congestion, as the issue asks.
        if (leg.state === 'inviting') refused(leg, 2);
      },
    });
  }

  function refused(leg: CarrierLeg, disposition: Disposition, status?: number) {
    const wasInviting = leg.state === 'inviting';
    finish(leg);
    if (!wasInviting) return;
    trace('carrier.refused', { uuid: leg.call.uuid, status, disposition });
    deps.events()?.externalRefused(leg.call.uuid, disposition).catch(onError);
  }

  async function challenged(leg: CarrierLeg, r: SipResponse) {
    const carrier = leg.trunk.sipCarrier;
    const password = carrier?.username ? await deps.secret(leg.call.accountId, leg.trunk.id) : null;
    const header = r.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
    const answer =
      carrier?.username && password
        ? getHeaders(r, header)
            .map((c) => digestAnswer(c, 'INVITE', leg.invite.uri, carrier.username!, password))
            .find((a) => a !== null)
        : null;
    if (!answer) {
      trace('carrier.unauthorized', { uuid: leg.call.uuid, status: r.status, credentials: !!password });
      return refused(leg, 3, r.status);
    }
    if (leg.state !== 'inviting') return finish(leg);
    leg.authorized = true;
    leg.cseq += 1;
    send(leg, { name: r.status === 401 ? 'Authorization' : 'Proxy-Authorization', value: answer });
  }

  async function dial(call: CallRef, number: string, trunk: Trunk) {
    const carrier = trunk.sipCarrier!;
    const rtp = await media.open();
    const callId = newCallId('dzvin');
    const fromTag = newTag();
    const host = carrier.port === 5060 ? carrier.host : `${carrier.host}:${carrier.port}`;
    const params = carrier.transport === 'tcp' ? ';transport=tcp' : '';
    const caller = digits(trunk.number);
    const leg: CarrierLeg = {
      call,
      trunk,
      state: 'inviting',
      callId,
      fromTag,
      toTag: null,
      from: `<sip:${caller}@${carrier.host}>;tag=${fromTag}`,
      to: `<sip:${digits(number)}@${carrier.host}>`,
      invite: null as unknown as SipRequest,
      tx: null,
      cseq: 1,
      remoteTarget: null,
      routeSet: [],
      rtp,
      rtpTo: null,
      codec: 'PCMA',
      speaking: false,
      authorized: false,
    };
    byUuid.set(call.uuid, leg);
    byCallId.set(callId, leg);
    const offered = await offerMedia(ng, callId, fromTag, rtp.port);
    if (leg.state !== 'inviting') return finish(leg);
    leg.invite = {
      type: 'request',
      method: 'INVITE',
      uri: `sip:${digits(number)}@${host}${params}`,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: leg.from },
        { name: 'To', value: leg.to },
        { name: 'Call-ID', value: callId },
        { name: 'Contact', value: deps.contact },
        { name: 'P-Asserted-Identity', value: `<sip:+${caller}@${carrier.host}>` },
        { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS' },
        { name: 'X-Dzvin-Carrier', value: trunk.number },
        { name: 'Content-Type', value: 'application/sdp' },
      ],
      body: Buffer.from(offered, 'utf8'),
    };
    trace('carrier.invite', { uuid: call.uuid, callId, to: leg.invite.uri });
    send(leg);
  }

  return {
    /** The external party of `call` goes to the trunk's carrier. */
    dial(call: CallRef, number: string, trunk: Trunk) {
      dial(call, number, trunk).catch((err) => {
        onError(err);
        const leg = byUuid.get(call.uuid);
        if (leg) refused(leg, 2);
        else deps.events()?.externalRefused(call.uuid, 2).catch(onError);
      });
    },
    /** A request in one of our carrier dialogs (its BYE, a re-INVITE): true when it was ours. */
    onRequest(r: NewRequest): boolean {
      const leg = byCallId.get(getCallId(r.tx.request) ?? '');
      if (!leg) return false;
      const { tx } = r;
      const req = tx.request;
      if (req.method === 'BYE') {
        tx.reply(200, 'OK');
        const wasUp = leg.state === 'up';
        finish(leg);
        if (wasUp) deps.events()?.remoteHangup(leg.call.uuid).catch(onError);
        return true;
      }
      if (req.method === 'INVITE' && leg.state === 'up' && leg.toTag) {
        // Hold, resume, a new address or a session refresh from the carrier: its offer (or ours,
        // when it sent none) goes through rtpengine; Dzvin's side follows what rtpengine says.
        const d = {
          ng,
          callId: leg.callId,
          ourTag: leg.fromTag,
          theirTag: leg.toTag,
          port: leg.rtp.port,
          contact: deps.contact,
        };
        deps.reinvites
          .renegotiate(tx, d, (m) => {
            if (leg.state !== 'up') return;
            const rtpTo = m.rtpTo ?? leg.rtpTo;
            const codec = m.codec ?? leg.codec;
            if (
              rtpTo &&
              (rtpTo.address !== leg.rtpTo?.address || rtpTo.port !== leg.rtpTo?.port || codec !== leg.codec)
            ) {
              leg.rtpTo = rtpTo;
              leg.codec = codec;
              media.peer(leg.rtp, rtpTo, codec);
            }
            // On hold the carrier may rightly send nothing: its media watch pauses meanwhile.
            if (m.held) deps.mediaWatch.unwatch(`carrier:${leg.callId}`);
            else deps.mediaWatch.watch(`carrier:${leg.callId}`, () => leg.rtp.received);
            trace('carrier.reinvite', {
              uuid: leg.call.uuid,
              held: m.held,
              rtpTo: leg.rtpTo,
              codec: leg.codec,
            });
          })
          .catch(onError);
        return true;
      }
      if (req.method === 'OPTIONS') tx.reply(200, 'OK');
      else if (req.method === 'INVITE') tx.reply(491, 'Request Pending');
      else tx.reply(501, 'Not Implemented');
      return true;
    },
    /** The carrier's media end of a connected call (the driver's `arrange`), null when none. */
    mediaEnd(uuid: string): MediaEnd | null {
      const leg = byUuid.get(uuid);
      if (!leg?.rtpTo || leg.state !== 'up') return null;
      return { port: leg.rtp, codec: leg.codec };
    },
    /** The carrier hears a simulated party (`voice`) or, null, an employee's phone through the relay. */
    speak(uuid: string, voice: Voice | null) {
      const leg = byUuid.get(uuid);
      if (leg) speak(leg, voice);
    },
    /** The carrier's RTP stopped (media watch): it vanished; the call ends as if it hung up. */
    silent(callId: string) {
      const leg = byCallId.get(callId);
      if (leg?.state !== 'up') return;
      bye(leg);
      deps.events()?.remoteHangup(leg.call.uuid).catch(onError);
    },
    /** The call ended: CANCEL a carrier still ringing, BYE one talking. */
    ended(call: CallRef) {
      const leg = byUuid.get(call.uuid);
      if (!leg) return;
      if (leg.state === 'inviting') {
        leg.state = 'cancelling';
        if (leg.tx) leg.tx.cancel();
        else finish(leg);
      } else if (leg.state === 'up') bye(leg);
    },
    /** The carrier calls now (tests, metrics). */
    calls: () =>
      [...byUuid.values()].map((l) => ({ uuid: l.call.uuid, state: l.state, received: l.rtp.received })),
  };
}

export type CarrierCalls = ReturnType<typeof createCarrierCalls>;
