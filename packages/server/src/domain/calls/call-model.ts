import type { CallEventName, Disposition, OtherLeg } from '@dzvin/protocol';

/**
 * The call model of the domain: no telephony details (spec: directions 1/2/4, pause 32 /
 * unpause 64; dispositions 0..4; legs of type 1 user, 2 group, 4 IVR).
 */
export type Direction = 1 | 2 | 4 | 32 | 64;

/** Who a leg is: an employee (1), a ring group (2) or an IVR scenario (4). */
export interface Party {
  type: 1 | 2 | 4;
  id: number;
  /** Internal number; null for an IVR. */
  ext: string | null;
  displayName: string;
}

/** Whether the employee is one of the call's legs (an employee's own session sees such calls). */
export const onCall = (c: { leg: Party | null; leg2: Party | null }, employeeId: number) =>
  (c.leg?.type === 1 && c.leg.id === employeeId) || (c.leg2?.type === 1 && c.leg2.id === employeeId);

/**
 * What kind of history row a record is:
 * - `company`: one record per company call (company.api, missed.api);
 * - `user`: one record per employee leg, children of a company call carry `parentUuid` (users.api);
 * - `pause` / `unpause`: an employee's pause records (users.api, directions 32 / 64).
 */
export type CallRecordKind = 'company' | 'user' | 'pause' | 'unpause';

/** A call (or leg) that has ended, as stored for history. Times are epoch ms. */
export interface FinishedCall {
  uuid: string;
  accountId: number;
  kind: CallRecordKind;
  parentUuid: string | null;
  direction: Direction;
  leg: Party | null;
  leg2: Party | null;
  /** E.164 where it is a phone number; null for internal calls. */
  otherLegNum: string | null;
  /** The name a CRM or the contacts book gave the number, else the number itself (null when internal). */
  otherLegName: string | null;
  otherLegs: OtherLeg[];
  trunkNum: string | null;
  trunkName: string | null;
  /** The documented `trunk` string, e.g. `o=380442249895;` (attempted trunks of an outgoing call). */
  trunk: string | null;
  dialAt: number;
  bridgeAt: number | null;
  endAt: number;
  billSecs: number;
  duration: number;
  disposition: Disposition;
  /** Exts in transfer order, rendered as `"017 > 019"`; null when nobody answered. */
  transferHistory: string | null;
  /** The uuid whose recording covers this call (the company call's for its children), or null. */
  recordingUuid: string | null;
}

export interface HistoryQuery {
  from: number;
  to: number;
  /** Directions selected (already parsed; spec #7). */
  directions: Direction[];
  offset: number;
  limit: number;
  /** users.api for an employee's own session: only the rows where they are `leg` or `leg2`. */
  employeeId?: number;
}

/** Persistence of finished calls. History is indexed on (account, end time). */
export interface CallStore {
  save(call: FinishedCall): Promise<void>;
  /** company.api: company records ending in [from, to], newest first. */
  company(accountId: number, q: HistoryQuery): Promise<FinishedCall[]>;
  /** users.api: employee legs and pause records ending in [from, to], newest first. */
  users(accountId: number, q: HistoryQuery): Promise<FinishedCall[]>;
  /**
   * missed.api (spec #13): incoming company calls ending in [from, to] that nobody answered and
   * after which no answered call with that number (either direction) happened; newest first.
   */
  missed(accountId: number, q: Omit<HistoryQuery, 'directions'>): Promise<FinishedCall[]>;
  /**
   * The same three lists as the document's records (`toHistoryRecord`), as one JSON array text
   * built by the database, for the HTTP endpoints (recording links on `baseUrl`).
   */
  companyRecords(accountId: number, q: HistoryQuery, baseUrl: string): Promise<string>;
  usersRecords(accountId: number, q: HistoryQuery, baseUrl: string): Promise<string>;
  missedRecords(accountId: number, q: Omit<HistoryQuery, 'directions'>, baseUrl: string): Promise<string>;
  /** A finished call by uuid in any account (public recording URLs are keyed by uuid alone). */
  byUuid(uuid: string): Promise<FinishedCall | null>;
}

/** A call as it is in progress (active/v3), per leg. */
export interface LiveCall {
  uuid: string;
  accountId: number;
  parentUuid: string | null;
  direction: 1 | 2 | 4;
  leg: Party | null;
  leg2: Party | null;
  otherLegNum: string | null;
  otherLegName: string | null;
  otherLegs: OtherLeg[];
  trunkNum: string | null;
  trunkName: string | null;
  dialAt: number;
  bridgeAt: number | null;
  lastEvent: CallEventName;
}

export type RecordingTrack = 'mixed' | 'rx' | 'tx';
/** A side of a call, as audio is fed: rx = the external party, tx = the employee. */
export type RecordingSide = Exclude<RecordingTrack, 'mixed'>;

/**
 * Where a recording's audio comes from: `own` = the recorder's audio source (the synthesized
 * voices of simulated phones), `fed` = only what a driver feeds through `feed` (a real phone's
 * RTP and what was sent to it), silence where nothing is fed.
 */
export type RecordingSource = 'own' | 'fed';

export interface RecordingOptions {
  /** Default `own`. */
  source?: RecordingSource;
}

/**
 * Records a call's audio while it runs (streamed, never assembled at hangup): a mixed track
 * and separate rx (what the employee hears: the external party) and tx (what the employee
 * says) tracks. The core starts and stops it; the two sides come from the recorder's own audio
 * source (the simulator's synthesized voices) or, for a call with a real phone (`source: 'fed'`),
 * from the driver, which feeds the phone's RTP decoded and what it sent the phone; the recorder
 * mixes them into the mixed track.
 */
export interface Recorder {
  /** Starts the three tracks at `atMs` (the bridge time). */
  start(uuid: string, atMs: number, opts?: RecordingOptions): void;
  /**
   * Feeds one side's audio: `pcm` is 8 kHz 16-bit mono PCM (G.711 decoded; a Buffer holds
   * little-endian samples), its first sample at `atMs` on the recorder's clock (fractions of a
   * millisecond allowed: one sample is 1/8 ms), e.g. a 20 ms RTP frame of 160 samples at the
   * time its RTP timestamp gives. Audio is placed by time, not by arrival: frames may come out of
   * order or late by up to about a second; a gap is silence; audio for time already written, or
   * for a call not recording, is dropped; so is audio fed for a call whose recorder's own source
   * writes it (`source: 'own'`), so a driver may feed every call it carries. Returns at once (the
   * writes are queued); `pcm` is kept, not copied, until written, so hand over a buffer that is
   * not reused.
   */
  feed(uuid: string, side: RecordingSide, pcm: Int16Array | Buffer, atMs: number): void;
  /** Writes the remaining audio up to `atMs` (silence where none came), finalizes and closes the files. */
  stop(uuid: string, atMs: number): Promise<void>;
  /** Absolute path of a finished track, or null when there is none. */
  path(uuid: string, track: RecordingTrack): string | null;
  /**
   * Keeps what a killed process had written of a recording (its call closed after the crash):
   * true when the recording is now finished and served, false when nothing of it is here.
   */
  salvage?(uuid: string): boolean;
}
