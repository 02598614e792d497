import type { Clock } from '../clock.ts';
import type { LiveCallRow, Store } from '../ports.ts';
import type { FinishedCall } from './call-model.ts';

/**
 * The calls in progress, kept in the database as well as in memory (migration 0017), so that a
 * process killed with calls up does not leave CRMs with calls that started and never end.
 *
 * Each call a CRM has seen start (its `call.dial` is out) has a row: the records the call would be
 * saved as if it were cut at that moment — the call's own, each leg's still up, the primary legs'
 * waiting for the call (`Call.held`). The row is rewritten as the call changes (every event marks
 * it), in the transaction that writes the event to the outbox when one does (the event and the
 * row commit together), else in the transaction of the next save or the next touch; it is deleted
 * in the transaction that saves the call's history. A process with calls in progress touches
 * its row of `live_nodes` every 2 s (it was alive then): one row per process, whatever its calls.
 *
 * A row whose process is gone (not alive in the cluster, not touched for a while; on SQLite: any
 * row of another process once this one starts) is closed by `recover` (call-core.ts): its records
 * are saved as they stood, ended when the process last touched them, with their hangup events,
 * in one transaction that also deletes the row — so two processes closing it at once write it
 * once. A call answered before the cut is answered (billed up to the cut); one not answered is a
 * failure (disposition 3), its ringing legs no answer.
 */
export interface LiveLedger<C> {
  /** The call changed: its row is rewritten by the next drain. */
  mark(c: C): void;
  /**
   * Writes the marked calls' rows through `tx` (a transaction the caller has open). Answers
   * `undo`, which the caller runs if `tx` does not commit: the calls are marked again, so the
   * next drain (the retry's) writes them — else a rolled-back row is never written again for a
   * call that does not change, and its event commits on the retry without it.
   */
  drain(tx: Store): Promise<() => void>;
  /** Drains in a transaction of its own (nothing else is writing soon enough). */
  flush(): Promise<void>;
  /** This process is alive now (its row of live_nodes), after writing what is marked. */
  touch(): Promise<void>;
  /** The call ended: no row is written for it any more (`remove` it in the save's transaction). */
  forget(uuid: string): void;
  readonly nodeId: string;
}

export function createLiveLedger<C>(deps: {
  store: Store;
  clock: Clock;
  nodeId: string;
  /** The call's row now: null when it needs none (ended, or no event out yet). */
  snapshot(c: C): Omit<LiveCallRow, 'nodeId' | 'updatedAt' | 'version'> | null;
  uuidOf(c: C): string;
}): LiveLedger<C> {
  const { store, clock, nodeId } = deps;
  const marked = new Map<string, C>();
  // One counter for every call of this process: only the owner writes a call's row, so a higher
  // version is always the later snapshot.
  let version = 0;

  function rows(taken: C[]): LiveCallRow[] {
    const now = clock.now();
    const out: LiveCallRow[] = [];
    for (const c of taken) {
      const s = deps.snapshot(c);
      if (s) out.push({ ...s, nodeId, updatedAt: now, version: ++version });
    }
    return out;
  }

  async function drain(tx: Store): Promise<() => void> {
    if (!marked.size) return () => {};
    const taken = [...marked.values()];
    marked.clear();
    // Marked again unless marked since (a later snapshot) or ended (its snapshot is null).
    const undo = () => {
      for (const c of taken) if (!marked.has(deps.uuidOf(c))) marked.set(deps.uuidOf(c), c);
    };
    const batch = rows(taken);
    if (batch.length)
      try {
        await tx.liveCalls.put(batch);
      } catch (err) {
        undo();
        throw err;
      }
    return undo;
  }

  /** Drains in a transaction of its own; marked again if it does not commit. */
  async function flush(): Promise<void> {
    if (!marked.size) return;
    let undo = () => {};
    try {
      await store.transaction(async (tx) => {
        undo = await drain(tx);
      });
    } catch (err) {
      undo();
      throw err;
    }
  }

  return {
    nodeId,
    mark(c) {
      marked.set(deps.uuidOf(c), c);
    },
    drain,
    flush,
    async touch() {
      await flush();
      await store.liveCalls.touch(nodeId, clock.now());
    },
    forget(uuid) {
      marked.delete(uuid);
    },
  };
}

const secs = (ms: number) => Math.max(0, Math.round(ms / 1000));

/**
 * A record of a row closed by `recover`, ended at `endAt` (when its process was last known
 * alive; never before it was dialled). `hasRecording` says whether the recording it names was
 * finished: a killed process leaves only the part it had written, which is not served.
 */
export function closedAt(r: FinishedCall, endAt: number, hasRecording: boolean): FinishedCall {
  const end = Math.max(endAt, r.dialAt, r.bridgeAt ?? 0);
  return {
    ...r,
    endAt: end,
    duration: secs(end - r.dialAt),
    billSecs: r.bridgeAt !== null ? secs(end - r.bridgeAt) : 0,
    recordingUuid: hasRecording ? r.recordingUuid : null,
  };
}
