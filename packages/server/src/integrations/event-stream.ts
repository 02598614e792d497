import { randomBytes } from 'node:crypto';
import type { CallEvent, CallEventName } from '@dzvin/protocol';
import type { Cluster } from '../cluster/cluster.ts';
import type { CallBus } from '../domain/calls/call-engine.ts';
import type { LiveCall } from '../domain/calls/call-model.ts';
import type { Clock } from '../domain/clock.ts';
import type { Store } from '../domain/ports.ts';
import { callEventPayload } from './outbox/payload.ts';

/**
 * The live stream's events: the three a CRM's events URL gets, and Dzvin's own `call.update` (a
 * call's live state changed with no Phonet event: it went into an IVR), whose data has the same
 * shape with `event: 'call.update'`.
 */
export type StreamEventName = CallEventName | 'call.update';

/** One event of the live stream: the same payload a CRM's events URL gets. */
export interface StreamEvent {
  /** Unique in the cluster: the sequence number at the process that saw the call, and that process. */
  id: string;
  event: StreamEventName;
  data: Omit<CallEvent, 'event'> & { event: StreamEventName };
}

/** What travels between processes (cluster.publish): enough to build the payload anywhere. */
interface Shared {
  kind: 'call.event';
  id: string;
  accountId: number;
  event: StreamEventName;
  call: LiveCall;
  serverTime: number;
}

const KEEP = 500;

/**
 * The live stream (a Dzvin extension: Server-Sent Events per account). Fed by this process's call
 * bus and, when several processes share a PostgreSQL, by the other processes' buses (LISTEN/NOTIFY
 * through `cluster`): a subscriber sees every call of its account whichever process runs it. Each
 * account keeps its last few hundred events, in the order this process saw them, so a client
 * reconnecting with `Last-Event-ID` gets what it missed after that event (within this process's
 * memory; behind a load balancer the ids are the same in every process, the order of events from
 * different processes within a few milliseconds may differ).
 */
export function createEventStream(deps: { bus: CallBus; store: Store; clock: Clock; cluster?: Cluster }) {
  const subscribers = new Map<number, Set<(e: StreamEvent) => void>>();
  const recent = new Map<number, StreamEvent[]>();
  const domains = new Map<number, string>();
  const tag = randomBytes(4).toString('hex');
  let seq = 0;

  function accept(m: Omit<Shared, 'kind'>) {
    const domain = domains.get(m.accountId);
    // Only accounts someone has streamed here are kept (the domain is learnt when they subscribe).
    if (domain === undefined) return;
    const ev: StreamEvent = {
      id: m.id,
      event: m.event,
      data: { ...callEventPayload('call.dial', m.call, domain, m.serverTime), event: m.event },
    };
    let list = recent.get(m.accountId);
    if (!list) {
      list = [];
      recent.set(m.accountId, list);
    }
    list.push(ev);
    if (list.length > KEEP) list.splice(0, list.length - KEEP);
    for (const fn of subscribers.get(m.accountId) ?? []) fn(ev);
  }

  const off = deps.bus.on((e) => {
    if (
      e.type !== 'call.dial' &&
      e.type !== 'call.bridge' &&
      e.type !== 'call.hangup' &&
      e.type !== 'call.update'
    )
      return;
    const m = {
      id: `${++seq}-${tag}`,
      accountId: e.call.accountId,
      event: e.type,
      call: e.call,
      serverTime: deps.clock.now(),
    };
    deps.cluster?.publish({ kind: 'call.event', ...m } satisfies Shared);
    accept(m);
  });
  const offCluster = deps.cluster?.subscribe((raw) => {
    const m = raw as Partial<Shared> | null;
    if (m?.kind !== 'call.event' || typeof m.id !== 'string' || typeof m.accountId !== 'number' || !m.call)
      return;
    accept(m as Shared);
  });

  return {
    /** Subscribes to an account's events; answers the missed ones after `lastEventId` and an unsubscribe. */
    subscribe(
      account: { id: number; domain: string },
      fn: (e: StreamEvent) => void,
      lastEventId?: string,
    ): { missed: StreamEvent[]; unsubscribe: () => void } {
      domains.set(account.id, account.domain);
      let set = subscribers.get(account.id);
      if (!set) {
        set = new Set();
        subscribers.set(account.id, set);
      }
      set.add(fn);
      const list = recent.get(account.id) ?? [];
      const at = lastEventId === undefined ? -1 : list.findIndex((e) => e.id === lastEventId);
      return {
        missed: at < 0 ? [] : list.slice(at + 1),
        unsubscribe: () => {
          set.delete(fn);
        },
      };
    },
    close() {
      off();
      offCluster?.();
    },
  };
}
export type EventStream = ReturnType<typeof createEventStream>;
