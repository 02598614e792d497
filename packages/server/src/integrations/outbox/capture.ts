import type { CallEventName } from '@dzvin/protocol';
import type { CallBus } from '../../domain/calls/call-engine.ts';
import type { FinishedCall, LiveCall } from '../../domain/calls/call-model.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Store } from '../../domain/ports.ts';
import { retryWithBackoff } from '../../domain/retry.ts';
import type { Outbox } from './outbox.ts';
import { callEventEntries } from './payload.ts';

function byAccount<T extends { call: { accountId: number } }>(events: T[]): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const e of events) {
    const l = m.get(e.call.accountId);
    if (l) l.push(e);
    else m.set(e.call.accountId, [e]);
  }
  return m;
}

/**
 * Turns the call engine's events into outbox rows: dial and bridge in their own transactions,
 * in emit order (batched); hangups inside the transaction that saves the finished call
 * (`inSave`, called by the simulator), after every earlier dial/bridge is written. Both write
 * through `enqueueClaimed`: the rows go to this process's dispatcher once they have committed,
 * without a claim statement of their own.
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
  // What else commits with the events (the call core's rows of the calls in progress).
  // It answers what to undo when the transaction does not commit (its rows are written again).
  let joined: ((tx: Store) => Promise<(() => void) | undefined>) | null = null;

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
      try {
        await retryWithBackoff(
          async () => {
            let undo: (() => void) | undefined;
            const committed: (() => void)[] = [];
            try {
              await store.transaction(async (tx) => {
                for (const [accountId, events] of byAccount(batch))
                  committed.push(
                    await outbox.enqueueClaimed(tx, await callEventEntries(tx, clock, accountId, events)),
                  );
                if (joined) undo = await joined(tx);
              });
            } catch (err) {
              // Rolled back: what was joined is written by the retry, with the events.
              undo?.();
              throw err;
            }
            for (const hand of committed) hand();
          },
          {
            firstDelayMs: 100,
            maxDelayMs: 5_000,
            retryIf(err, attempt) {
              deps.onError(err);
              return !(closed && attempt >= 3);
            },
          },
        );
      } catch {
        // Given up while shutting down; the error was reported above.
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
    /**
     * `write` runs inside every transaction that writes dial and bridge events, after them: the
     * call core writes its rows of the calls in progress there, so a call's event and its row
     * commit together (domain/calls/live-ledger.ts). `write` answers what to undo if that
     * transaction does not commit (run before the retry).
     */
    join(write: (tx: Store) => Promise<(() => void) | undefined>): void {
      joined = write;
    },
    /** Awaited before the transaction that saves a finished call opens: earlier events first. */
    async beforeSave(): Promise<void> {
      if (buffer.length) scheduleWrite();
      await writing;
    },
    /**
     * Inside that transaction: one hangup event per call/leg record. Answers what the caller runs
     * once that transaction has committed (the rows handed to the dispatcher).
     */
    async inSave(tx: Store, records: FinishedCall[]): Promise<() => void> {
      const events = records
        // The call's own record, and child legs' (a primary leg's record is the call's uuid again).
        .filter((r) => r.kind === 'company' || (r.kind === 'user' && r.parentUuid !== null))
        .map((r) => ({ type: 'call.hangup' as const, call: r }));
      const committed: (() => void)[] = [];
      for (const [accountId, list] of byAccount(events))
        committed.push(await outbox.enqueueClaimed(tx, await callEventEntries(tx, clock, accountId, list)));
      return () => {
        for (const hand of committed) hand();
      };
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
