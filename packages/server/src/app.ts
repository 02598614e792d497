import { openCallEvents } from './app/call-events.ts';
import { openCalls } from './app/calls.ts';
import { openCarrierRegistrations } from './app/carrier-registrations.ts';
import type { AppContext } from './app/context.ts';
import { openRecorder } from './app/recordings.ts';
import { createServices } from './app/services.ts';
import { openSipCredentials, storedSipCredentials } from './app/sip-credentials.ts';
import { openManagedSip } from './app/sip-daemons.ts';
import { type Cluster, createCluster } from './cluster/cluster.ts';
import { createSharedPresence } from './cluster/presence.ts';
import { createPgClaims, soloClaims } from './cluster/registrar-claims.ts';
import type { Config } from './config.ts';
import { createCallBus } from './domain/calls/call-engine.ts';
import { type Clock, createSystemTimers, systemClock, type Timers } from './domain/clock.ts';
import type { Store } from './domain/ports.ts';
import type { FileRecorder } from './engine/recording/file-recorder.ts';
import type { Simulator } from './engine/simulator/simulator.ts';
import type { TrafficGenerator } from './engine/simulator/traffic.ts';
import type { ManagedSip } from './engine/sip/edge/daemons.ts';
import { type SipConfig, type SipEngine, startSipEngine } from './engine/sip/sip-engine.ts';
import type { BrowserPhone } from './http/admin/admin-routes.ts';
import { adminApi } from './http/admin-api.ts';
import { clusterApi } from './http/cluster-api.ts';
import { consolePlugin } from './http/console-plugin.ts';
import { registerOpenApi } from './http/openapi.ts';
import { registerOperations } from './http/operations.ts';
import { phonetApi } from './http/phonet-api.ts';
import { publicApi } from './http/public-api.ts';
import type { App, Services } from './http/route-kit.ts';
import { recordingAccess } from './http/routes/recordings.ts';
import { createHttpServer } from './http/server.ts';
import type { Dispatcher } from './integrations/outbox/dispatcher.ts';
import type { Outbox } from './integrations/outbox/outbox.ts';
import type { TrackingService } from './integrations/tracking.ts';
import { createUtmBatcher, type UtmBatcher } from './integrations/utm.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createStore } from './store/create-store.ts';
import { type OpenDatabase, openDatabase } from './store/db.ts';
import { databaseNotReady } from './store/readiness.ts';

export interface BuiltApp {
  app: App;
  services: Services;
  store: Store;
  database: OpenDatabase;
  /** The call engine (the office simulator) and its simulation controls. */
  simulator: Simulator;
  /** The simulator's traffic generator (one per account). */
  traffic: TrafficGenerator;
  recorder: FileRecorder;
  /** Call tracking and the callback widget; the UTM batcher that sends their calls every minute. */
  tracking: TrackingService;
  utmBatcher: UtmBatcher;
  /** The webhook outbox (call events, UTM batches) and this process's dispatcher. */
  outbox: Outbox;
  dispatcher: Dispatcher;
  /** Prometheus metrics of this process (`GET /metrics`). */
  metrics: Metrics;
  /** The other processes over the same PostgreSQL (none on SQLite). */
  cluster: Cluster;
  /** The SIP engine (issue 15), null when every phone is simulated (no DZVIN_SIP_* configured). */
  sip: SipEngine | null;
  /** DZVIN_SIP=on: the Kamailio and rtpengine this process started (null otherwise). */
  sipDaemons: ManagedSip | null;
  /** Stops calls and timers, the HTTP server and the database: `app.close()`, see buildApp. */
  close(): Promise<void>;
}

/**
 * The composition root: opens the database, wires stores → services → HTTP. main.ts only parses
 * config and listens; tests call this with their own database and clock.
 *
 * Shutdown is `app.close()`. Each part registers an `onClose` hook for what it opened as it is
 * built, and Fastify runs them last-registered first, after the server has stopped accepting
 * and finished the requests in flight (readiness already answers 503). So the order below is
 * the shutdown order read backwards: the UTM batcher stops; the traffic generators stop and the
 * engine ends its calls and saves them; recordings are finished; the event capture writes what
 * it buffered and the dispatcher finishes its deliveries in flight; presence stops sweeping;
 * this process leaves the cluster; the database closes.
 */
