import { createHmac, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { CallEventName } from '@dzvin/protocol';
import type { CallBus } from '../domain/calls/call-engine.ts';
import type { FinishedCall, LiveCall } from '../domain/calls/call-model.ts';
import { callEventPayload } from '../domain/calls/projection.ts';
import type { Cancel, Clock, Timers } from '../domain/clock.ts';
import type {
  AttemptOutcome,
  DeliveryKind,
  DeliveryRecord,
  DeliveryTarget,
  NewDelivery,
  Store,
} from '../domain/ports.ts';
import { type OutgoingPolicy, OutgoingRequestError, postJson } from './http-out.ts';

/**
 * Call events and UTM batches to CRMs, delivered at least once through a durable outbox
 * (spec #18): rows are written in the transaction of the state change, then a dispatcher in
 * every server process claims them with a lease, POSTs them in order per (call, connection),
 * retries with capped exponential backoff and full jitter, and dead-letters after the retry
 * window (24 h by default).
 */

/** How deliveries are made; from Config (`DZVIN_WEBHOOK_*`). */
export interface DeliverySettings {
  /** Per attempt. */
  timeoutMs: number;
  /** Requests in flight per CRM connection: a slow CRM holds only its own slots. */
  concurrencyPerConnection: number;
  /** How long a claim lasts; a crashed process's claims are taken over after it. */
  leaseMs: number;
  retryBaseMs: number;
  retryCapMs: number;
  /** Keep retrying this long (from creation or replay), then dead-letter. */
  retryForMs: number;
  /** Rows claimed per query. */
  batchSize: number;
  /** Safety-net poll for work enqueued by other processes (real time). */
  pollIntervalMs: number;
}

export const DEFAULT_DELIVERY_SETTINGS: DeliverySettings = {
  timeoutMs: 10_000,
  concurrencyPerConnection: 16,
  leaseMs: 60_000,
  retryBaseMs: 1_000,
  retryCapMs: 3_600_000,
  retryForMs: 24 * 3_600_000,
  batchSize: 256,
  pollIntervalMs: 1_000,
};

/** What callers enqueue (the UTM batcher too). */
export interface OutboxEntry {
  accountId: number;
  connectionId: number;
  kind: DeliveryKind;
  /** Deliveries sharing (connection, orderKey) are sent strictly in enqueue order. */
  orderKey: string;
  payload: unknown;
}

export interface Outbox {
  /** Writes deliveries through `tx` (a store bound to the caller's transaction, or the plain store). */
  enqueue(tx: Store, entries: OutboxEntry[]): Promise<void>;
  /** Tells the local dispatcher there may be new work (called after commits). */
  notify(): void;
}

const newWebhookId = () => `msg_${randomBytes(16).toString('hex')}`;

export function createOutbox(deps: { clock: Clock }): Outbox & { onNotify(fn: () => void): void } {
  const listeners = new Set<() => void>();
  let scheduled = false;
  const outbox = {
    async enqueue(tx: Store, entries: OutboxEntry[]) {
      if (!entries.length) return;
      const now = deps.clock.now();
      const rows: NewDelivery[] = entries.map((e) => ({
        accountId: e.accountId,
        connectionId: e.connectionId,
        kind: e.kind,
        orderKey: e.orderKey,
        event:
          e.kind === 'event' ? String((e.payload as { event?: unknown } | null)?.event ?? '') || null : null,
        payload: typeof e.payload === 'string' ? e.payload : JSON.stringify(e.payload),
        webhookId: newWebhookId(),
        createdAt: now,
      }));
      await tx.outbox.insert(rows);
      // The caller's transaction may not have committed yet: look a moment later (and the
      // dispatcher's safety-net poll covers the rest).
      setTimeout(() => outbox.notify(), 5).unref();
    },
    notify() {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        for (const fn of listeners) fn();
      });
    },
    onNotify(fn: () => void) {
      listeners.add(fn);
    },
  };
  return outbox;
}

export { callEventPayload } from '../domain/calls/projection.ts';

/**
 * Turns the call engine's events into outbox rows: dial and bridge in their own transactions,
 * in emit order (batched); hangups inside the transaction that saves the finished call
 * (`inSave`, called by the simulator), after every earlier dial/bridge is written.
 */
