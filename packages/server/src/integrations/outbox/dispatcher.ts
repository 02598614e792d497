import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cancel, Clock, Timers } from '../../domain/clock.ts';
import type {
  AttemptOutcome,
  DeliveryRecord,
  DeliveryTarget,
  NewDelivery,
  Store,
} from '../../domain/ports.ts';
import { retryWithBackoff } from '../../domain/retry.ts';
import { type OutgoingPolicy, OutgoingRequestError, postJson } from '../http-out.ts';
import { nextAttempt, retryAfterMs } from './backoff.ts';
import { bodyOf } from './payload.ts';
import type { DeliverySettings } from './settings.ts';
import { signatureHeaders } from './sign.ts';

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

/** How long outcomes are gathered before they are recorded together. */
const FLUSH_AFTER_MS = 5;

interface Held {
  row: DeliveryRecord;
  target: DeliveryTarget | undefined;
  /** Leased to this process by its own write (`writeClaimed`), not claimed. */
  adopted: boolean;
}

interface ConnectionQueue {
  queue: Held[];
  inflight: number;
}

/** Rows of one (connection, order key) are sent one after the other, in id order. */
const keyOf = (r: { connectionId: number; orderKey: string }) => `${r.connectionId} ${r.orderKey}`;

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
  /**
   * The rows held per (connection, order key), oldest first. The first is queued, in flight or
   * waiting for its outcome to be recorded; the others, written by this process behind it
   * (`writeClaimed`), wait here for that record and go to the queue one by one. A claim never
   * returns a row with an older one still pending, so claimed rows start chains of their own.
   */
  const chains = new Map<string, Held[]>();
  /**
   * Counts the chains cut short (a row of theirs left this process unsent or to be retried): a
   * write that chained rows behind held ones does not hand them over if one was cut meanwhile.
   */
  let breaks = 0;
  /** Keys with rows written unleased behind rows held here: claimed once those are recorded. */
  const unleasedBehind = new Set<string>();
  /** Rows may be claimable that no chain of this process leads to (see `flush`). */
  let claimWanted = false;
  /** A retry was recorded: the idle dispatcher's wake-up for it is still to be set. */
  let wakeWanted = false;
  const releasing = new Set<Promise<void>>();
  const sending = new Set<Promise<void>>();
  let outcomes: { held: Held; outcome: AttemptOutcome }[] = [];
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

  /** Takes a leased row in: queued at once, or behind the held rows of its key. */
  function admit(h: Held): void {
    if (held.has(h.row.id)) return;
    held.add(h.row.id);
    const k = keyOf(h.row);
    const chain = chains.get(k);
    if (!chain?.length) {
      chains.set(k, [h]);
      conn(h.row.connectionId).queue.push(h);
      return;
    }
    // After the first (it may be in flight), in id order.
    let i = chain.length;
    while (i > 1 && chain[i - 1].row.id > h.row.id) i--;
    chain.splice(i, 0, h);
  }

  /** Gives rows back to the outbox (awaited by `stop`); a failure leaves them to `releaseOrphans`. */
  function releaseLater(ids: number[]): void {
    if (!ids.length) return;
    claimWanted = true;
    const p = store.outbox.release(ids, owner).catch((err) => {
      orphansPossible = true;
      deps.onError(err);
    });
    releasing.add(p);
    void p.finally(() => releasing.delete(p));
  }

  /**
   * A held row is done here. `final`: its outcome is recorded and it is no longer pending, so the
   * next row of its chain goes to the queue (answers its connection). Otherwise (to be retried,
   * unsent, or its outcome not recorded) the rows behind it are given back: the claim's
   * head-of-line rule keeps them waiting in the outbox.
   */
  function settle(row: DeliveryRecord, final: boolean): number | null {
    const k = keyOf(row);
    const chain = chains.get(k);
    if (!chain) return null;
    const i = chain.findIndex((h) => h.row.id === row.id);
    if (i < 0) return null;
    chain.splice(i, 1);
    if (final && chain.length) {
      if (i === 0) conn(chain[0].row.connectionId).queue.push(chain[0]);
      return chain[0].row.connectionId;
    }
    chains.delete(k);
    if (unleasedBehind.delete(k)) claimWanted = true;
    if (!final && chain.length) {
      breaks++;
      for (const h of chain) held.delete(h.row.id);
      releaseLater(chain.map((h) => h.row.id));
    }
    return null;
  }

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
        claimWanted = false;
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
            else admit({ row, target: targets.get(row.connectionId), adopted: false });
          }
          if (release.length) {
            await store.outbox.release(release, owner);
            claimWanted = true;
          }
          for (const id of targets.keys()) pump(id);
          // A full claim: there may be more, for connections that still have room.
          if (rows.length === claimSize && [...connections.values()].some(hasRoom)) again = true;
        }
        // Retries due later: a timer on the injected clock (only when this process is idle; while
        // it is busy, completions and the safety-net poll claim due rows anyway).
        if (!again && !sending.size && !stopped) {
          wakeWanted = false;
          await scheduleWake();
        }
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
    // Rows written leased to this process (`writeClaimed`) are held a moment after their
    // transaction commits; those of a transaction that did not commit are forgotten here.
    const now = clock.now();
    for (const [id, at] of written) if (at < now - settings.leaseMs) written.delete(id);
    const orphans = (await store.outbox.leasedTo(owner)).filter((id) => !held.has(id) && !written.has(id));
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
        settle(item.row, false);
        continue;
      }
      c.inflight++;
      const p = attempt(item.row, item.target).then(
        (outcome) => {
          // The slot is free as soon as the answer is in: the outcome is recorded with others a
          // moment later, and the next row goes out meanwhile. The row stays pending and leased
          // until then, so its successors (same order key) are not claimed before it is recorded.
          c.inflight--;
          outcomes.push({ held: item, outcome });
          scheduleFlush();
          pump(item.row.connectionId);
        },
        (err) => {
          c.inflight--;
          held.delete(item.row.id);
          settle(item.row, false);
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
      let recorded = false;
      try {
        await retryWithBackoff(
          async () => {
            const now = clock.now();
            await store.outbox.record(
              batch.map((b) =>
                (b.held.row.leaseUntil ?? 0) <= now ? { ...b.outcome, pastLease: true } : b.outcome,
              ),
            );
          },
          {
            firstDelayMs: 100,
            maxDelayMs: 2_000,
            retryIf(err, _attempt, delayMs) {
              deps.onError(err);
              const leaseLeft = Math.min(...batch.map((b) => b.held.row.leaseUntil ?? 0)) - clock.now();
              return !stopped && leaseLeft > delayMs;
            },
          },
        );
        recorded = true;
      } catch {
        // Not recorded: the rows are still pending and leased to us; the next poll gives
        // them back, and another attempt is made (at least once).
        orphansPossible = true;
      }
      const recordedAt = clock.now();
      const next = new Set<number>();
      for (const b of batch) {
        const { row, adopted } = b.held;
        held.delete(row.id);
        // A claimed row's successors wait in the outbox for a claim; an adopted one's are
        // chained here (or written unleased behind it: `unleasedBehind`). A retry needs the
        // idle wake-up. Recorded past its lease, another process may have the row: its chain is
        // given back rather than sent behind it.
        if (!adopted) claimWanted = true;
        const final = recorded && b.outcome.status !== 'pending' && (row.leaseUntil ?? 0) > recordedAt;
        if (recorded && b.outcome.status === 'pending') wakeWanted = true;
        const c = settle(row, final);
        if (c !== null) next.add(c);
      }
      for (const b of batch) deps.onAttempt?.(b.held.row, b.outcome);
      for (const id of next) pump(id);
      for (const id of new Set(batch.map((b) => b.held.row.connectionId))) {
        const c = connections.get(id);
        if (c && !c.queue.length && !c.inflight) connections.delete(id);
      }
    })();
    await flushing;
    flushing = null;
    // Claim only when rows may wait in the outbox that no chain here leads to (successors of
    // claimed rows, rows given back, a retry's wake-up to set, orphans to give back now that the
    // database answers), and then only when a connection
    // has room for a whole claim (it also picks up the successors just unblocked), not after
    // every few completions. While every connection held here is full (a slow CRM), the
    // safety-net poll claims for the others.
    if (!claimWanted && !wakeWanted && !orphansPossible) return;
    let claim = connections.size === 0;
    for (const c of connections.values()) if (hasRoom(c)) claim = true;
    if (claim) void poll();
  }

  /** Ids written by `writeClaimed` and not taken over yet (when): not orphans. */
  const written = new Map<number, number>();
  /**
   * The outbox's `enqueueClaimed` (outbox.ts): writes `rows` in the caller's transaction, leased
   * to this process when it can send them without a claim — its connection has room and every
   * older pending row of its (connection, order key) is held here (it is then chained behind
   * them) — and answers what takes them over once that transaction has committed. Rows it cannot
   * take are written unleased, for a claim.
   */
  async function writeClaimed(tx: Store, rows: NewDelivery[]): Promise<() => void> {
    const blocked = new Set<string>();
    const chained = new Set<string>();
    if (!stopped) {
      const older = await tx.outbox.pendingOf(
        [...new Map(rows.map((r) => [keyOf(r), r])).values()].map((r) => ({
          connectionId: r.connectionId,
          orderKey: r.orderKey,
        })),
      );
      for (const o of older) (held.has(o.id) ? chained : blocked).add(keyOf(o));
      for (const k of blocked) chained.delete(k);
    }
    const full = (id: number) => {
      const c = connections.get(id);
      return c !== undefined && c.queue.length + c.inflight >= backlog;
    };
    const leased: NewDelivery[] = [];
    const unleased: NewDelivery[] = [];
    for (const r of rows)
      (stopped || blocked.has(keyOf(r)) || full(r.connectionId) ? unleased : leased).push(r);
    if (unleased.length) await tx.outbox.insert(unleased);
    const leaseUntil = clock.now() + settings.leaseMs;
    const ids = leased.length ? await tx.outbox.insertLeased(leased, { owner, leaseUntil }) : [];
    const targets = leased.length
      ? new Map(
          (await tx.outbox.targets([...new Set(leased.map((r) => r.connectionId))])).map((t) => [t.id, t]),
        )
      : new Map<number, DeliveryTarget>();
    const breaksThen = breaks;
    const taken: Held[] = leased.map((r, i) => ({
      row: {
        ...r,
        id: ids[i],
        status: 'pending',
        attempts: 0,
        retrySince: r.createdAt,
        nextAttemptAt: r.createdAt,
        leaseUntil,
        lastAttemptAt: null,
        lastStatus: null,
        lastError: null,
        lastLatencyMs: null,
        responseExcerpt: null,
        deliveredAt: null,
      },
      target: targets.get(r.connectionId),
      adopted: true,
    }));
    // Between the commit and the answer the rows are leased here but not held yet.
    const writtenAt = clock.now();
    for (const id of ids) written.set(id, writtenAt);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const id of ids) written.delete(id);
      for (const r of unleased) {
        const k = keyOf(r);
        if (chains.has(k)) unleasedBehind.add(k);
      }
      const release: number[] = [];
      const touched = new Set<number>();
      for (const h of taken) {
        // A chain cut while the transaction ran may have left an older row pending unheld.
        if (stopped || (chained.has(keyOf(h.row)) && breaks !== breaksThen)) release.push(h.row.id);
        else {
          admit(h);
          touched.add(h.row.connectionId);
        }
      }
      releaseLater(release);
      for (const id of touched) pump(id);
      if (unleased.length || release.length || orphansPossible) void poll();
    };
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
        const b = nextAttempt(d, done, retryAfterMs(r.headers['retry-after'], done), random(), settings);
        return { ...common, status: b.status, error: `HTTP ${r.status}`, nextAttemptAt: b.next };
      }
      // Other 4xx and unfollowed 3xx: final (spec #18).
      return { ...common, status: 'failed', error: `HTTP ${r.status}` };
    } catch (err) {
      const done = clock.now();
      if (err instanceof OutgoingRequestError && (err.code === 'refused_address' || err.code === 'bad_url'))
        return { ...base, status: 'failed', error: `${err.code}: ${err.message}` };
      const b = nextAttempt(d, done, null, random(), settings);
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
    writeClaimed,
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
      // Rows chained behind others are given back too (those in flight finish).
      for (const chain of chains.values()) for (const h of chain.splice(1)) unstarted.push(h.row.id);
      for (const id of unstarted) held.delete(id);
      await store.outbox.release(unstarted, owner).catch(deps.onError);
      await Promise.all([...releasing]);
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
