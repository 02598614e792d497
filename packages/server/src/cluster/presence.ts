import type { Presence } from '../domain/calls/presence.ts';
import type { Store } from '../domain/ports.ts';
import type { Cluster } from './cluster.ts';

export interface SharedPresenceOptions {
  /** How often the claims of processes that died are looked for. */
  sweepMs?: number;
  /**
   * A claim of a process that is not alive is freed once it is this old: a process that has
   * just started may claim before its first heartbeat is seen.
   */
  graceMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Presence shared by the processes over one PostgreSQL (domain/calls/presence.ts): claims and
 * turns in the database (store/presence-store.ts), written by the process that owns the call.
 * A process killed mid-call cannot free its claims, so every process sweeps the claims of
 * processes no longer alive in `cluster_nodes` (the cluster's heartbeat decides who is).
 */
export function createSharedPresence(
  store: Store,
  cluster: Cluster,
  opts: SharedPresenceOptions = {},
): Presence & { sweep(): Promise<number>; close(): void } {
  const sweepMs = opts.sweepMs ?? 5_000;
  const graceMs = opts.graceMs ?? 15_000;
  const onError = opts.onError ?? (() => {});
  const p = store.presence;

  async function sweep(): Promise<number> {
    const alive = [cluster.nodeId, ...(await cluster.peers({ fresh: true })).map((x) => x.id)];
    return p.sweep(alive, Date.now() - graceMs);
  }
  const timer = setInterval(() => sweep().catch(onError), sweepMs);
  timer.unref();

  return {
    claim: (accountId, employeeId, legUuid) =>
      p.claim({ accountId, employeeId, legUuid, nodeId: cluster.nodeId, since: Date.now() }),
    release: (tx, legUuids) => tx.presence.release(legUuids),
    async busyAmong(accountId, employeeIds) {
      return new Set(await p.busyAmong(accountId, employeeIds));
    },
    nextTurn: (accountId, groupId) => p.nextTurn(accountId, groupId),
    sweep,
    close: () => clearInterval(timer),
  };
}
