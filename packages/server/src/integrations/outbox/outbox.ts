import type { Clock } from '../../domain/clock.ts';
import type { DeliveryKind, NewDelivery, Store } from '../../domain/ports.ts';
import { randomHex } from '../../domain/random-pool.ts';

/**
 * Call events and UTM batches to CRMs, delivered at least once through a durable outbox
 * (spec #18): rows are written in the transaction of the state change (this module; call
 * events through `capture.ts`), then a dispatcher in every server process (`dispatcher.ts`)
 * claims them with a lease, POSTs them in order per (call, connection), signed (`sign.ts`),
 * retries with capped exponential backoff and full jitter (`backoff.ts`), and dead-letters
 * after the retry window (24 h by default).
 */

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
  /**
   * Writes deliveries through `tx` (a store bound to the caller's transaction, or the plain
   * store); the dispatcher looks a few milliseconds later. `notifiesAfterCommit`: the caller
   * calls `notify` once its transaction has committed, so that look is left out.
   */
  enqueue(tx: Store, entries: OutboxEntry[], opts?: { notifiesAfterCommit?: boolean }): Promise<void>;
  /**
   * As `enqueue`, for a caller that runs the answer once its transaction has committed (and never
   * if it did not): rows the local dispatcher can send at once are leased to it in the
   * transaction and handed to it by the answer, with no claim statement; the others are left for
   * a claim, which the answer asks for.
   */
  enqueueClaimed(tx: Store, entries: OutboxEntry[]): Promise<() => void>;
  /** Tells the local dispatcher there may be new work (called after commits). */
  notify(): void;
}

/**
 * This process's dispatcher, as the outbox sees it (`Dispatcher.writeClaimed`): writes rows in
 * the caller's transaction and answers what hands them over after the commit.
 */
export type LocalClaimer = (tx: Store, rows: NewDelivery[]) => Promise<() => void>;

const newWebhookId = () => `msg_${randomHex(16)}`;

export function createOutbox(deps: { clock: Clock }): Outbox & {
  onNotify(fn: () => void): void;
  /** Rows of `enqueueClaimed` go to this claimer (the local dispatcher). */
  attach(claimer: LocalClaimer): void;
} {
  const listeners = new Set<() => void>();
  let scheduled = false;
  let claimer: LocalClaimer | null = null;
  const toRows = (entries: OutboxEntry[]): NewDelivery[] => {
    const now = deps.clock.now();
    return entries.map((e) => ({
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
  };
  const outbox = {
    async enqueue(tx: Store, entries: OutboxEntry[], opts?: { notifiesAfterCommit?: boolean }) {
      if (!entries.length) return;
      await tx.outbox.insert(toRows(entries));
      // The caller's transaction may not have committed yet: look a moment later (and the
      // dispatcher's safety-net poll covers the rest) — unless the caller calls `notify` after
      // its commit, when this second wake-up would only claim nothing (one per event write).
      if (!opts?.notifiesAfterCommit) setTimeout(() => outbox.notify(), 5).unref();
    },
    async enqueueClaimed(tx: Store, entries: OutboxEntry[]): Promise<() => void> {
      if (!entries.length) return () => {};
      const rows = toRows(entries);
      if (claimer) return claimer(tx, rows);
      await tx.outbox.insert(rows);
      return () => outbox.notify();
    },
    attach(c: LocalClaimer) {
      claimer = c;
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
