// The dialog Dzvin holds as a UAC — an INVITE it sent, to a phone (sip-driver.ts) or to a carrier
// (carrier-calls.ts): what the 2xx establishes (RFC 3261 §12.1.2), the requests sent in it, and
// the media the answer brings (rtpengine's answer for our side).

import { parseNameAddr } from './header-values.ts';
import type { G711Codec } from './media/g711.ts';
import { g711Sdp } from './media/local-media.ts';
import type { NgClient } from './media/ng-client.ts';
import type { NgSdpOptions } from './media/ng-types.ts';
import { firstAudioStream, g711Codecs } from './media/sdp-audio.ts';
import { getHeader, getHeaders, type SipRequest, type SipResponse } from './message.ts';
import type { Remote } from './transport.ts';

export interface UacDialog {
  callId: string;
  fromTag: string;
  toTag: string | null;
  from: string;
  to: string;
  invite: SipRequest;
  remoteTarget: string | null;
  routeSet: string[];
}

/** The dialog's state from its 2xx: the remote tag, the target (Contact), the route set (Record-Route reversed). */
export function establish(d: UacDialog, ok: SipResponse) {
  const to = parseNameAddr(getHeader(ok, 'To') ?? '');
  d.toTag = to.ok ? (to.value.params.tag ?? null) : null;
  const target = parseNameAddr(getHeader(ok, 'Contact') ?? '');
  d.remoteTarget = target.ok ? getHeader(ok, 'Contact')!.replace(/^[^<]*<([^>]*)>.*$/, '$1') : d.invite.uri;
  d.routeSet = getHeaders(ok, 'Record-Route').reverse();
}

/** A request in the dialog (ACK, BYE, NOTIFY…) with CSeq `seq`: to the remote target, along the route set. */
export function inDialogRequest(d: UacDialog, method: string, seq: number): SipRequest {
  return {
    type: 'request',
    method,
    uri: d.remoteTarget ?? d.invite.uri,
    headers: [
      { name: 'Max-Forwards', value: '70' },
      ...d.routeSet.map((value) => ({ name: 'Route', value })),
      { name: 'From', value: d.from },
      { name: 'To', value: `${d.to};tag=${d.toTag}` },
      { name: 'Call-ID', value: d.callId },
      { name: 'CSeq', value: `${seq} ${method}` },
    ],
    body: Buffer.alloc(0),
  };
}

/**
 * rtpengine's flags for the browser's side of a call (issue 18, docs/webrtc.md): WebRTC wants ICE,
 * DTLS-SRTP and RTP/RTCP on one port; Dzvin's side stays plain RTP/AVP on loopback. In the offer
 * to a browser rtpengine prefers the passive DTLS end (its SDP still says `setup:actpass`; the
 * browser answers `active` and starts the handshake — reinvite.ts answers re-offers so), adds ICE candidates and a=mid, offers and requires rtcp-mux, and no SDES
 * keys (browsers refuse SDES).
 */
export const webrtcOffer = (): NgSdpOptions => ({
  ICE: 'force',
  DTLS: 'passive',
  'transport-protocol': 'UDP/TLS/RTP/SAVPF',
  'rtcp-mux': ['offer', 'require'],
  SDES: ['off'],
  flags: ['generate-mid'],
});

/**
 * A browser's SDP as Dzvin's side gets it — its answer to our offer, or its own offer (a call
 * placed from the browser): ICE and DTLS ended in rtpengine, RTCP on its own port again.
 */
export const webrtcAnswer = (): NgSdpOptions => ({
  ICE: 'remove',
  'transport-protocol': 'RTP/AVP',
  'rtcp-mux': ['demux'],
});

/**
 * Dzvin's answer to a browser's offer, as the browser gets it (the mirror of webrtcOffer), with
 * rtpengine the active DTLS end (`a=setup:active`, the browser offered actpass). Not passive:
 * rtpengine answers ICE checks from the offer's credentials at once, and when ICE completes before
 * our `answer` command it starts DTLS as the client; a passive answer then left both ends waiting
 * for the other's hello (seen: ICE connected, DTLS never, one run in two).
 */
export const webrtcReply = (): NgSdpOptions => ({
  ICE: 'force',
  DTLS: 'active',
  'transport-protocol': 'UDP/TLS/RTP/SAVPF',
  'rtcp-mux': ['accept', 'require'],
  SDES: ['off'],
});

/** An offer from a browser: WebRTC's DTLS-SRTP profile (RFC 5764) on its audio stream. */
export function isWebrtcSdp(sdp: string): boolean {
  return /^UDP\/TLS\/RTP\/SAVPF?$/i.test(firstAudioStream(sdp)?.protocol ?? '');
}

/**
 * Our offer for an INVITE we send: Dzvin's RTP socket at `rtpPort`, as rtpengine rewrites it —
 * for a browser (`webrtc`) with webrtcOffer(), for any other phone or carrier plain RTP/AVP.
 */
export async function offerMedia(
  ng: NgClient,
  callId: string,
  fromTag: string,
  rtpPort: number,
  webrtc = false,
): Promise<string> {
  const offered = await ng.offer({
    'call-id': callId,
    'from-tag': fromTag,
    sdp: g711Sdp(rtpPort),
    replace: ['origin', 'session-connection'],
    ...(webrtc ? webrtcOffer() : { ICE: 'remove' }),
  });
  return offered.sdp;
}

/**
 * The far end's answer SDP through rtpengine: the G.711 law it chose first and where rtpengine
 * takes RTP for it (null when rtpengine failed: `onError` heard why). Null codec: no G.711 at all.
 */
export async function answerMedia(
  ng: NgClient,
  d: UacDialog,
  ok: SipResponse,
  onError: (err: unknown) => void,
  webrtc = false,
): Promise<{ codec: G711Codec | null; rtpTo: Remote | null }> {
  const sdp = ok.body.toString('utf8');
  const codecs = g711Codecs(sdp);
  if (!codecs.length) return { codec: null, rtpTo: null };
  try {
    const forUs = await ng.answer({
      'call-id': d.callId,
      'from-tag': d.fromTag,
      'to-tag': d.toTag ?? '',
      sdp,
      replace: ['origin', 'session-connection'],
      ...(webrtc ? webrtcAnswer() : { ICE: 'remove' }),
    });
    const media = firstAudioStream(forUs.sdp);
    return { codec: codecs[0], rtpTo: media?.address ? { address: media.address, port: media.port } : null };
  } catch (err) {
    onError(err);
    return { codec: codecs[0], rtpTo: null };
  }
}
