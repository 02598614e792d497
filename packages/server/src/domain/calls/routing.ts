import type { Disposition, Employee, RingGroup } from '@dzvin/protocol';

/**
 * The routing planner: pure decisions of where a call rings, in what order, and how it ends when
 * nobody takes it. No timers, no state: the call core (call-core.ts) asks and carries them out on
 * whichever phone driver serves each endpoint.
 */

/** How long an employee's phone rings when no group timeout applies, and an external party's. */
export const EMPLOYEE_RING_MS = 30_000;
export const EXTERNAL_RING_MS = 45_000;

/** Whether `e` (as just read from the directory) is at work: online and not paused. */
export const atWork = (e: Employee): boolean => !e.paused && e.presence === 'online';

/**
 * A call to one employee who cannot take it: paused or offline is "no answer" (1), talking on
 * another call is "busy" (4). Null when they can.
 */
export function directRefusal(e: Employee, talking: boolean): Disposition | null {
  if (!atWork(e)) return 1;
  return talking ? 4 : null;
}

/**
 * The members of a group who can take a call (in ring order), and how they ring: everyone at
 * once (`simultaneous`), or one after another (`sequential` always from the first; `round-robin`
 * from the group's `turn` — the count of calls it has taken — among the members free now). Empty
 * `ring` means nobody can, and `nobody` says how the call ends: busy (4) when members are at
 * work but every one is talking, no answer (1) when none is at work (paused, offline, none).
 * @example planGroup(group, members, isTalking, 0) // { mode: 'in-turn', ring: [a, b, c], ringMs: 20000 }
 */
export function planGroup(
  group: RingGroup,
  members: Employee[],
  talking: (e: Employee) => boolean,
  turn: number,
): { mode: 'all-at-once' | 'in-turn'; ring: Employee[]; ringMs: number; nobody: Disposition } {
  const byId = new Map(members.map((m) => [m.id, m]));
  const working = group.members.map((id) => byId.get(id)).filter((e): e is Employee => !!e && atWork(e));
  const free = working.filter((e) => !talking(e));
  const ringMs = group.ringTimeoutSec * 1000;
  const nobody: Disposition = working.length ? 4 : 1;
  if (group.strategy === 'simultaneous') return { mode: 'all-at-once', ring: free, ringMs, nobody };
  const start = group.strategy === 'round-robin' && free.length ? turn % free.length : 0;
  return { mode: 'in-turn', ring: [...free.slice(start), ...free.slice(0, start)], ringMs, nobody };
}

/**
 * A group call whose every phone rang and stopped (all at once or one after another): everyone
 * busy is busy, any other mix no answer.
 */
export function groupOutcome(outcomes: ReadonlySet<Disposition>): Disposition {
  const [only] = outcomes;
  return outcomes.size === 1 ? only : 1;
}
