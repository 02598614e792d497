import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController } from 'fastify';
import { sql } from 'kysely';
import { Type } from 'typebox';
import { type Cluster, createCluster } from './cluster/cluster.ts';
import {
  createClusterEngine,
  PEER_PATH,
  type PeerRequest,
  ROUTED_OPS,
  TRAFFIC_OPS,
} from './cluster/cluster-engine.ts';
import { createSharedPresence } from './cluster/presence.ts';
import type { Config } from './config.ts';
import { createAccountService } from './domain/accounts/account-service.ts';
import { createAuthService } from './domain/accounts/auth-service.ts';
import { createCallBus } from './domain/calls/call-engine.ts';
import { createHistoryService } from './domain/calls/history-service.ts';
import { type Clock, createSystemTimers, systemClock, type Timers } from './domain/clock.ts';
import { createContactService } from './domain/crm/contact-service.ts';
import { createDirectoryService } from './domain/directory/directory-service.ts';
import type { Store } from './domain/ports.ts';
import { createFileRecorder, type FileRecorder } from './engine/recording/file-recorder.ts';
import { createSimulator, type Simulator } from './engine/simulator/simulator.ts';
import { createTrafficGenerator, type TrafficGenerator } from './engine/simulator/traffic.ts';
import { adminRoutes } from './http/admin/admin-routes.ts';
import { deliveryRoutes } from './http/admin/delivery-routes.ts';
import { simDialRoutes } from './http/admin/sim-dial-routes.ts';
import { simRoutes } from './http/admin/sim-routes.ts';
import { consoleRoutes } from './http/console-static.ts';
import { registerErrorHandling } from './http/errors.ts';
import { registerNulGuard } from './http/nul-guard.ts';
import { finishOpenApiDocument } from './http/openapi-document.ts';
import { parseQuery, registerBodyParsers } from './http/parsing.ts';
import type { App, Services } from './http/route-kit.ts';
import { callHistoryRoutes } from './http/routes/calls-history.ts';
import { liveCallRoutes } from './http/routes/calls-live.ts';
import { contactRoutes } from './http/routes/contacts.ts';
import { phonetAuthRoutes } from './http/routes/phonet-auth.ts';
import { recordingAccess, recordingRoutes } from './http/routes/recordings.ts';
import { trackingAdminRoutes, trackingPublicRoutes } from './http/routes/tracking.ts';
import { userRoutes } from './http/routes/users.ts';
import { requireAdmin, requireSession } from './http/session.ts';
import { clientErrorHandler, registerValidation } from './http/validation.ts';
import { canonicalHeaderServerOptions } from './http/wire-headers.ts';
import { createEventStream } from './integrations/event-stream.ts';
import { postJson } from './integrations/http-out.ts';
import { createCallLookup } from './integrations/lookup.ts';
import { createCallEventCapture } from './integrations/outbox/capture.ts';
import { createDispatcher, type Dispatcher } from './integrations/outbox/dispatcher.ts';
import { createOutbox, type Outbox } from './integrations/outbox/outbox.ts';
import { DEFAULT_DELIVERY_SETTINGS } from './integrations/outbox/settings.ts';
import { createTrackingService, type TrackingService } from './integrations/tracking.ts';
import { createUtmBatcher, type UtmBatcher } from './integrations/utm.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createStore } from './store/create-store.ts';
import { type OpenDatabase, openDatabase } from './store/db.ts';
import { pendingMigrations } from './store/migrations.ts';

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
  /** Stops calls and timers, the HTTP server and the database. */
  close(): Promise<void>;
}