export function createCallEventCapture(deps: {
  store: Store;
  outbox: Outbox;
  bus: CallBus;
  clock: Clock;
  onError: (err: unknown) => void;
}) {
  const { store, outbox, bus, clock } = deps;
  let buffer: { type: CallEventName; call: LiveCall }[] = [];
  let writing: Promise<void> = Promise.resolve();
  let writeScheduled = false;

  async function entriesFor(
    tx: Store,
    accountId: number,
    events: { type: CallEventName; call: LiveCall | FinishedCall }[],
  ) {
    const connections = (await tx.directory.crm.list(accountId)).filter((c) => c.enabled && c.eventsUrl);
    if (!connections.length) return [];
    const account = await tx.accounts.byId(accountId);
    if (!account) return [];
    const now = clock.now();
    const out: OutboxEntry[] = [];
    for (const e of events) {
      const payload = callEventPayload(e.type, e.call, account.domain, now);
      for (const c of connections)
        out.push({
          accountId,
          connectionId: c.id,
          kind: 'event',
          // One order per company call: its legs' events too (spec #18 "in order per call").
          orderKey: e.call.parentUuid ?? e.call.uuid,
          payload,
        });
    }
    return out;
  }

  function byAccount<T extends { call: { accountId: number } }>(events: T[]): Map<number, T[]> {
    const m = new Map<number, T[]>();
    for (const e of events) {
      const l = m.get(e.call.accountId);
      if (l) l.push(e);
      else m.set(e.call.accountId, [e]);
    }
    return m;
  }

  function scheduleWrite() {
    if (writeScheduled) return;
    writeScheduled = true;
    writing = writing.then(async () => {
      writeScheduled = false;
      const batch = buffer;
      buffer = [];
      if (!batch.length) return;
      // A failed write (the database down) is retried with backoff, in order, until it lands:
      // dropping it would lose events of calls that go on (and whose hangups are saved later).
      // The hangup's save waits for it (beforeSave). Only a process shutting down gives up.
      for (let attempt = 1, delay = 100; ; attempt++, delay = Math.min(delay * 2, 5_000)) {
        try {
          await store.transaction(async (tx) => {
            for (const [accountId, events] of byAccount(batch))
              await outbox.enqueue(tx, await entriesFor(tx, accountId, events));
          });
          outbox.notify();
          return;
        } catch (err) {
          deps.onError(err);
          if (closed && attempt >= 3) return;
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    });
  }
  let closed = false;

  const off = bus.on((e) => {
    if (e.type === 'call.dial' || e.type === 'call.bridge') {
      buffer.push({ type: e.type, call: e.call });
      scheduleWrite();
    }
  });

  return {
    /** Awaited before the transaction that saves a finished call opens: earlier events first. */
    async beforeSave(): Promise<void> {
      if (buffer.length) scheduleWrite();
      await writing;
    },
    /** Inside that transaction: one hangup event per call/leg record. */
    async inSave(tx: Store, records: FinishedCall[]): Promise<void> {
      const events = records
        // The call's own record, and child legs' (a primary leg's record is the call's uuid again).
        .filter((r) => r.kind === 'company' || (r.kind === 'user' && r.parentUuid !== null))
        .map((r) => ({ type: 'call.hangup' as const, call: r }));
      for (const [accountId, list] of byAccount(events))
        await outbox.enqueue(tx, await entriesFor(tx, accountId, list));
    },
    afterSave(): void {
      outbox.notify();
    },
    /** Writes whatever is buffered (shutdown). */
    async flush(): Promise<void> {
      if (buffer.length) scheduleWrite();
      await writing;
    },
    close(): void {
      closed = true;
      off();
    },
  };
}
export type CallEventCapture = ReturnType<typeof createCallEventCapture>;

/** The HMAC key of a Standard Webhooks secret, decoded exactly as the SDK's receiver does. */
export function webhookSecretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/** Standard Webhooks headers for one attempt: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. */
export function signatureHeaders(
  secret: string,
  webhookId: string,
  timestampSec: number,
  body: string,
): Record<string, string> {
  const mac = createHmac('sha256', webhookSecretKey(secret))
    .update(`${webhookId}.${timestampSec}.${body}`)
    .digest('base64');
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': `v1,${mac}`,
  };
}

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date), or null. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const EXCERPT_BYTES = 1024;
function excerpt(text: string): string {
  const b = Buffer.from(text, 'utf8');
  return b.length <= EXCERPT_BYTES
    ? text
    : b
        .subarray(0, EXCERPT_BYTES)
        .toString('utf8')
        .replace(/\uFFFD$/, '');
}

