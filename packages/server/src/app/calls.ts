import type { Cluster } from '../cluster/cluster.ts';
import { createClusterEngine } from '../cluster/cluster-engine.ts';
import { defaultPhoneMode } from '../domain/accounts/phone-mode.ts';
import type { CallBus } from '../domain/calls/call-engine.ts';
import type { Recorder } from '../domain/calls/call-model.ts';
import type { Store } from '../domain/ports.ts';
import { createSimulator, type SimulatorDeps } from '../engine/simulator/simulator.ts';
import { createTrafficGenerator } from '../engine/simulator/traffic.ts';
import type { SipEngine } from '../engine/sip/sip-engine.ts';
import { listeningAddress } from '../http/server.ts';
import { postJson } from '../integrations/http-out.ts';
import { createCallLookup } from '../integrations/lookup.ts';
import type { CallEventCapture } from '../integrations/outbox/capture.ts';
import { createTrackingService } from '../integrations/tracking.ts';
import type { Metrics } from '../metrics.ts';
import { type AppContext, every } from './context.ts';

/** How often this process touches its calls in progress (and looks for dead processes' calls). */
const LIVE_TOUCH_MS = 2_000;
/** A dead process's call is closed once nobody has touched it for this long (7 touches missed). */
const LIVE_GRACE_MS = 15_000;
/** At start on SQLite: how long before this process started another must have been last seen. */
const LIVE_START_MARGIN_MS = 5_000;

/**
 * The calls of this process: the call.settings lookup that routing asks, the call engine (the
 * office simulator) and its traffic generator, the engine as the HTTP layer drives it across
 * processes, and call tracking with the callback widget.
 */
