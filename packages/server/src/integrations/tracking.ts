import type { CallbackRequest, VisitInfo } from '@dzvin/protocol';
import type { CallBus } from '../domain/calls/call-engine.ts';
import type { LiveCall } from '../domain/calls/call-model.ts';
import type { Clock } from '../domain/clock.ts';
import { badInput, DomainError } from '../domain/errors.ts';
import { normalizePhone } from '../domain/phone.ts';
import type { AccountRecord, Store } from '../domain/ports.ts';
import type { TrackingKind, TrackingNumber, TrackingSession, VisitData } from '../domain/tracking.ts';
import { renderLabel } from './utm.ts';

/**
 * Call tracking, the source of UTM batches (a Dzvin extension):
 * - a website session registers its UTM parameters, Google client id, referrer (and the
 *   visitor's IP) and is given the least recently given free number of the account's tracking
 *   pool for a window; an incoming call to that number within the window carries the session's
 *   data, label `calltracker`;
 * - the callback widget: a visitor leaves a number, the PBX rings the group/employee first and
 *   then the visitor (as makeCall does), label `callcatcher`.
 * Both add `firstcall` when the number never called the account before (call history).
 * The calls are written to `tracked_calls`; integrations/utm.ts batches them once they end.
 */

/** The simulator's callback control (engine/simulator), as the service needs it. */
export interface CallbackDialer {
  callback(
    account: AccountRecord,
    target: { type: 'employee' | 'group'; id: number },
    number: string,
  ): Promise<{ uuid: string }>;
}

const visitData = (v: VisitInfo, clientIp: string | null): VisitData => ({
  utmSource: v.utmSource?.trim() || null,
  utmMedium: v.utmMedium?.trim() || null,
  utmCampaign: v.utmCampaign?.trim() || null,
  utmContent: v.utmContent?.trim() || null,
  utmTerm: v.utmTerm?.trim() || null,
  googleClientId: v.googleClientId?.trim() || null,
  clientIp,
  referrer: v.referrer?.trim() || null,
});

