import type { Metrics } from '../metrics.ts';
import type { App } from './route-kit.ts';

const tags = ['Dzvin: operations'];

/**
 * Operations (issue 7): liveness, readiness, Prometheus metrics, request counts by route. On the
 * root instance rather than in a plugin of its own: the request counter is an `onResponse` hook,
 * and a hook of an encapsulated plugin would only see that plugin's routes.
 */
export function registerOperations(
  app: App,
  deps: {
    metrics: Metrics;
    /** `Bearer <token>` required on `/metrics` when set. */
    metricsToken: string | undefined;
    /** Why the process cannot serve yet (database down, migrations pending), or null. */
    notReady: () => Promise<string | null>;
  },
): void {
  const { metrics } = deps;
  // Readiness fails as soon as shutdown begins, while the requests in flight finish.
  let shuttingDown = false;
  app.addHook('preClose', async () => {
    shuttingDown = true;
  });

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

  app.get('/healthz', { schema: { tags, summary: 'Liveness: the process answers' } }, (_r, reply) =>
    reply.type('text/plain; charset=utf-8').send('ok'),
  );
  app.get(
    '/readyz',
    { schema: { tags, summary: 'Readiness: the database answers, migrations are done, not stopping' } },
    async (_r, reply) => {
      reply.type('text/plain; charset=utf-8');
      if (shuttingDown) return reply.code(503).send('shutting down');
      const problem = await deps.notReady();
      if (problem) return reply.code(503).send(problem);
      return reply.send('ready');
    },
  );
  app.get(
    '/metrics',
    { schema: { tags, summary: 'Prometheus metrics (Bearer DZVIN_METRICS_TOKEN when that is set)' } },
    (request, reply) => {
      reply.type('text/plain; charset=utf-8');
      if (deps.metricsToken && request.headers.authorization !== `Bearer ${deps.metricsToken}`)
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send('metrics need Authorization: Bearer <DZVIN_METRICS_TOKEN>');
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render());
    },
  );
  app.get('/api/v1/health', { schema: { tags, summary: 'Liveness' } }, () => ({ status: 'ok' }));
}
