// One registration poll: read Kamailio's `ul.dump` (and `core.tcp_list` when a browser is
// registered) and turn it into the changes since the last poll. This runs in the registration
// worker thread (registration-worker.ts): with 800 phones the dump is ~0.4 MB of JSON, and
// receiving, parsing and diffing it held the main event loop 5–20 ms every poll. The main thread
// (registration-watcher.ts) gets only the events.
import { isBrowserContact, type KamailioControl, type Registration } from './kamailio-control.ts';

export type RegistrationEvent =
  | { type: 'registered'; registration: Registration }
  | { type: 'unregistered'; registration: Registration }
  /**
   * This Kamailio holds no credentials from us (it started, or restarted, since the last push):
   * push them all, then `markSynced()`. Reported once each time the marker is found missing.
   */
  | { type: 'credentials-missing' }
  /** A poll failed; reported once until a poll succeeds again. The last snapshot is kept. */
  | { type: 'unavailable'; error: Error };

/** What a poll remembers between two polls (a new worker starts from the main thread's copy). */
export interface PollState {
  /** The contacts of the last successful poll. */
  snapshot: Registration[];
  /** The credentials marker as last seen; undefined before the first successful poll. */
  synced: boolean | undefined;
  /** The last poll failed (its 'unavailable' was reported). */
  failing: boolean;
}

/**
 * The contacts that can still ring. A browser's binding outlives its WebSocket: a tab closed
 * without un-registering (or a browser gone silent — a laptop's lid shut, its network gone — once
 * the websocket module closed it: a Ping after keepalive_timeout idle, unanswered for as long
 * again) leaves it in usrloc until it expires — nathelper's keep-alive OPTIONS and their
 * KEEPALIVE_TIMEOUT only cover UDP contacts — and Kamailio never opens a WebSocket, so it is
 * unreachable: it is left out once Kamailio no longer holds its connection (`core.tcp_list`, read
 * after `ul.dump` and only when a browser is registered). When that list cannot be read, the dump
 * is taken as it is.
 */
async function reachable(control: KamailioControl, regs: Registration[]): Promise<Registration[]> {
  const onWs = (r: Registration) => r.tcpconnId !== undefined && isBrowserContact(r);
  if (!regs.some(onWs)) return regs;
  const open = await control.connections().catch(() => null);
  if (!open) return regs;
  return regs.filter((r) => !onWs(r) || open.has(r.tcpconnId!));
}

/** One binding across refreshes: usrloc's ruid, or AoR + Contact for a dump without one. */
export const bindingKey = (r: Registration) => r.ruid || `${r.aor} ${r.contact}`;

/** The events that turn snapshot `before` into `after` (exported for its test). */
export function diffRegistrations(before: Registration[], after: Registration[]): RegistrationEvent[] {
  const was = new Map(before.map((r) => [bindingKey(r), r]));
  const now = new Map(after.map((r) => [bindingKey(r), r]));
  const events: RegistrationEvent[] = [];
  for (const [k, r] of was) if (!now.has(k)) events.push({ type: 'unregistered', registration: r });
  for (const [k, r] of now) if (!was.has(k)) events.push({ type: 'registered', registration: r });
  return events;
}

/** Polls `control`, updating `state`; resolves to the events of this poll (never rejects). */
export async function pollRegistrations(
  control: KamailioControl,
  state: PollState,
): Promise<RegistrationEvent[]> {
  const events: RegistrationEvent[] = [];
  try {
    const nowSynced = await control.isSynced();
    const regs = await reachable(control, await control.registrations());
    if (!nowSynced && state.synced !== false) events.push({ type: 'credentials-missing' });
    state.synced = nowSynced;
    state.failing = false;
    events.push(...diffRegistrations(state.snapshot, regs));
    state.snapshot = regs;
  } catch (e) {
    if (!state.failing) events.push({ type: 'unavailable', error: e as Error });
    state.failing = true;
  }
  return events;
}
