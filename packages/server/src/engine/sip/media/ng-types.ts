// The NG messages Dzvin sends, typed with the key names rtpengine's protocol uses
// (docs/ng_control_protocol.md of rtpengine 10.5), so a request reads like rtpengine's manual and
// Kamailio's rtpengine module. Only what the B2BUA needs is named; `request()` on the client takes
// any other command or key as a plain dictionary.
import type { BencodeDict, BencodeValue } from './bencode.ts';

/** A string rtpengine documents, or any other (rtpengine grows flags between releases). */
type Open<T extends string> = T | (string & Record<never, never>);

/** Entries of `flags` (rtpengine accepts spaces or hyphens in them). */
export type NgFlag = Open<
  | 'trust address'
  | 'SIP source address'
  | 'symmetric'
  | 'asymmetric'
  | 'strict source'
  | 'media handover'
  | 'port latching'
  | 'no port latching'
  | 'NAT-wait'
  | 'pierce NAT'
  | 'record call'
  | 'inject DTMF'
  | 'detect DTMF'
  | 'single codec'
  | 'reuse codecs'
  | 'allow transcoding'
  | 'always transcode'
  | 'original sendrecv'
  | 'loop protect'
  | 'reset'
  | 'early media'
  | 'inactive'
  | 'RTCP mirror'
  | 'all'
  | 'fatal'
>;

/** Entries of `replace`: which parts of the SDP rtpengine rewrites besides the media lines. */
export type NgReplace = Open<
  | 'origin'
  | 'session-connection'
  | 'session connection'
  | 'session-name'
  | 'SDP-version'
  | 'username'
  | 'zero-address'
  | 'force-increment-sdp-ver'
>;

/** The `codec` dictionary: lists of codec names (`PCMA`, `opus/48000/2`, `telephone-event`, `all`). */
export type NgCodecOptions = {
  /** Removed from the SDP as if never offered. */
  strip?: string[];
  /** Kept (with `strip: ['all']`), in this order of preference. */
  offer?: string[];
  /** Kept (with `strip`/`mask: ['all']`), order unchanged. */
  except?: string[];
  /** Added, transcoding when the peer picks them. */
  transcode?: string[];
  /** Not offered onwards but still accepted from the offerer (with `transcode`). */
  mask?: string[];
  /** Offered, and accepted from the offerer even if the answerer refuses them. */
  accept?: string[];
  consume?: string[];
  set?: string[];
};

/** Keys that select a call (and a participant in it). */
export interface NgCallRef {
  'call-id': string;
  'from-tag'?: string;
  'to-tag'?: string;
  'via-branch'?: string;
  /** Selects a participant by the label it was given (instead of `from-tag`). */
  label?: string;
}

/** Options of the messages that carry an SDP (`offer`, `answer`, `subscribe request/answer`). */
export interface NgSdpOptions {
  flags?: NgFlag[];
  replace?: NgReplace[];
  ICE?: 'remove' | 'force' | 'default' | 'force-relay' | 'optional';
  /** Rewrites the SDP's transport protocol (`accept` in an answer takes the answerer's). */
  'transport-protocol'?: 'RTP/AVP' | 'RTP/AVPF' | 'RTP/SAVP' | 'RTP/SAVPF' | 'UDP/TLS/RTP/SAVPF' | 'accept';
  codec?: NgCodecOptions;
  'rtcp-mux'?: ('offer' | 'require' | 'demux' | 'accept' | 'reject')[];
  DTLS?: 'off' | 'no' | 'disable' | 'passive' | 'active';
  SDES?: string[];
  /** Logical interfaces (`--interface NAME/…`) for [the offerer's side, the answerer's side]. */
  direction?: [string, string];
  interface?: string;
  'address family'?: 'IP4' | 'IP6';
  'media address'?: string;
  'received from'?: ['IP4' | 'IP6', string];
  'record call'?: 'yes' | 'no' | 'on' | 'off';
  ptime?: number;
  'ptime-reverse'?: number;
  'endpoint-learning'?: 'off' | 'immediate' | 'delayed' | 'heuristic';
  'set-label'?: string;
  metadata?: string;
}

export interface NgOfferRequest extends NgCallRef, NgSdpOptions {
  'from-tag': string;
  sdp: string;
}

export interface NgAnswerRequest extends NgOfferRequest {
  'to-tag': string;
}

export interface NgDeleteRequest extends NgCallRef {
  'from-tag'?: string;
  /** `fatal`: an unknown call is an error instead of `ok` with a warning. */
  flags?: NgFlag[];
  /** Seconds to keep the call after this delete (0: at once), overriding `--delete-delay`. */
  'delete delay'?: number;
}

export type NgQueryRequest = NgCallRef;

/** `play media` to one participant (`from-tag` or `label`), or to all with `flags: ['all']`. */
export interface NgPlayMediaRequest extends NgCallRef {
  /** A file the daemon can read (anything ffmpeg decodes; resampled and encoded for the call). */
  file?: string;
  /** The file's bytes themselves (only tiny files fit a datagram). */
  blob?: Buffer;
  'db-id'?: number;
  'repeat-times'?: number;
  'start-pos'?: number;
  flags?: NgFlag[];
}

export interface NgStopMediaRequest extends NgCallRef {
  flags?: NgFlag[];
}

/** A fork of existing participants' media to a new one (a recorder, a monitor). */
export interface NgSubscribeRequest extends NgCallRef, NgSdpOptions {
  /** Several sources at once (or `flags: ['all']`). */
  'from-tags'?: string[];
}

export interface NgSubscribeAnswerRequest extends NgCallRef, NgSdpOptions {
  'to-tag': string;
  sdp: string;
}

export interface NgUnsubscribeRequest extends NgCallRef {
  'to-tag': string;
}

/** Every reply: `result` is `ok` (or `pong`) here, errors having become NgRejectedError. */
export interface NgReply {
  result: string;
  /** A non-fatal problem rtpengine reports with an `ok` (e.g. deleting an unknown call). */
  warning?: string;
  [key: string]: BencodeValue | undefined;
}

export interface NgSdpReply extends NgReply {
  sdp: string;
}

export type NgStreamStats = {
  packets: number;
  bytes: number;
  errors: number;
};

/** `query` (and `delete`) replies: the call's participants and packet counters. */
export interface NgQueryReply extends NgReply {
  created?: number;
  'last signal'?: number;
  /** Keyed by SIP tag: each participant's medias and their streams (see rtpengine's manual). */
  tags?: Record<string, BencodeDict>;
  totals?: { RTP: NgStreamStats; RTCP: NgStreamStats };
}

export interface NgPlayMediaReply extends NgReply {
  /** Milliseconds, when rtpengine could tell the file's length. */
  duration?: number;
}

export interface NgSubscribeReply extends NgSdpReply {
  'from-tags'?: string[];
  'to-tag': string;
}
