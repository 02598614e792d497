// Who is registered, as a stream of changes: polls Kamailio's `ul.dump` and diffs snapshots.
//
// Polling rather than evapi (kamailio-extra-modules): the dump is the whole truth every time, so
// a Dzvin restart, a Kamailio restart, a dropped connection or a contact removed behind our back
// (keep-alive timeout, expiry, `ul.rm`) all converge on the next poll with no event replay and no
// event_route for each way a contact can disappear. Routing does not depend on it (Kamailio's own
// `lookup("location")` decides where an INVITE goes, and answers 480 for nobody), so the poll
// interval only delays presence in the console and events. If thousands of contacts make a full
// dump too heavy, evapi pushes can be added on top; the diff below stays the reconciliation.
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

export interface RegistrationWatcherOptions {
  control: KamailioControl;
  /** Between two polls (default 2000 ms). */
  intervalMs?: number;
  onEvent(event: RegistrationEvent): void;
}

export interface RegistrationWatcher {
  /** Polls once now (also between timer ticks) and resolves to the events it emitted. */
  poll(): Promise<RegistrationEvent[]>;
  /** The contacts of the last successful poll. */
  current(): Registration[];
  /** Polls now and every `intervalMs` until stop(). */
  start(): void;
  stop(): void;
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
const bindingKey = (r: Registration) => r.ruid || `${r.aor} ${r.contact}`;

/** The events that turn snapshot `before` into `after` (exported for its test). */
export function diffRegistrations(before: Registration[], after: Registration[]): RegistrationEvent[] {
  const was = new Map(before.map((r) => [bindingKey(r), r]));
  const now = new Map(after.map((r) => [bindingKey(r), r]));
  const events: RegistrationEvent[] = [];
  for (const [k, r] of was) if (!now.has(k)) events.push({ type: 'unregistered', registration: r });
  for (const [k, r] of now) if (!was.has(k)) events.push({ type: 'registered', registration: r });
  return events;
}

export function createRegistrationWatcher(opts: RegistrationWatcherOptions): RegistrationWatcher {
  const intervalMs = opts.intervalMs ?? 2000;
  let snapshot: Registration[] = [];
  let synced: boolean | undefined;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  // Polls never overlap: a slow dump must not be diffed against a newer one out of order.
  let running: Promise<RegistrationEvent[]> = Promise.resolve([]);

  async function pollOnce(): Promise<RegistrationEvent[]> {
    const events: RegistrationEvent[] = [];
    try {
      const nowSynced = await opts.control.isSynced();
      const regs = await reachable(opts.control, await opts.control.registrations());
      if (!nowSynced && synced !== false) events.push({ type: 'credentials-missing' });
      synced = nowSynced;
      failing = false;
      events.push(...diffRegistrations(snapshot, regs));
      snapshot = regs;
    } catch (e) {
      if (!failing) events.push({ type: 'unavailable', error: e as Error });
      failing = true;
    }
    for (const ev of events) opts.onEvent(ev);
    return events;
  }

  const poll = () => {
    running = running.then(pollOnce);
    return running;
  };

  return {
    poll,
    current: () => snapshot,
    start() {
      if (timer) return;
      const tick = () => {
        // A listener that throws must not stop the polling (nor crash the process from a timer).
        poll()
          .catch(() => undefined)
          .finally(() => {
            if (timer) timer = setTimeout(tick, intervalMs).unref();
          });
      };
      timer = setTimeout(tick, 0).unref();
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