export function createTrackingService(deps: {
  store: Store;
  clock: Clock;
  bus: CallBus;
  dialer: CallbackDialer;
  /** How long a website session keeps its number. */
  sessionMs: number;
  /**
   * The public endpoints' limits per account, within `windowMs`: a callback makes the PBX dial
   * whatever number a visitor typed (toll fraud, harassment), a session holds a tracking number
   * (a script could take the whole pool). Counted in the database: every process sees them.
   */
  limits?: PublicLimits;
  onError: (err: unknown) => void;
}) {
  const { store, clock, dialer } = deps;
  const limits = deps.limits ?? DEFAULT_PUBLIC_LIMITS;

  /** Counts one use of each key, or refuses (429) when a key already had its `max` in the window. */
  async function spend(keys: { key: string; max: number; message: string }[]) {
    const now = clock.now();
    for (const k of keys)
      if ((await store.authFailures.count(k.key, now - limits.windowMs)) >= k.max)
        throw new DomainError('TOO_MANY_ATTEMPTS', k.message, {
          retryAfterSec: Math.ceil(limits.windowMs / 1000),
        });
    await store.authFailures.record(
      keys.map((k) => k.key),
      now,
    );
  }
  const inflight = new Set<Promise<void>>();

  async function accountOf(domain: string): Promise<AccountRecord> {
    const a = await store.accounts.byDomain(domain.trim().toLowerCase());
    if (!a) throw new DomainError('ACCOUNT_NOT_FOUND', `No account ${domain}`);
    return a;
  }

  async function labels(accountId: number, kind: TrackingKind, number: string | null, at: number) {
    const first = number !== null && !(await store.tracking.calledBefore(accountId, number, at));
    return renderLabel(first ? [kind, 'firstcall'] : [kind]);
  }

  /** An incoming company call to a pool number within a session's window is a tracked call. */
  async function onIncoming(call: LiveCall) {
    if (!call.trunkNum) return;
    const session = await store.tracking.sessionAt(call.accountId, call.trunkNum, call.dialAt);
    if (!session) return;
    await store.tracking.addCall({
      ...pickVisit(session),
      accountId: call.accountId,
      callUuid: call.uuid,
      sessionId: session.id,
      label: await labels(call.accountId, 'calltracker', call.otherLegNum, call.dialAt),
      createdAt: clock.now(),
    });
  }

  const off = deps.bus.on((e) => {
    if (e.type !== 'call.dial' || e.kind !== 'company' || e.call.direction !== 4) return;
    const p = onIncoming(e.call).catch(deps.onError);
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  });

  return {
    numbers: {
      list: (a: AccountRecord): Promise<TrackingNumber[]> => store.tracking.numbers.list(a.id),
      /** Adds a trunk number of the account to the pool. */
      async add(a: AccountRecord, raw: string): Promise<TrackingNumber> {
        const number = normalizePhone(raw, a.defaultCountry);
        if (!number) throw badInput(`number '${raw}' is not a phone number`);
        const trunks = await store.directory.trunks.list(a.id);
        if (!trunks.some((t) => t.number === number))
          throw new DomainError('TRUNK_NOT_FOUND', `No trunk ${number} in this account`);
        const added = await store.tracking.numbers.add(a.id, number, clock.now());
        if (!added) throw new DomainError('CONFLICT', `${number} is already in the tracking pool`);
        return added;
      },
      async remove(a: AccountRecord, id: number): Promise<void> {
        if (!(await store.tracking.numbers.remove(a.id, id)))
          throw new DomainError('NOT_FOUND', `No tracking number ${id}`);
      },
    },

    /** A website session: a pool number reserved for it, or CONFLICT when the pool is exhausted. */
    async startSession(
      domain: string,
      visit: VisitInfo,
      clientIp: string | null,
    ): Promise<{ number: string; expiresAt: number }> {
      const a = await accountOf(domain);
      if (clientIp)
        await spend([
          {
            key: `public:session-ip:${a.id}:${clientIp}`,
            max: limits.sessionsPerIp,
            message: 'Too many tracking sessions from this address; try again later',
          },
        ]);
      const now = clock.now();
      const expiresAt = now + deps.sessionMs;
      const session = await store.transaction(async (tx) => {
        const n = await tx.tracking.reserve(a.id, now, expiresAt);
        if (!n) return null;
        return tx.tracking.createSession({
          ...visitData(visit, clientIp),
          accountId: a.id,
          kind: 'calltracker',
          number: n.number,
          createdAt: now,
          expiresAt,
        });
      });
      if (!session) {
        const pool = await store.tracking.numbers.list(a.id);
        throw new DomainError(
          'CONFLICT',
          pool.length
            ? 'Every tracking number of this account is in use; try again later'
            : 'This account has no tracking numbers',
        );
      }
      return { number: session.number, expiresAt };
    },

    /** The callback widget: ring the group/employee, then the visitor; a tracked call. */
    async callback(domain: string, req: CallbackRequest, clientIp: string | null): Promise<{ uuid: string }> {
      const a = await accountOf(domain);
      const number = normalizePhone(req.number, a.defaultCountry);
      if (!number) throw badInput(`number '${req.number}' is not a phone number`);
      const target = await callbackTarget(a, req.target);
      await spend([
        ...(clientIp
          ? [
              {
                key: `public:callback-ip:${a.id}:${clientIp}`,
                max: limits.callbacksPerIp,
                message: 'Too many callback requests from this address; try again later',
              },
            ]
          : []),
        {
          key: `public:callback-number:${a.id}:${number}`,
          max: limits.callbacksPerNumber,
          message: 'Too many callback requests for this number; try again later',
        },
      ]);
      const now = clock.now();
      const label = await labels(a.id, 'callcatcher', number, now);
      const visit = visitData(req, clientIp);
      const session = await store.tracking.createSession({
        ...visit,
        accountId: a.id,
        kind: 'callcatcher',
        number,
        createdAt: now,
        expiresAt: now,
      });
      const { uuid } = await dialer.callback(a, target, number);
      // Batched once the call's record exists (utm.ts joins them), whenever this row lands.
      await store.tracking.addCall({
        ...visit,
        accountId: a.id,
        callUuid: uuid,
        sessionId: session.id,
        label,
        createdAt: clock.now(),
      });
      return { uuid };
    },

    /** Resolves when the tracked calls being written are written (tests, shutdown). */
    async idle(): Promise<void> {
      while (inflight.size) await Promise.allSettled([...inflight]);
    },
    close(): void {
      off();
    },
  };

  async function callbackTarget(
    a: AccountRecord,
    ext: string | undefined,
  ): Promise<{ type: 'employee' | 'group'; id: number }> {
    if (ext !== undefined) {
      const e = await store.directory.employees.byExt(a.id, ext.trim());
      if (e) return { type: 'employee', id: e.id };
      const g = await store.directory.groups.byExt(a.id, ext.trim());
      if (g) return { type: 'group', id: g.id };
      throw new DomainError('EMPLOYEE_NOT_FOUND', `No employee or ring group with ext ${ext}`);
    }
    const trunks = await store.directory.trunks.list(a.id);
    const dest = (trunks.find((t) => t.isDefault) ?? trunks[0])?.destination;
    if (dest && dest.type !== 'ivr') return { type: dest.type, id: dest.id };
    const [group] = await store.directory.groups.list(a.id);
    if (group) return { type: 'group', id: group.id };
    throw new DomainError('CONFLICT', 'This account has no ring group or employee to take callbacks');
  }
}
export type TrackingService = ReturnType<typeof createTrackingService>;

export interface PublicLimits {
  callbacksPerIp: number;
  callbacksPerNumber: number;
  sessionsPerIp: number;
  windowMs: number;
}
export const DEFAULT_PUBLIC_LIMITS: PublicLimits = {
  callbacksPerIp: 10,
  callbacksPerNumber: 3,
  sessionsPerIp: 60,
  windowMs: 600_000,
};

const pickVisit = (s: TrackingSession): VisitData => ({
  utmSource: s.utmSource,
  utmMedium: s.utmMedium,
  utmCampaign: s.utmCampaign,
  utmContent: s.utmContent,
  utmTerm: s.utmTerm,
  googleClientId: s.googleClientId,
  clientIp: s.clientIp,
  referrer: s.referrer,
});
