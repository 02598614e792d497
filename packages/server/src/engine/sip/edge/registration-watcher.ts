// Who is registered, as a stream of changes: polls Kamailio's `ul.dump` and diffs snapshots.
//
// Polling rather than evapi (kamailio-extra-modules): the dump is the whole truth every time, so
// a Dzvin restart, a Kamailio restart, a dropped connection or a contact removed behind our back
// (keep-alive timeout, expiry, `ul.rm`) all converge on the next poll with no event replay and no
// event_route for each way a contact can disappear. Routing does not depend on it (Kamailio's own
// `lookup("location")` decides where an INVITE goes, and answers 480 for nobody), so the poll
// interval only delays presence in the console and events. If thousands of contacts make a full
// dump too heavy, evapi pushes can be added on top; the poll's diff stays the reconciliation.
//
// The poll itself (registration-poll.ts: ul.dump, core.tcp_list, the diff) runs in a worker thread
// (registration-worker.ts) with its own RPC client: with 800 phones the dump is ~0.4 MB of JSON,
// and receiving, parsing and diffing it on the main thread held the event loop 5–20 ms every
// 2 s (bench:sip's lag p99 with calls up; bench/results/sip.md). The main thread gets only the
// events and keeps its copy of the snapshot from them; a poll with no change costs it one small
// message. A worker that dies (or does not answer a poll within WORKER_DEADLINE_MS) is reported
// as `unavailable` like a failed poll, and the next poll starts a new one from that copy, so no
// change is reported twice or lost. (`ul.dump brief` would be smaller, but on Kamailio 5.6 it lists
// the AoRs only: no contacts, ruid, socket or connection id, which the diff and the browser
// filter need.)
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../spawn-worker.ts';
import type { Registration } from './kamailio-control.ts';
import type { KamailioRpcOptions } from './kamailio-rpc.ts';
import { bindingKey, type PollState, type RegistrationEvent } from './registration-poll.ts';
import type { PollReply, PollRequest, RegistrationWorkerData, WireEvent } from './registration-worker.ts';

export { diffRegistrations, type RegistrationEvent } from './registration-poll.ts';

export interface RegistrationWatcherOptions {
  /**
   * Kamailio's JSON-RPC (the URL KamailioControl is made with): the worker thread makes its own
   * client, since a KamailioControl cannot cross threads.
   */
  kamailio: KamailioRpcOptions;
  /** Between two polls (default 2000 ms). */
  intervalMs?: number;
  onEvent(event: RegistrationEvent): void;
}

export interface RegistrationWatcher {
  /** Polls once now (also between timer ticks) and resolves to the events it emitted. */
  poll(): Promise<RegistrationEvent[]>;
  /**
   * The contacts of the last successful poll, each as its 'registered' event carried it (its
   * `expires` and `cseq` are not refreshed: a refresh of a binding is not a change).
   */
  current(): Registration[];
  /** Polls now and every `intervalMs` until stop(). */
  start(): void;
  /** Stops polling and the worker thread (a later poll() starts a new one). */
  stop(): void;
}

/**
 * The longest a poll may take before its worker is given up on: three RPCs (htable.dump, ul.dump,
 * core.tcp_list), each with its own deadline (2 s by default), and room for a busy machine.
 */
const WORKER_DEADLINE_MS = 30_000;

const fromWire = (ev: WireEvent): RegistrationEvent =>
  ev.type === 'unavailable'
    ? { type: 'unavailable', error: Object.assign(new Error(ev.error.message), { name: ev.error.name }) }
    : ev;

export function createRegistrationWatcher(opts: RegistrationWatcherOptions): RegistrationWatcher {
  const intervalMs = opts.intervalMs ?? 2000;
  /** The main thread's copy of the worker's state: the snapshot by binding, kept from the events. */
  const bindings = new Map<string, Registration>();
  let snapshot: Registration[] = [];
  let synced: boolean | undefined;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let worker: Worker | null = null;
  let nextId = 1;
  /** The poll the worker is doing: settled by its reply, its death, the deadline or stop(). */
  let pending: { id: number; settle(reply: PollReply | Error | null): void } | null = null;
  // Polls never overlap: a slow dump must not be diffed against a newer one out of order.
  let running: Promise<RegistrationEvent[]> = Promise.resolve([]);

  function startWorker(): Worker {
    const state: PollState = { snapshot, synced, failing };
    const data: RegistrationWorkerData = { rpc: opts.kamailio, state };
    const w = spawnWorker(import.meta.url, 'registration-worker', data);
    w.unref();
    w.on('message', (reply: PollReply) => {
      if (pending?.id === reply.id) pending.settle(reply);
    });
    const gone = (why: Error) => {
      if (worker !== w) return;
      worker = null;
      pending?.settle(why);
    };
    w.on('error', (e) => gone(e));
    w.on('exit', (code) => gone(new Error(`the registration worker exited (code ${code})`)));
    return w;
  }

  function ask(): Promise<PollReply | Error | null> {
    if (!worker) worker = startWorker();
    const w = worker;
    const id = nextId++;
    return new Promise((resolve) => {
      // Referenced while a poll is out: a process whose only work is `await poll()` waits for it.
      w.ref();
      const deadline = setTimeout(() => {
        pending?.settle(
          new Error(`the registration worker did not answer a poll within ${WORKER_DEADLINE_MS} ms`),
        );
        if (worker === w) worker = null;
        w.terminate().catch(() => undefined);
      }, WORKER_DEADLINE_MS).unref();
      pending = {
        id,
        settle(reply) {
          if (pending?.id !== id) return;
          pending = null;
          clearTimeout(deadline);
          w.unref();
          resolve(reply);
        },
      };
      w.postMessage({ id } satisfies PollRequest);
    });
  }

  async function pollOnce(): Promise<RegistrationEvent[]> {
    const reply = await ask();
    let events: RegistrationEvent[];
    if (reply === null) {
      events = []; // stopped while polling
    } else if (reply instanceof Error) {
      events = failing ? [] : [{ type: 'unavailable', error: reply }];
      failing = true;
    } else {
      events = reply.events.map(fromWire);
      synced = reply.synced;
      failing = reply.failing;
      let changed = false;
      for (const ev of events) {
        if (ev.type === 'registered') bindings.set(bindingKey(ev.registration), ev.registration);
        else if (ev.type === 'unregistered') bindings.delete(bindingKey(ev.registration));
        else continue;
        changed = true;
      }
      if (changed) snapshot = [...bindings.values()];
    }
    for (const ev of events) opts.onEvent(ev);
    return events;
  }

  const poll = () => {
    // After a poll whose listener threw: that caller saw the error; the next poll still runs.
    running = running.catch(() => undefined).then(pollOnce);
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
      const w = worker;
      worker = null;
      pending?.settle(null);
      w?.terminate().catch(() => undefined);
    },
  };
}
