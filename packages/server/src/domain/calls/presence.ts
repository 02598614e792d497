import type { Store } from '../ports.ts';

/**
 * Who is on a call beyond this process, and each round-robin group's turn: the port the call
 * core asks when several processes share one database (cluster/presence.ts). Without it (SQLite,
 * one process) the core's own legs are the whole truth and the turns are counted in memory.
 *
 * A leg claims its employee when they go off hook (answer, or dial out); the claim is freed in
 * the transaction that saves the leg's history record, so an employee is busy until their call
 * is in the history, and a process that dies leaves claims that the others sweep.
 */
export interface Presence {
  /** True when `legUuid` holds the employee now; false when another leg (anywhere) does. */
  claim(accountId: number, employeeId: number, legUuid: string): Promise<boolean>;
  /** Frees what these legs hold, through `tx` (the save's transaction) or the store. */
  release(tx: Store, legUuids: string[]): Promise<void>;
  /** Which of these employees a leg holds now, in any process. */
  busyAmong(accountId: number, employeeIds: number[]): Promise<Set<number>>;
  /** The round-robin group's turn for a new call (0, 1, 2… across every process). */
  nextTurn(accountId: number, groupId: number): Promise<number>;
}
