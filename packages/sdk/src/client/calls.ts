import type { ActiveCall, CallHistoryRecord, MakeCallRequest, MakeCallResponse } from '@dzvin/protocol';
import { type Paginated, paginate } from './paginate.ts';
import type { Requester } from './phonet-client.ts';

/**
 * Call directions by name, as the document numbers them (`lgDirection`).
 * @example
 * ```ts
 * client.calls.company({ from, to, directions: ['incoming'] }); // same as directions: [DIRECTIONS.incoming]
 * ```
 */
export const DIRECTIONS = { internal: 1, outgoing: 2, incoming: 4, pause: 32, unpause: 64 } as const;

/**
 * A direction a company/missed filter may select: a name or its number (1, 2, 4).
 * @example
 * ```ts
 * const d: CallDirectionFilter = 'outgoing';
 * ```
 */
export type CallDirectionFilter = 'internal' | 'outgoing' | 'incoming' | 1 | 2 | 4;

/**
 * A direction users.api may select: the call directions plus pause (32) and unpause (64) records.
 * @example
 * ```ts
 * const d: UserDirectionFilter = 'pause';
 * ```
 */
export type UserDirectionFilter = CallDirectionFilter | 'pause' | 'unpause' | 32 | 64;

/**
 * A point in time: a Date, or milliseconds since 1970 (spec #1).
 * @example
 * ```ts
 * const t: TimeInput = new Date('2026-11-26T00:00:00Z');
 * ```
 */
export type TimeInput = Date | number;

/**
 * The period and filter of a call-history list.
 * @example
 * ```ts
 * const q: CallHistoryOptions = { from: Date.now() - 3_600_000, to: Date.now(), directions: ['incoming', 'outgoing'] };
 * ```
 */
export interface CallHistoryOptions<D = CallDirectionFilter> {
  /** Start of the period (`timeFrom`). */
  from: TimeInput;
  /** End of the period (`timeTo`); a fixed past end keeps the pages stable while you read them. */
  to: TimeInput;
  /** Which directions (default: all the endpoint offers). */
  directions?: readonly D[];
  /** Records per request, 1..50 (default 50, the most the document allows). */
  pageSize?: number;
  /** Skip this many records first. */
  offset?: number;
  signal?: AbortSignal;
}

const ms = (t: TimeInput) => (t instanceof Date ? t.getTime() : t);

/** The directions as one bitmask (the document's encoding; Dzvin accepts every encoding, spec #7). */
function directionMask(ds: readonly (string | number)[] | undefined): number | undefined {
  if (!ds || ds.length === 0) return undefined;
  let mask = 0;
  for (const d of ds) {
    const n = typeof d === 'number' ? d : DIRECTIONS[d as keyof typeof DIRECTIONS];
    if (n === undefined) throw new TypeError(`unknown call direction '${d}'`);
    mask |= n;
  }
  return mask;
}

/** `client.calls`. @internal */
export function createCallsApi(c: Requester) {
  const history =
    (name: 'company' | 'missed' | 'users') =>
    (o: CallHistoryOptions<string | number>): Paginated<CallHistoryRecord> => {
      const pageSize = o.pageSize ?? 50;
      if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 50)
        throw new RangeError('pageSize must be an integer from 1 to 50');
      const query = {
        timeFrom: ms(o.from),
        timeTo: ms(o.to),
        directions: directionMask(o.directions),
      };
      return paginate(
        pageSize,
        (offset, limit) =>
          c.request<CallHistoryRecord[]>({
            method: 'GET',
            path: `/rest/calls/${name}.api`,
            query: { ...query, limit, offset },
            signal: o.signal,
          }),
        o.offset ?? 0,
      );
    };
  return {
    /**
     * Click-to-call (`POST /rest/user/makeCall`): rings the employee `legExt`, then dials
     * `otherLegNum`. Never retried (it would place a second call).
     * @example
     * ```ts
     * const { uuid } = await client.calls.make({ legExt: '001', otherLegNum: '+380993034330' });
     * ```
     */
    make(o: MakeCallRequest, opts: { signal?: AbortSignal } = {}): Promise<MakeCallResponse> {
      return c.request({ method: 'POST', path: '/rest/user/makeCall', body: o, signal: opts.signal });
    },
    /**
     * Calls in progress (`GET /rest/calls/active/v3`).
     * @example
     * ```ts
     * const live = await client.calls.active();
     * ```
     */
    active(opts: { signal?: AbortSignal } = {}): Promise<ActiveCall[]> {
      return c.request({ method: 'GET', path: '/rest/calls/active/v3', signal: opts.signal });
    },
    /**
     * Ends a call in any state (`GET /rest/calls/active/{uuid}/hangup`, as documented).
     * @example
     * ```ts
     * await client.calls.hangup(uuid);
     * ```
     */
    async hangup(uuid: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
      await c.request({
        method: 'GET',
        path: `/rest/calls/active/${encodeURIComponent(uuid)}/hangup`,
        signal: opts.signal,
      });
    },
    /**
     * Finished company calls in a period (`GET /rest/calls/company.api`), newest first, every page.
     * @example
     * ```ts
     * for await (const call of client.calls.company({ from: Date.now() - 86_400_000, to: Date.now() })) {
     *   console.log(call.uuid, call.billSecs);
     * }
     * ```
     */
    company: history('company') as (
      o: CallHistoryOptions<CallDirectionFilter>,
    ) => Paginated<CallHistoryRecord>,
    /**
     * Incoming calls that still need a call back (`GET /rest/calls/missed.api`, spec #13).
     * @example
     * ```ts
     * const toCallBack = await client.calls.missed({ from: startOfDay, to: new Date() }).toArray();
     * ```
     */
    missed: history('missed') as (o: CallHistoryOptions<CallDirectionFilter>) => Paginated<CallHistoryRecord>,
    /**
     * Employee call legs and pause/unpause records (`GET /rest/calls/users.api`).
     * @example
     * ```ts
     * const pauses = await client.calls.users({ from, to, directions: ['pause', 'unpause'] }).toArray();
     * ```
     */
    users: history('users') as (o: CallHistoryOptions<UserDirectionFilter>) => Paginated<CallHistoryRecord>,
  };
}
