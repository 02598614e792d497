// Calls in progress: a snapshot of /rest/calls/active/v3, then kept current by the SSE stream
// /api/v1/events/stream (call.dial / call.bridge / call.hangup, the webhook payload as data, and
// call.update: a call that went into an IVR, which has had no call.dial yet).
import { type Employee, get, type LiveCall } from './api.ts';
import { signal } from './signal.ts';

type Status = 'connecting' | 'open' | 'error';

function createLiveStore() {
  const calls = new Map<string, LiveCall>();
  const version = signal(0);
  const status = signal<Status>('connecting');
  const employees = signal<Employee[]>([]);
  const error = signal<string | null>(null);
  let es: EventSource | null = null;
  let running = false;
  let presenceTimer: ReturnType<typeof setInterval> | undefined;
  let bumpQueued = false;

  // Many events in one frame (traffic) re-render once.
  const bump = () => {
    if (bumpQueued) return;
    bumpQueued = true;
    requestAnimationFrame(() => {
      bumpQueued = false;
      version.set(version.get() + 1);
    });
  };

  /**
   * The events that arrived while a snapshot was on its way: the snapshot may have been read
   * before them, so they are applied again on top of it (in order) instead of being wiped by it.
   */
  let sinceSnapshot: [string, LiveCall][] | null = null;

  const applyOne = (event: string, data: LiveCall & { event?: string }) => {
    if (event === 'call.hangup') {
      calls.delete(data.uuid);
      // A company call ending ends its legs too.
      for (const [k, c] of calls) if (c.parentUuid === data.uuid) calls.delete(k);
    } else {
      calls.set(data.uuid, { ...calls.get(data.uuid), ...data, lastEvent: event });
    }
  };
  const apply = (event: string, data: LiveCall) => {
    applyOne(event, data);
    sinceSnapshot?.push([event, data]);
    bump();
  };

  let snapshots = 0;
  async function snapshot() {
    const seq = ++snapshots;
    sinceSnapshot ??= [];
    try {
      const list = await get<LiveCall[]>('/rest/calls/active/v3');
      if (seq !== snapshots) return; // a newer snapshot is on its way
      calls.clear();
      for (const c of list) calls.set(c.uuid, c);
      for (const [event, data] of sinceSnapshot ?? []) applyOne(event, data);
      sinceSnapshot = null;
      error.set(null);
      bump();
    } catch (e) {
      if (seq === snapshots) sinceSnapshot = null;
      error.set((e as Error).message);
    }
  }

  async function loadEmployees() {
    try {
      employees.set(await get<Employee[]>('/api/v1/employees'));
    } catch {}
  }

  return {
    calls,
    version,
    status,
    employees,
    error,
    loadEmployees,
    refresh: snapshot,
    start() {
      if (running) return;
      running = true;
      es = new EventSource('/api/v1/events/stream');
      // A first snapshot while the stream connects (fast first render), and another once it is
      // open (on every reconnect too), so nothing that ended in between stays on screen.
      void snapshot();
      es.onopen = () => {
        status.set('open');
        void snapshot();
      };
      es.onerror = () => status.set(es?.readyState === EventSource.CLOSED ? 'error' : 'connecting');
      for (const name of ['call.dial', 'call.bridge', 'call.hangup', 'call.update'])
        es.addEventListener(name, (ev) => apply(name, JSON.parse((ev as MessageEvent).data)));
      void loadEmployees();
      presenceTimer = setInterval(loadEmployees, 10_000);
    },
    stop() {
      running = false;
      es?.close();
      es = null;
      clearInterval(presenceTimer);
      calls.clear();
      sinceSnapshot = null;
      status.set('connecting');
    },
    /** The calls to show: employee legs, and company calls none of whose legs is listed. */
    visible(): LiveCall[] {
      const parents = new Set<string>();
      for (const c of calls.values()) if (c.parentUuid) parents.add(c.parentUuid);
      return [...calls.values()]
        .filter((c) => !parents.has(c.uuid))
        .sort((a, b) => a.dialAt - b.dialAt || a.uuid.localeCompare(b.uuid));
    },
  };
}

export const live = createLiveStore();

/** A one-second tick for timers, shared by every card. */
export const tick = signal(Date.now());
setInterval(() => tick.set(Date.now()), 1000);