/** The body as sent: events carry the time of this attempt in `serverTime`. */
function bodyOf(d: DeliveryRecord, now: number): string {
  if (d.kind !== 'event') return d.payload;
  // serverTime is "when the event was sent" (spec): replace it in place, key order kept.
  return d.payload.replace(/"serverTime":\d+/, `"serverTime":${now}`);
}

/** How long outcomes are gathered before they are recorded together. */
const FLUSH_AFTER_MS = 5;

interface ConnectionQueue {
  queue: { row: DeliveryRecord; target: DeliveryTarget | undefined }[];
  inflight: number;
}

/**
 * Sends what the outbox holds. Each process runs one; they share work through leases.
 * A connection's requests are limited to `concurrencyPerConnection` in flight, and claiming
 * skips connections whose slots are full, so a slow or dead CRM never delays the others.
 */
export function createDispatcher(deps: {
  store: Store;
  clock: Clock;
  timers: Timers;
  policy: OutgoingPolicy;
  settings: DeliverySettings;
  random?: () => number;
  onError: (err: unknown) => void;
  /** Called after every recorded attempt (tests, benches). */
  onAttempt?: (d: DeliveryRecord, o: AttemptOutcome) => void;
}) {
  const { store, clock, timers, settings } = deps;
  const random = deps.random ?? Math.random;
  const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const C = settings.concurrencyPerConnection;
  /**
   * Rows held locally per connection (in flight + waiting for a slot). A connection is claimed
   * for only while a whole claim still fits: claiming rows only to release them again, or
   * claiming after every few completions, cost more SQL than the deliveries themselves.
   */
  const claimSize = Math.max(1, settings.batchSize);
  const backlog = Math.max(2 * C, claimSize) + claimSize;
  const hasRoom = (c: ConnectionQueue) => c.queue.length + c.inflight + claimSize <= backlog;
  const connections = new Map<number, ConnectionQueue>();
  /** Ids of the rows this process holds: queued, in flight, or with an outcome to record. */
  const held = new Set<number>();
  /**
   * Set by a failure that may have left rows leased to this process that it does not hold: a
   * claim committed whose reply was lost with the connection, a claim whose targets could not be
   * read, outcomes that could not be recorded. The next poll gives them back (`releaseOrphans`),
   * so they go out as soon as the database answers again instead of when their lease runs out.
   */
  let orphansPossible = false;
  const sending = new Set<Promise<void>>();
  let outcomes: { row: DeliveryRecord; outcome: AttemptOutcome }[] = [];
  let flushing: Promise<void> | null = null;
  let flushScheduled = false;
  let polling = false;
  let again = false;
  let stopped = true;
  let wake: Cancel | null = null;
  let wakeAt = Number.POSITIVE_INFINITY;
  let interval: NodeJS.Timeout | null = null;

  const conn = (id: number) => {
    let c = connections.get(id);
    if (!c) {
      c = { queue: [], inflight: 0 };
      connections.set(id, c);
    }
    return c;
  };

  async function poll(): Promise<void> {
    if (stopped) return;
    if (polling) {
      again = true;
      return;
    }
    polling = true;
    try {
      if (orphansPossible) await releaseOrphans();
      do {
        again = false;
        const saturated = [...connections].filter(([, c]) => !hasRoom(c)).map(([id]) => id);
        const rows = await store.outbox.claim({
          now: clock.now(),
          owner,
          leaseMs: settings.leaseMs,
          limit: claimSize,
          excludeConnections: saturated,
        });
        if (rows.length) {
          const targets = new Map(
            (await store.outbox.targets([...new Set(rows.map((r) => r.connectionId))])).map((t) => [t.id, t]),
          );
          const release: number[] = [];
          for (const row of rows) {
            const c = conn(row.connectionId);
            // Hold at most a claim's worth per connection; the rest goes back for other processes.
            if (stopped || c.queue.length + c.inflight >= backlog) release.push(row.id);
            else {
              c.queue.push({ row, target: targets.get(row.connectionId) });
              held.add(row.id);
            }
          }
          if (release.length) await store.outbox.release(release, owner);
          for (const id of targets.keys()) pump(id);
          // A full claim: there may be more, for connections that still have room.
          if (rows.length === claimSize && [...connections.values()].some(hasRoom)) again = true;
        }
        // Retries due later: a timer on the injected clock (only when this process is idle; while
        // it is busy, completions and the safety-net poll claim due rows anyway).
        if (!again && !sending.size && !stopped) await scheduleWake();
        // A completion or an enqueue that asked for a claim while this one or the wake-up lookup
        // ran (`again`) may have made rows claimable that the claim did not see: look once more.
        // Returning instead would drop that request (the safety-net poll is the only other one).
      } while (again && !stopped);
    } catch (err) {
      deps.onError(err);
      orphansPossible = true;
      if (!stopped) setTimeout(() => void poll(), 1000).unref();
    } finally {
      polling = false;
    }
  }

  /** Gives back rows leased to this process that it does not hold (see `orphansPossible`). */
  async function releaseOrphans() {
    const orphans = (await store.outbox.leasedTo(owner)).filter((id) => !held.has(id));
    for (let i = 0; i < orphans.length; i += 500)
      await store.outbox.release(orphans.slice(i, i + 500), owner);
    orphansPossible = false;
  }

  async function scheduleWake() {
    const now = clock.now();
    const due = await store.outbox.nextDue(now);
    if (due === null || due <= now || stopped) return;
    if (wake && due >= wakeAt) return;
    wake?.();
    wakeAt = due;
    wake = timers.after(due - now, () => {
      wake = null;
      wakeAt = Number.POSITIVE_INFINITY;
      return poll();
    });
  }

  function pump(id: number) {
    const c = connections.get(id);
    if (!c) return;
    while (c.inflight < C && c.queue.length) {
      const item = c.queue.shift()!;
      // Waited here past its lease (a slow CRM): another process may have it now; our next
      // claim takes it again if not. Never send on an expired lease.
      if ((item.row.leaseUntil ?? 0) <= clock.now()) {
        held.delete(item.row.id);
        continue;
      }
      c.inflight++;
      const p = attempt(item.row, item.target).then(
        (outcome) => {
          // The slot is free as soon as the answer is in: the outcome is recorded with others a
          // moment later, and the next row goes out meanwhile. The row stays pending and leased
          // until then, so its successors (same order key) are not claimed before it is recorded.
          c.inflight--;
          outcomes.push({ row: item.row, outcome });
          scheduleFlush();
          pump(item.row.connectionId);
        },
        (err) => {
          c.inflight--;
          held.delete(item.row.id);
          orphansPossible = true;
          deps.onError(err);
        },
      );
      sending.add(p);
      p.finally(() => {
        sending.delete(p);
      });
    }
  }

  function scheduleFlush() {
    if (flushScheduled) return;
    flushScheduled = true;
    // A few milliseconds gather the outcomes of many requests into one statement: the slots are
    // already free, so the wait delays only the claim of the rows' successors.
    setTimeout(() => {
      flushScheduled = false;
      void flush();
    }, FLUSH_AFTER_MS);
  }

  async function flush(): Promise<void> {
    while (flushing) await flushing;
    if (!outcomes.length) return;
    const batch = outcomes;
    outcomes = [];
    flushing = (async () => {
      // A failed write (the database away for a moment) is retried while the rows are still
      // leased to us: otherwise their successors (same call) wait for the lease to run out and
      // the delivery is made again. Past the lease, another attempt is made: at least once.
      for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
        try {
          const now = clock.now();
          await store.outbox.record(
            batch.map((b) =>
              (b.row.leaseUntil ?? 0) <= now ? { ...b.outcome, pastLease: true } : b.outcome,
            ),
          );
          break;
        } catch (err) {
          deps.onError(err);
          const leaseLeft = Math.min(...batch.map((b) => b.row.leaseUntil ?? 0)) - clock.now();
          if (stopped || leaseLeft <= delay) {
            // Not recorded: the rows are still pending and leased to us; the next poll gives
            // them back, and another attempt is made (at least once).
            orphansPossible = true;
            break;
          }
          await new Promise((r) => setTimeout(r, delay));
        }
      }
      for (const b of batch) held.delete(b.row.id);
      for (const b of batch) deps.onAttempt?.(b.row, b.outcome);
      for (const id of new Set(batch.map((b) => b.row.connectionId))) {
        const c = connections.get(id);
        if (c && !c.queue.length && !c.inflight) connections.delete(id);
      }
    })();
    await flushing;
    flushing = null;
    // Claim more only when a connection has room for a whole claim (it also picks up the
    // successors just unblocked), not after every few completions. While every connection held
    // here is full (a slow CRM), the safety-net poll claims for the others.
    let claim = connections.size === 0;
    for (const c of connections.values()) if (hasRoom(c)) claim = true;
    if (claim) void poll();
  }

  function backoff(
    d: DeliveryRecord,
    now: number,
    hint: number | null,
  ): { status: 'pending' | 'dead'; next: number } {
    const n = d.attempts + 1;
    const exp = Math.min(settings.retryCapMs, settings.retryBaseMs * 2 ** Math.min(n - 1, 40));
    // Full jitter (AWS architecture blog), floored so a dead CRM is not hammered.
    let delay = Math.max(Math.min(50, exp), random() * exp);
    // Retry-After is honoured even beyond the cap (within reason: at most 6 h).
    if (hint !== null) delay = Math.max(delay, Math.min(hint, 6 * 3_600_000));
    const next = Math.round(now + delay);
    return next - d.retrySince > settings.retryForMs
      ? { status: 'dead', next: now }
      : { status: 'pending', next };
  }

  async function attempt(d: DeliveryRecord, target: DeliveryTarget | undefined): Promise<AttemptOutcome> {
    const now = clock.now();
    const base = {
      id: d.id,
      attempt: d.attempts + 1,
      at: now,
      latencyMs: null,
      excerpt: null,
      httpStatus: null,
      nextAttemptAt: now,
    };
    const url = d.kind === 'event' ? target?.eventsUrl : target?.utmUrl;
    if (!target || !url)
      return {
        ...base,
        status: 'failed',
        error: `the connection has no ${d.kind === 'event' ? 'events' : 'UTM'} URL`,
      };
    if (!target.enabled) return { ...base, status: 'failed', error: 'the connection is disabled' };
    const body = bodyOf(d, now);
    const headers = target.secret
      ? signatureHeaders(target.secret, d.webhookId, Math.floor(now / 1000), body)
      : undefined;
    try {
      const r = await postJson(url, body, { timeoutMs: settings.timeoutMs, headers, policy: deps.policy });
      const done = clock.now();
      const common = { ...base, httpStatus: r.status, latencyMs: r.latencyMs, excerpt: excerpt(r.text) };
      if (r.status >= 200 && r.status < 300)
        return { ...common, status: 'delivered', error: null, nextAttemptAt: d.nextAttemptAt };
      if (r.status >= 500 || r.status === 408 || r.status === 429) {
        const b = backoff(d, done, retryAfterMs(r.headers['retry-after'], done));
        return { ...common, status: b.status, error: `HTTP ${r.status}`, nextAttemptAt: b.next };
      }
      // Other 4xx and unfollowed 3xx: final (spec #18).
      return { ...common, status: 'failed', error: `HTTP ${r.status}` };
    } catch (err) {
      const done = clock.now();
      if (err instanceof OutgoingRequestError && (err.code === 'refused_address' || err.code === 'bad_url'))
        return { ...base, status: 'failed', error: `${err.code}: ${err.message}` };
      const b = backoff(d, done, null);
      const msg = err instanceof OutgoingRequestError ? `${err.code}: ${err.message}` : String(err);
      return { ...base, status: b.status, error: msg, nextAttemptAt: b.next };
    }
  }

  return {
    owner,
    start() {
      if (!stopped) return;
      stopped = false;
      interval = setInterval(() => void poll(), settings.pollIntervalMs);
      interval.unref();
      void poll();
    },
    /** Looks for work now (after an enqueue). */
    kick() {
      void poll();
    },
    /** Stops claiming, gives back what was claimed but not started, finishes what is in flight. */
    async stop() {
      if (stopped) return;
      stopped = true;
      if (interval) clearInterval(interval);
      wake?.();
      wake = null;
      while (polling) await new Promise((r) => setTimeout(r, 5));
      const unstarted: number[] = [];
      for (const c of connections.values()) for (const q of c.queue.splice(0)) unstarted.push(q.row.id);
      for (const id of unstarted) held.delete(id);
      await store.outbox.release(unstarted, owner).catch(deps.onError);
      await Promise.all([...sending]);
      while (outcomes.length || flushing || flushScheduled) {
        await flush();
        await new Promise((r) => setImmediate(r));
      }
    },
    /** Requests in flight or claimed locally. */
    busy(): number {
      let n = 0;
      for (const c of connections.values()) n += c.inflight + c.queue.length;
      return n;
    },
  };
}
export type Dispatcher = ReturnType<typeof createDispatcher>;
