/**
 * Call tracking (a Dzvin extension, the source of the document's UTM batches): a website session
 * is given a number of the account's tracking pool for a while, a callback widget asks the PBX
 * to call a visitor back; the calls they lead to are sent to CRMs every minute as UTM batches.
 */

/** What a website knows about its visitor (each null when the site did not say). */
export interface VisitData {
  utmSource: string | null;
  utmMedium: string | null;
  utmCampaign: string | null;
  utmContent: string | null;
  utmTerm: string | null;
  googleClientId: string | null;
  clientIp: string | null;
  referrer: string | null;
}

/** The document's labels: a tracked number (`calltracker`), the callback widget (`callcatcher`). */
export type TrackingKind = 'calltracker' | 'callcatcher';

/** A trunk number of the account dedicated to call tracking. */
export interface TrackingNumber {
  id: number;
  /** E.164, a trunk number of the account. */
  number: string;
  /** Reserved for a website session until then (epoch ms), or null. */
  reservedUntil: number | null;
  /** When a session was last given this number, or null when never. */
  lastGivenAt: number | null;
  createdAt: number;
}

export interface TrackingSession extends VisitData {
  id: number;
  accountId: number;
  kind: TrackingKind;
  /** The tracking number given (calltracker) or the visitor's number (callcatcher), E.164. */
  number: string;
  createdAt: number;
  expiresAt: number;
}

/** A call that a tracking source led to; batched once its company call record exists. */
export interface TrackedCallRow extends VisitData {
  accountId: number;
  callUuid: string;
  sessionId: number;
  /** Rendered as the document shows it (`"callcatcher\n firstcall"`). */
  label: string;
  createdAt: number;
}

/** A tracked call whose call has ended, with the times of its company call record. */
export interface CompletedTrackedCall extends VisitData {
  id: number;
  accountId: number;
  callUuid: string;
  label: string;
  otherLegNum: string | null;
  trunkNum: string | null;
  dialAt: number;
  endAt: number;
}

/** Persistence of call tracking; implemented once for SQLite and PostgreSQL. */
export interface TrackingStore {
  numbers: {
    list(accountId: number): Promise<TrackingNumber[]>;
    /** Null when the number is already in the pool. */
    add(accountId: number, number: string, now: number): Promise<TrackingNumber | null>;
    remove(accountId: number, id: number): Promise<boolean>;
  };
  /**
   * Atomically reserves, until `until`, the free number (no reservation beyond `now`) of the
   * pool that was given least recently (never given first); null when every number is taken.
   */
  reserve(accountId: number, now: number, until: number): Promise<TrackingNumber | null>;
  createSession(s: Omit<TrackingSession, 'id'>): Promise<TrackingSession>;
  /** The latest calltracker session holding `number` at `at`, if any. */
  sessionAt(accountId: number, number: string, at: number): Promise<TrackingSession | null>;
  /** Whether the account has any company call with this other party (E.164) dialled before `before`. */
  calledBefore(accountId: number, number: string, before: number): Promise<boolean>;
  addCall(row: TrackedCallRow): Promise<void>;
  /**
   * Tracked calls not yet batched whose company call record exists, oldest first; inside a
   * transaction on PostgreSQL the rows are locked (`SKIP LOCKED`: one batcher takes them).
   */
  unbatched(limit: number): Promise<CompletedTrackedCall[]>;
  /** Advances the durable "since last batch" mark: these rows are batched at `at`. */
  markBatched(ids: number[], at: number): Promise<void>;
}