export async function buildApp(
  config: Config,
  opts: { clock?: Clock; timers?: Timers; random?: () => number; logger?: boolean } = {},
): Promise<BuiltApp> {
  const app = createHttpServer(config, { logger: opts.logger });
  const clock = opts.clock ?? systemClock;
  const logError = (err: unknown) => app.log.error({ err }, 'background task failed');
  const logCluster = (err: unknown) =>
    app.log.warn({ err }, 'cluster: a peer or the LISTEN connection failed');
  // A manual clock is its own timers; otherwise real timers.
  const timers = opts.timers ?? ('after' in clock ? (clock as Clock & Timers) : createSystemTimers(logError));
  const ctx: AppContext = { app, config, clock, timers, random: opts.random, logError, logCluster };
  try {
    const database = await openDatabase(config.databaseUrl, { onIdleError: logError });
    app.addHook('onClose', () => database.close());
    const store = createStore(database.db);
    // Several processes over one PostgreSQL: live events and operations on calls cross processes.
    const cluster = createCluster(database.db, database.dialect, config.databaseUrl, { onError: logCluster });
    app.addHook('onClose', () => cluster.close());
    const services = createServices(ctx, { store, cluster });
    // Read at scrape time: the engine comes later.
    const metrics = createMetrics({ activeCalls: () => calls.simulator.sim.activeCount() });
    app.addHook('onClose', async () => metrics.close());
    // Who is on a call and the round-robin turns, shared when other processes share the database.
    const presence = cluster.shared
      ? createSharedPresence(store, cluster, { onError: (err) => logCluster(err) })
      : undefined;
    app.addHook('onClose', async () => presence?.close());
    const bus = createCallBus(logError);
    const events = openCallEvents(ctx, { store, bus, cluster, metrics });
    const recorder = openRecorder(ctx);
    // Real phones (issue 15): the SIP engine beside the simulator, when its parts are configured.
    // It closes after the engine (hooks run newest first): the engine's last calls send their BYEs.
    // A real phone's call records its RTP (the recorder synthesizes only simulated phones' audio).
    // DZVIN_SIP=on: Dzvin's own rtpengine and Kamailio first (their hooks run after the engine's:
    // the B2BUA closes, then Kamailio, then rtpengine); a crash later is logged loudly.
    const managed = config.sipManaged ? await openManagedSip(ctx, config.sipManaged) : null;
    const traceSip = (what: string, detail?: unknown) =>
      process.stderr.write(`sip ${what} ${detail === undefined ? '' : JSON.stringify(detail)}\n`);
    const sipConfig: SipConfig | undefined = managed ? managed.sip : config.sip;
    const sip = sipConfig
      ? await startSipEngine({
          // A test's own sip.maxQueueMs wins over DZVIN_SIP_MAX_QUEUE_MS.
          config: { ...sipConfig, maxQueueMs: sipConfig.maxQueueMs ?? config.sipMaxQueueMs },
          store,
          recorder,
          clock,
          credentials: storedSipCredentials(store),
          // One process of a cluster registers each trunk at its carrier (a lock per trunk).
          claims: cluster.shared ? createPgClaims(config.databaseUrl, { onError: logCluster }) : soloClaims(),
          nodeId: cluster.nodeId,
          onError: logError,
          onWarning: (message) => app.log.warn(message),
          // DZVIN_SIP_TRACE=1: what the B2BUA learns about each call (legs, carriers, media), one
          // line each on stderr — for an operator chasing a call, never on by default.
          onTrace: process.env.DZVIN_SIP_TRACE === '1' ? traceSip : undefined,
        })
      : null;
    if (sip) app.addHook('onClose', () => sip.close());
    // From the first moment of a shutdown new SIP calls go to another process (Kamailio's dispatcher).
    if (sip) app.addHook('preClose', async () => sip.drain());
    // Employees' SIP passwords (admin API) reach Kamailio at once, and again on every resync.
    if (sip) openSipCredentials(ctx, { store, services, sip });
    // A trunk changed: the trunks that register are read again at once, in every process.
    if (sip) openCarrierRegistrations(ctx, { services, sip, cluster });
    const calls = openCalls(ctx, {
      sip,
      store,
      bus,
      cluster,
      metrics,
      recorder,
      eventCapture: events.eventCapture,
      presence,
    });
    // The calls a killed process left in progress are closed before this one takes calls.
    await calls.closeOrphans(true).catch(logError);
    // Call tracking's calls → a UTM batch every minute through the outbox.
    const utmBatcher = createUtmBatcher({ store, outbox: events.outbox, clock, timers, onError: logError });
    utmBatcher.start();
    app.addHook('onClose', () => utmBatcher.stop());

    // HTTP, in the order the OpenAPI document lists it.
    await registerOpenApi(app);
    registerOperations(app, {
      metrics,
      metricsToken: config.metricsToken,
      notReady: () => databaseNotReady(database),
    });
    await app.register(consolePlugin);
    await app.register(publicApi, {
      services,
      sessionIdleSec: config.sessionIdleSec,
      recorder,
      recordingAccess: recordingAccess(store, services.auth),
      tracking: calls.tracking,
    });
    await app.register(phonetApi, { services, engine: calls.routed.engine });
    await app.register(adminApi, {
      services,
      simulator: calls.routed,
      tracking: calls.tracking,
      store,
      outbox: events.outbox,
      stream: events.eventStream,
      clock,
      browserPhone: browserPhone(config, sip !== null, managed),
    });
    await app.register(clusterApi, { cluster, engine: calls.routed, nodeUrl: config.nodeUrl });

    return {
      app,
      services,
      simulator: calls.simulator,
      traffic: calls.traffic,
      recorder,
      tracking: calls.tracking,
      utmBatcher,
      store,
      database,
      outbox: events.outbox,
      dispatcher: events.dispatcher,
      metrics,
      cluster,
      sip,
      sipDaemons: managed,
      close: () => app.close(),
    };
  } catch (err) {
    // Whatever was opened before the failure closes again; the failure is what the caller sees.
    await app.close().catch(logError);
    throw err;
  }
}

/** Where the console's browser phone reaches Kamailio's WebSocket (GET /api/v1/me), or why it cannot. */
function browserPhone(config: Config, hasSip: boolean, managed: ManagedSip | null): BrowserPhone {
  if (!hasSip)
    return {
      wsUrl: null,
      unavailable:
        'This server runs simulated phones only (no SIP engine): the browser phone needs DZVIN_SIP (docs/sip.md)',
    };
  const browsers = managed?.browsers;
  const wsUrl = config.sipWsUrl ?? (browsers ? `ws://${browsers.address}:${browsers.port}/` : null);
  return wsUrl
    ? { wsUrl, unavailable: null }
    : {
        wsUrl: null,
        unavailable:
          'No WebSocket for browsers: set DZVIN_SIP_WS_PORT (DZVIN_SIP=on) or DZVIN_SIP_WS_URL (docs/webrtc.md)',
      };
}
