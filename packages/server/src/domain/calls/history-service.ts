import {
  CALLS_MAX_LIMIT,
  type CallHistoryQuery,
  type CallHistoryRecord,
  DIRECTION,
  type HistoryLeg,
  parseDirections,
} from '@dzvin/protocol';
import { badInput, DomainError } from '../errors.ts';
import type { AccountRecord, Store } from '../ports.ts';
import type { Direction, FinishedCall, HistoryQuery, Party } from './call-model.ts';

/** Input times are milliseconds; a value below 1e12 is taken as seconds (spec #1). */
const toMs = (t: number) => (t < 1e12 ? t * 1000 : t);

type DirectionsInput = CallHistoryQuery['directions'] | string | number | null;

const USER_DIRECTIONS: Direction[] = [
  DIRECTION.internal,
  DIRECTION.outgoing,
  DIRECTION.incoming,
  DIRECTION.pause,
  DIRECTION.unpause,
];

/**
 * `directions` of users.api: the encodings of spec #7 (bitmask, repeated keys, PHP style, comma
 * list) over 1/2/4 plus 32 pause / 64 unpause (`96` = both pause kinds). Absent, it selects the
 * three call directions, as the document says; pause records come only when asked for.
 * Throws `RangeError` naming the bad part, like `parseDirections`.
 * @example `parseUserDirections(['32'])` → `[32]`; `parseUserDirections('100')` → `[4, 32, 64]`
 */
export function parseUserDirections(input: DirectionsInput | undefined): Direction[] {
  return parseDirections<Direction>(input, USER_DIRECTIONS, [
    DIRECTION.internal,
    DIRECTION.outgoing,
    DIRECTION.incoming,
  ]);
}

function directionsOrBadInput(parse: () => Direction[]): Direction[] {
  try {
    return parse();
  } catch (e) {
    if (e instanceof RangeError) throw badInput(e.message);
    throw e;
  }
}

/** The period and page of a history query, validated (the route schema checks types first). */
function parsePage(q: CallHistoryQuery): Omit<HistoryQuery, 'directions'> {
  for (const name of ['timeFrom', 'timeTo'] as const)
    if (!Number.isSafeInteger(q[name]) || q[name] < 0)
      throw badInput(`Invalid parameter '${name}': is required (ms since 1970)`);
  const from = toMs(q.timeFrom);
  const to = toMs(q.timeTo);
  if (from > to) throw badInput(`timeFrom (${from}) is after timeTo (${to})`);
  const limit = q.limit ?? CALLS_MAX_LIMIT;
  if (!Number.isInteger(limit) || limit < 0 || limit > CALLS_MAX_LIMIT)
    throw new DomainError('LIMIT_OUT_OF_RANGE', `Invalid parameter 'limit': must be 0..${CALLS_MAX_LIMIT}`);
  const offset = q.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw badInput("Invalid parameter 'offset': must be a non-negative integer");
  return { from, to, limit, offset };
}

const historyLeg = (p: Party | null): HistoryLeg | null =>
  p ? { id: p.id, type: p.type, displayName: p.displayName, ext: p.ext } : null;

/**
 * A stored call as the three history endpoints return it: every documented key present, null
 * when unknown (spec #3); `otherLegName` falls back to the number (the document: "otherwise equal
 * to otherLegNum"); the recording URL is on the host the client called (`baseUrl`, no slash at
 * the end) at the documented public path (spec #15).
 */
export function toHistoryRecord(c: FinishedCall, baseUrl: string): CallHistoryRecord {
  return {
    parentUuid: c.parentUuid,
    uuid: c.uuid,
    endAt: c.endAt,
    lgDirection: c.direction,
    otherLegNum: c.otherLegNum,
    otherLegName: c.otherLegName ?? c.otherLegNum,
    leg: historyLeg(c.leg),
    leg2: historyLeg(c.leg2),
    billSecs: c.billSecs,
    duration: c.duration,
    disposition: c.disposition,
    transferHistory: c.transferHistory,
    audioRecUrl: c.recordingUuid
      ? `${baseUrl}/rest/public/calls/${encodeURIComponent(c.recordingUuid)}/audio`
      : null,
    trunk: c.trunk,
  };
}

/** A JSON array of `CallHistoryRecord`s as text, ready to send (built by the store). */
export type RecordsJson = string;

/** company.api, missed.api and users.api (spec #7, #8, #13, #14). */
export function createHistoryService(deps: { store: Store }) {
  const { store } = deps;
  return {
    /** One record per company call ending in [timeFrom, timeTo], newest first. */
    async company(a: AccountRecord, q: CallHistoryQuery, baseUrl: string): Promise<RecordsJson> {
      const page = parsePage(q);
      const directions = directionsOrBadInput(() => parseDirections(q.directions));
      return store.calls.companyRecords(a.id, { ...page, directions }, baseUrl);
    },

    /**
     * Incoming calls that need a call back (spec #13). `directions` is accepted (spec #7); missed
     * calls are incoming, so a filter without 4 selects nothing.
     */
    async missed(a: AccountRecord, q: CallHistoryQuery, baseUrl: string): Promise<RecordsJson> {
      const page = parsePage(q);
      const directions = directionsOrBadInput(() => parseDirections(q.directions));
      if (!directions.includes(DIRECTION.incoming)) return '[]';
      return store.calls.missedRecords(a.id, page, baseUrl);
    },

    /** Employee legs (children carry parentUuid) and, with directions 32/64, pause records. */
    async users(
      a: AccountRecord,
      q: CallHistoryQuery,
      baseUrl: string,
      /** An employee's own session: their legs only. */
      employeeId: number | null = null,
    ): Promise<RecordsJson> {
      const page = parsePage(q);
      const directions = directionsOrBadInput(() => parseUserDirections(q.directions));
      return store.calls.usersRecords(
        a.id,
        { ...page, directions, ...(employeeId === null ? {} : { employeeId }) },
        baseUrl,
      );
    },
  };
}

export type HistoryService = ReturnType<typeof createHistoryService>;