export function openCalls(
  ctx: AppContext,
  deps: {
    store: Store;
    bus: CallBus;
    cluster: Cluster;
    metrics: Metrics;
    recorder: Recorder;
    eventCapture: CallEventCapture;
    presence: SimulatorDeps['presence'];
    /** The SIP engine: employees with a registered phone ring on it. */
    sip: SipEngine | null;
  },
) {
  const { app, config, clock, timers, random, logError } = ctx;
  const { store, bus, cluster, metrics, eventCapture, presence } = deps;

  // The contacts book's links in otherLegs (spec #17) open the console of the account's domain.
  let listenPort = config.port;
  app.addHook('onListen', async () => {
    listenPort = listeningAddress(app)?.port ?? listenPort;
  });
  const consoleBase = (domain: string) =>
    config.consoleUrl
      ? config.consoleUrl.replaceAll('{domain}', domain)
      : config.mode === 'production'
        ? `https://${domain}`
        : `http://${domain}:${listenPort}`;
  // spec: call.settings — every connected CRM is asked before an incoming/outgoing call is routed.
  const lookup = createCallLookup({
    store,
    clock,
    timeoutMs: config.lookupTimeoutMs,
    contactsUrl: (account, c) =>
      `${consoleBase(account.domain)}/#/contacts?${'id' in c ? `id=${c.id}` : `new=${encodeURIComponent(c.number)}`}`,
    post: async (url, body, o) => {
      const t0 = performance.now();
      let outcome = 'error';
      try {
        const r = await postJson(url, body, { ...o, policy: config.outgoing });
        if (r.status === 200) outcome = 'ok';
        return r;
      } finally {
        metrics.lookupLatency.observe((performance.now() - t0) / 1000, { outcome });
      }
    },
    onProblem: (p) => app.log.warn(p, 'call.settings lookup failed; routing without that CRM'),
  });
  every(app, 5 * 60_000, () => {
    lookup.prune().catch((err) => app.log.warn({ err }, 'lookup cache prune failed'));
  });

  const simulator = createSimulator({
    presence,
    // Calls in progress are kept in the database too; their rows commit with their events.
    liveCalls: { nodeId: cluster.nodeId, drainedByEvents: true },
    drivers: deps.sip ? [deps.sip.driver] : [],
    // Simulation is off in production unless an account turns it on (phones: hybrid|simulated).
    defaultPhones: defaultPhoneMode(config.mode),
    saveHook: {
      before: () => eventCapture.beforeSave(),
      inTransaction: (tx, records) => eventCapture.inSave(tx, records),
    },
    store,
    clock,
    timers,
    recorder: deps.recorder,
    bus,
    routing: lookup,
    random,
    onError: logError,
  });
  const live = simulator.liveCalls;
  if (!live) throw new Error('the call core keeps no calls in progress');
  eventCapture.join((tx) => live.drain(tx));
  // The calls in progress of a process that died (killed, the machine lost) get their hangup
  // and history (domain/calls/live-ledger.ts). On SQLite (one process per database file) at
  // start: the rows of another process last seen more than LIVE_START_MARGIN_MS before this one
  // started (a process still running on the same file by mistake, touching every 2 s, is not
  // taken for dead). Then on every tick, on both: rows of processes not alive (PostgreSQL:
  // cluster_nodes) that nobody has seen for LIVE_GRACE_MS.
  const startedAt = clock.now();
  const closeOrphans = async (atStart: boolean): Promise<number> => {
    // PostgreSQL: not at start — see `steady` below; the ticks do it once it holds.
    if (atStart && cluster.shared) return 0;
    const alive = [cluster.nodeId, ...(await cluster.peers({ fresh: true })).map((p) => p.id)];
    const before = atStart ? startedAt - LIVE_START_MARGIN_MS : clock.now() - LIVE_GRACE_MS;
    const closed = await live.recover(alive, before);
    if (closed) {
      metrics.callsClosedAfterCrash.inc({}, closed);
      app.log.warn(
        { calls: closed },
        'closed the calls in progress of a process that died (hangup and history written)',
      );
    }
    return closed;
  };
  // Over PostgreSQL another process looks dead when its heartbeat and touches stopped, and so it
  // does to everyone after a database outage until its next ones land. So this process closes
  // others' calls only once it has itself reached the database at every tick for the whole
  // grace: its own view is whole again, and theirs have had the time to land too.
  let steadySince: number | null = null;
  let lastReached = 0;
  let ticking = false;
  every(app, LIVE_TOUCH_MS, () => {
    if (ticking) return; // a tick hung on the database: no pile-up behind it
    ticking = true;
    (async () => {
      await live.touch();
      if (cluster.shared) {
        await cluster.peers({ fresh: true });
        const now = performance.now();
        if (steadySince === null || now - lastReached > 3 * LIVE_TOUCH_MS) steadySince = now;
        lastReached = now;
        if (now - steadySince < LIVE_GRACE_MS) return;
      }
      await closeOrphans(false);
    })()
      .catch((err) => {
        steadySince = null;
        logError(err);
      })
      .finally(() => {
        ticking = false;
      });
  });
  // Processes gone for an hour with no call left are forgotten.
  every(app, 10 * 60_000, () => {
    store.liveCalls.prune(clock.now() - 3_600_000).catch(logError);
  });

  const traffic = createTrafficGenerator({
    sim: simulator.sim,
    engine: simulator.engine,
    store,
    clock,
    timers,
    random,
  });
  // What the HTTP layer drives: operations on a call another process owns go to that process.
  const routed = createClusterEngine({
    simulator,
    traffic,
    cluster,
    onError: (err, peer) => ctx.logCluster({ err, peer: peer.url }),
  });
  // Call tracking and the callback widget (its UTM batches: app.ts).
  const tracking = createTrackingService({
    store,
    clock,
    bus,
    dialer: simulator.sim,
    sessionMs: config.trackingSessionSec * 1000,
    limits: { ...config.publicLimits, windowMs: config.auth.failureWindowSec * 1000 },
    onError: logError,
  });

  // One hook, in this order, rather than a hook per object: tracking is built on the engine (its
  // callbacks dial through it) yet must still hear the engine's last events, so it has to close
  // after the engine although it was built after it.
  app.addHook('onClose', async () => {
    // No new arrivals while the engine ends the calls in progress and saves them.
    await traffic.stopAll();
    await simulator.engine.close();
    tracking.close();
    await tracking.idle();
  });

  return { lookup, simulator, traffic, routed, tracking, closeOrphans };
}
