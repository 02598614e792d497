import type { Cancel, Clock, Timers } from '../domain/clock.ts';
import type { Store } from '../domain/ports.ts';
import type { CompletedTrackedCall } from '../domain/tracking.ts';
import type { Outbox, OutboxEntry } from './outbox/outbox.ts';

/**
 * UTM batches (the document's "Передача UTM меток"): every minute, for each account with tracked
 * calls completed since its last batch, ONE POST per CRM connection with a UTM URL carrying the
 * JSON array of those calls — through the durable outbox, so delivered and retried like events
 * (spec #18). No empty batches.
 *
 * The "since the last batch" cursor is in the database: each tracked call is marked batched in
 * the transaction that enqueues its batch, so a restart neither loses nor repeats a batch; on
 * PostgreSQL the rows are locked (`SKIP LOCKED`) so two processes never batch one call twice.
 */

/** One tracked call of a UTM batch: exactly the document's keys, in its order. */
export interface UtmBatchItem {
  utmSource: string;
  utmMedium: string;
  utmCampaign: string;
  utmContent: string;
  utmTerm: string;
  googleClientId: string;
  clientIp: string;
  referrer: string;
  /** The client's number, E.164 (`+380505826633`). */
  otherLegNum: string;
  /** The company number the client called (or was called from), digits only (`380991280042`). */
  trunkSource: string;
  label: string;
  /** When the call ended (ms). */
  callDate: number;
  /** When the call began (ms). */
  callStart: number;
  callParentUuid: string;
}

/** The document's placeholder for what the website did not tell (Google Analytics' convention). */
export const NOT_SET = '(not set)';

/**
 * Labels as the document renders them: `"callcatcher\n"` alone, `"callcatcher\n firstcall"` with
 * a second one (each further label on its own line after a space).
 */
export function renderLabel(labels: readonly string[]): string {
  const [first, ...rest] = labels;
  return `${first}\n${rest.map((l) => ` ${l}`).join('\n')}`;
}

export function utmBatchItem(c: CompletedTrackedCall): UtmBatchItem {
  const v = (s: string | null) => (s === null || s === '' ? NOT_SET : s);
  return {
    utmSource: v(c.utmSource),
    utmMedium: v(c.utmMedium),
    utmCampaign: v(c.utmCampaign),
    utmContent: v(c.utmContent),
    utmTerm: v(c.utmTerm),
    googleClientId: v(c.googleClientId),
    clientIp: v(c.clientIp),
    referrer: v(c.referrer),
    otherLegNum: c.otherLegNum ?? '',
    trunkSource: (c.trunkNum ?? '').replace(/^\+/, ''),
    label: c.label,
    callDate: c.endAt,
    callStart: c.dialAt,
    callParentUuid: c.callUuid,
  };
}

/** Calls taken per run; more wait for the next minute (their batch stays one entry per run). */
const MAX_CALLS_PER_RUN = 5000;

export function createUtmBatcher(deps: {
  store: Store;
  outbox: Outbox;
  clock: Clock;
  timers: Timers;
  /** Default one minute (the document's note). */
  intervalMs?: number;
  onError: (err: unknown) => void;
}) {
  const { store, outbox, clock, timers } = deps;
  const intervalMs = deps.intervalMs ?? 60_000;
  let cancel: Cancel | null = null;
  let running: Promise<number> = Promise.resolve(0);

  /** One batch run: answers how many outbox entries were enqueued. */
  async function runOnce(): Promise<number> {
    const enqueued = await store.transaction(async (tx) => {
      const calls = await tx.tracking.unbatched(MAX_CALLS_PER_RUN);
      if (!calls.length) return 0;
      const byAccount = new Map<number, CompletedTrackedCall[]>();
      for (const c of calls) {
        const list = byAccount.get(c.accountId);
        if (list) list.push(c);
        else byAccount.set(c.accountId, [c]);
      }
      const entries: OutboxEntry[] = [];
      const now = clock.now();
      for (const [accountId, list] of byAccount) {
        const connections = (await tx.directory.crm.list(accountId)).filter((c) => c.enabled && c.utmUrl);
        const payload = list.map(utmBatchItem);
        for (const conn of connections)
          entries.push({ accountId, connectionId: conn.id, kind: 'utm', orderKey: `utm:${now}`, payload });
      }
      await outbox.enqueue(tx, entries);
      // Calls of accounts without a UTM URL are marked too: a CRM connected later starts afresh.
      await tx.tracking.markBatched(
        calls.map((c) => c.id),
        now,
      );
      return entries.length;
    });
    if (enqueued) outbox.notify();
    return enqueued;
  }

  function schedule() {
    cancel = timers.after(intervalMs, async () => {
      cancel = null;
      running = runOnce().catch((err) => {
        deps.onError(err);
        return 0;
      });
      await running;
      if (started) schedule();
    });
  }

  let started = false;
  return {
    runOnce,
    start() {
      if (started) return;
      started = true;
      schedule();
    },
    async stop() {
      started = false;
      cancel?.();
      cancel = null;
      await running;
    },
  };
}
export type UtmBatcher = ReturnType<typeof createUtmBatcher>;
