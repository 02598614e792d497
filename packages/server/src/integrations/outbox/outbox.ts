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
  /** Tells the local dispatcher there may be new work (called after commits). */
  notify(): void;
}

const newWebhookId = () => `msg_${randomHex(16)}`;

export function createOutbox(deps: { clock: Clock }): Outbox & { onNotify(fn: () => void): void } {
  const listeners = new Set<() => void>();
  let scheduled = false;
  const outbox = {
    async enqueue(tx: Store, entries: OutboxEntry[], opts?: { notifiesAfterCommit?: boolean }) {
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
      // dispatcher's safety-net poll covers the rest) — unless the caller calls `notify` after
      // its commit, when this second wake-up would only claim nothing (one per event write).
      if (!opts?.notifiesAfterCommit) setTimeout(() => outbox.notify(), 5).unref();
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