const LANDING = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Dzvin</title>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>Dzvin</h1><p>A Phonet-compatible PBX. The REST API is under <code>/rest/</code>, Dzvin's own admin API under <code>/api/v1/</code>.</p>
<ul><li><a href="/docs">API documentation</a></li><li><a href="/openapi.json">OpenAPI document</a></li></ul></body></html>`;

/**
 * The composition root: opens the database, wires stores → services → HTTP. main.ts only parses
 * config and listens; tests call this with their own database and clock.
 */
export async function buildApp(
  config: Config,
  opts: { clock?: Clock; timers?: Timers; random?: () => number; logger?: boolean } = {},
): Promise<BuiltApp> {
  const clock = opts.clock ?? systemClock;
  // A manual clock is its own timers; otherwise real timers (errors are logged once the app exists).
  let logError: (err: unknown) => void = () => {};
  const timers =
    opts.timers ??
    ('after' in clock ? (clock as Clock & Timers) : createSystemTimers((err) => logError(err)));
  const database = await openDatabase(config.databaseUrl, { onIdleError: (err) => logError(err) });
  const store = createStore(database.db);
  const auth = createAuthService({
    store,
    clock,
    settings: {
      sessionIdleMs: config.sessionIdleSec * 1000,
      maxFailuresPerIp: config.auth.maxFailuresPerIp,
      maxFailuresPerDomain: config.auth.maxFailuresPerDomain,
      failureWindowMs: config.auth.failureWindowSec * 1000,
    },
  });
  const services: Services = {
    auth,
    accounts: createAccountService({ store, clock }),
    directory: createDirectoryService({ store, clock }),
    contacts: createContactService({ store, clock }),
    history: createHistoryService({ store }),
  };

  const bus = createCallBus((err) => logError(err));
  const recorder = createFileRecorder({
    dir: config.recordingsDir,
    clock,
    timers,
    onError: (err, uuid) => logError({ err, uuid, msg: 'recording failed' }),
  });
  let activeCalls = () => 0;
  const metrics = createMetrics({ activeCalls: () => activeCalls() });
  let logCluster: (err: unknown) => void = () => {};
  let logLookup: (p: { accountId: number; connectionId: number; reason: string }) => void = () => {};
  // The contacts book's links in otherLegs (spec #17) open the console of the account's domain.
  let listenPort = config.port;
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
    onProblem: (p) => logLookup(p),
  });
  // spec #18: call events through the durable outbox, sent by this process's dispatcher.
  const outbox = createOutbox({ clock });
  const eventCapture = createCallEventCapture({ store, outbox, bus, clock, onError: (err) => logError(err) });
  const dispatcher = createDispatcher({
    store,
    clock,
    timers,
    policy: config.outgoing,
    settings: { ...DEFAULT_DELIVERY_SETTINGS, ...config.webhooks },
    random: opts.random,
    onError: (err) => logError(err),
    onAttempt: (row, o) => {
      if (o.status === 'delivered') {
        metrics.deliveriesSent.inc({ kind: row.kind });
        metrics.deliveryLag.observe(Math.max(0, o.at - row.createdAt) / 1000, { kind: row.kind });
      } else if (o.status === 'pending') metrics.deliveriesRetried.inc({ kind: row.kind });
      else if (o.status === 'dead') metrics.deliveriesDead.inc({ kind: row.kind });
      else if (o.status === 'failed') metrics.deliveriesFailed.inc({ kind: row.kind });
    },
  });
  outbox.onNotify(() => dispatcher.kick());
  // Several processes over one PostgreSQL: live events and operations on calls cross processes.
  const cluster = createCluster(database.db, database.dialect, config.databaseUrl, {
    onError: (err) => logCluster(err),
  });
  const eventStream = createEventStream({ bus, store, clock, cluster });
  // Sign-out and key rotation reach every process's session memory at once (SESSION_CACHE_MS
  // still bounds it if a message is lost).
  auth.shareRevocations((m) => cluster.publish(m));
  cluster.subscribe((m) => auth.applyRevocation(m));
  // Account changes (name, default country, API user, settings) likewise reach every process's
  // account cache at once (ACCOUNT_CACHE_MS bounds it otherwise).
  services.accounts.shareChanges((m) => cluster.publish(m));
  cluster.subscribe((m) => services.accounts.applyChange(m));
  // Who is on a call and the round-robin turns, shared when other processes share the database.
  const presence = cluster.shared
    ? createSharedPresence(store, cluster, { onError: (err) => logCluster(err) })
    : undefined;
  const simulator = createSimulator({
    presence,
    saveHook: {
      before: () => eventCapture.beforeSave(),
      inTransaction: (tx, records) => eventCapture.inSave(tx, records),
      after: () => eventCapture.afterSave(),
    },
    store,
    clock,
    timers,
    recorder,
    bus,
    routing: lookup,
    random: opts.random,
    onError: (err) => logError(err),
  });
  activeCalls = () => simulator.sim.activeCount();
  // What the HTTP layer drives: operations on a call another process owns go to that process.
  const traffic = createTrafficGenerator({
    sim: simulator.sim,
    engine: simulator.engine,
    store,
    clock,
    timers,
    random: opts.random,
  });
  const routed = createClusterEngine({
    simulator,
    traffic,
    cluster,
    onError: (err, peer) => logCluster({ err, peer: peer.url }),
  });
  // Call tracking and the callback widget → a UTM batch every minute through the outbox.
  const tracking = createTrackingService({
    store,
    clock,
    bus,
    dialer: simulator.sim,
    sessionMs: config.trackingSessionSec * 1000,
    limits: { ...config.publicLimits, windowMs: config.auth.failureWindowSec * 1000 },
    onError: (err) => logError(err),
  });
  const utmBatcher = createUtmBatcher({ store, outbox, clock, timers, onError: (err) => logError(err) });

  const app = Fastify({
    // Request lines are logged at debug level only: a PBX API is chatty and its clients poll.
    logger: opts.logger === false ? false : { level: config.logLevel },
    logController: new LogController({
      disableRequestLogging: config.logLevel !== 'debug' && config.logLevel !== 'trace',
    }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    clientErrorHandler,
    // Header names in canonical case on the wire (`Set-Cookie`…): Phonet clients match them exactly.
    http: canonicalHeaderServerOptions,
    routerOptions: { ignoreTrailingSlash: true, querystringParser: parseQuery, maxParamLength: 200 },
  }).withTypeProvider<TypeBoxTypeProvider>();

  logError = (err) => app.log.error({ err }, 'background task failed');
  logCluster = (err) => app.log.warn({ err }, 'cluster: a peer or the LISTEN connection failed');
  logLookup = (p) => app.log.warn(p, 'call.settings lookup failed; routing without that CRM');
  app.decorateRequest('account', null as never);
  registerErrorHandling(app);
  registerValidation(app);
  registerBodyParsers(app);
  registerNulGuard(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Dzvin — Phonet-compatible PBX API',
        version: '0.1.0',
        description:
          'Phonet REST API (under /rest/, session cookie JSESSIONID from POST /rest/security/authorize) and Dzvin’s admin API (under /api/v1/, the same session or Authorization: Bearer <apiKey>). Errors are plain text.',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'JSESSIONID' },
          apiKey: { type: 'http', scheme: 'bearer', description: 'The account API key (admin API only)' },
        },
      },
    },
    // operationIds, generator-friendly tags and 3.0 bounds (issue 17): http/openapi-document.ts
    transformObject: (documentObject) =>
      finishOpenApiDocument(
        'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject,
      ),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Operations (issue 7): liveness, readiness, Prometheus metrics, request counts by route.
  let shuttingDown = false;
  // Callback style (no promise per request), into series looked up by one short key (route
  // patterns, methods and statuses are few; the map is bounded all the same).
  const httpSeries = new Map<string, { count: { inc(): void }; duration: { observe(v: number): void } }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${reply.statusCode} ${route}`;
    let series = httpSeries.get(key);
    if (!series) {
      if (httpSeries.size >= 5000) httpSeries.clear();
      series = {
        count: metrics.httpRequests.handle({ method: request.method, route, status: reply.statusCode }),
        duration: metrics.httpDuration.handle({ route }),
      };
      httpSeries.set(key, series);
    }
    series.count.inc();
    series.duration.observe(reply.elapsedTime / 1000);
    done();
  });
  const ops = { schema: { tags: ['Dzvin: operations'] } };
  app.get('/healthz', { schema: { ...ops.schema, summary: 'Liveness: the process answers' } }, (_r, reply) =>
    reply.type('text/plain; charset=utf-8').send('ok'),
  );
  app.get(
    '/readyz',
    {
      schema: {
        ...ops.schema,
        summary: 'Readiness: the database answers, migrations are done, not stopping',
      },
    },
    async (_r, reply) => {
      reply.type('text/plain; charset=utf-8');
      if (shuttingDown) return reply.code(503).send('shutting down');
      try {
        await sql`select 1`.execute(database.db);
        const pending = await pendingMigrations(database.db, database.dialect);
        if (pending.length) return reply.code(503).send(`migrations pending: ${pending.join(', ')}`);
      } catch (err) {
        return reply
          .code(503)
          .send(`database unavailable: ${err instanceof Error ? err.message : String(err)}`);
      }
      return reply.send('ready');
    },
  );
  app.get(
    '/metrics',
    {
      schema: {
        ...ops.schema,
        summary: 'Prometheus metrics (Bearer DZVIN_METRICS_TOKEN when that is set)',
      },
    },
    (request, reply) => {
      reply.type('text/plain; charset=utf-8');
      if (config.metricsToken && request.headers.authorization !== `Bearer ${config.metricsToken}`)
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send('metrics need Authorization: Bearer <DZVIN_METRICS_TOKEN>');
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render());
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  // The web console (packages/console) at `/`; the landing page until it is built.
  consoleRoutes(app as unknown as App, LANDING);
  app.get('/api/v1/health', { schema: { tags: ['Dzvin: operations'], summary: 'Liveness' } }, () => ({
    status: 'ok',
  }));

  phonetAuthRoutes(app, services, config.sessionIdleSec);
  // Public by design (spec #15): keyed by unguessable uuids, unless the account requires a session.
  recordingRoutes(app, { recorder, access: recordingAccess(store, auth) });
  // Public for websites (keyed by account domain, CORS): tracking sessions, the callback widget.
  await app.register(async (scoped) => trackingPublicRoutes(scoped as unknown as App, tracking));
  await app.register(async (scoped) => {
    const s = scoped as unknown as App;
    s.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, security: [{ session: [] }] };
    });
    s.addHook('preHandler', requireSession(auth));
    userRoutes(s, services);
    contactRoutes(s, services);
    callHistoryRoutes(s, services);
    liveCallRoutes(s, routed.engine);
  });
  await app.register(async (scoped) => {
    const s = scoped as unknown as App;
    s.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, security: [{ apiKey: [] }, { session: [] }] };
    });
    s.addHook('preHandler', requireAdmin(auth));
    adminRoutes(s, services);
    simRoutes(s, routed, routed.traffic);
    simDialRoutes(s, routed);
    trackingAdminRoutes(s, tracking);
    deliveryRoutes(s, services, { store, outbox, stream: eventStream, clock });
  });

  // The cluster's internal API: another process of the same database asks about calls this
  // process's engine owns. Authenticated by the secret the processes share through the database.
  if (cluster.shared)
    app.post(
      PEER_PATH,
      {
        schema: {
          hide: true,
          body: Type.Object({
            op: Type.Union([
              Type.Literal('active'),
              Type.Literal('sim.settings'),
              ...TRAFFIC_OPS.map((o) => Type.Literal(o)),
              ...ROUTED_OPS.map((o) => Type.Literal(o)),
            ]),
            accountId: Type.Optional(Type.Integer({ minimum: 1 })),
            uuid: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            arg: Type.Optional(Type.String({ maxLength: 64 })),
          }),
        },
      },
      async (r, reply) => {
        if (!cluster.verify(r.headers.authorization))
          return reply.code(403).type('text/plain; charset=utf-8').send('Not a process of this cluster');
        const body = r.body as { op: string; accountId?: number; uuid?: string; arg?: string };
        if (body.op !== 'sim.settings' && body.accountId === undefined)
          return reply.code(400).type('text/plain; charset=utf-8').send('accountId is required');
        if ((ROUTED_OPS as readonly string[]).includes(body.op) && !body.uuid)
          return reply.code(400).type('text/plain; charset=utf-8').send('uuid is required');
        return routed.serve(body as PeerRequest);
      },
    );
  app.addHook('onListen', async () => {
    const address = app.server.address();
    if (!address || typeof address === 'string') return;
    listenPort = address.port;
    const host =
      address.address === '0.0.0.0' || address.address === '::'
        ? '127.0.0.1'
        : address.family === 'IPv6'
          ? `[${address.address}]`
          : address.address;
    const joined = await cluster.join(config.nodeUrl ?? `http://${host}:${address.port}`).then(
      () => true,
      (err) => {
        app.log.error({ err }, 'cluster: could not join; retrying with the heartbeat');
        return false;
      },
    );
    // The simulated office as the others have it (behaviours set before this process started).
    if (joined)
      await routed
        .adoptPeerSettings()
        .catch((err) => app.log.warn({ err }, 'cluster: could not take the simulator settings from a peer'));
  });

  const sweepRecordings = () =>
    recorder
      .sweep()
      .then((n) => n && app.log.warn(`removed ${n} unfinished recording file(s) left by a stopped process`));
  void sweepRecordings();
  const sweepTimer = setInterval(() => void sweepRecordings(), 3_600_000);
  sweepTimer.unref();
  const pruneTimer = setInterval(() => {
    auth.prune().catch((err) => app.log.warn({ err }, 'session prune failed'));
    lookup.prune().catch((err) => app.log.warn({ err }, 'lookup cache prune failed'));
  }, 5 * 60_000);
  pruneTimer.unref();
  utmBatcher.start();
  dispatcher.start();

  return {
    app,
    services,
    simulator,
    traffic,
    recorder,
    tracking,
    utmBatcher,
    store,
    database,
    outbox,
    dispatcher,
    metrics,
    cluster,
    async close() {
      // Graceful: readiness fails at once; the HTTP server stops accepting and finishes the
      // requests in flight; then calls end, and the dispatcher finishes its in-flight deliveries
      // (whatever was not started stays in the durable outbox for the next process).
      shuttingDown = true;
      clearInterval(pruneTimer);
      clearInterval(sweepTimer);
      await app.close();
      await utmBatcher.stop();
      await traffic.stopAll();
      await simulator.engine.close();
      tracking.close();
      await tracking.idle();
      await recorder.close();
      metrics.close();
      eventCapture.close();
      eventStream.close();
      await eventCapture.flush();
      await dispatcher.stop();
      presence?.close();
      await cluster.close();
      await database.close();
    },
  };
}
