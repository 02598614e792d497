import type { TrafficControl } from '../cluster/cluster-engine.ts';
import type { Clock } from '../domain/clock.ts';
import type { Store } from '../domain/ports.ts';
import type { Simulator } from '../engine/simulator/simulator.ts';
import type { EventStream } from '../integrations/event-stream.ts';
import type { Outbox } from '../integrations/outbox/outbox.ts';
import type { TrackingService } from '../integrations/tracking.ts';
import { adminRoutes, type BrowserPhone } from './admin/admin-routes.ts';
import { deliveryRoutes } from './admin/delivery-routes.ts';
import { simDialRoutes } from './admin/sim-dial-routes.ts';
import { simRoutes } from './admin/sim-routes.ts';
import type { App, Services } from './route-kit.ts';
import { trackingAdminRoutes } from './routes/tracking.ts';
import { requireAdmin } from './session.ts';

/**
 * Dzvin's own admin API under `/api/v1/` (`Authorization: Bearer <apiKey>` or a session):
 * accounts and directory, the simulator and its traffic, employees' own dialling, call tracking,
 * deliveries and the live event stream. Its own scope, for the admin check.
 */
export async function adminApi(
  app: App,
  deps: {
    services: Services;
    /** The call engine as the HTTP layer drives it (across processes: cluster/cluster-engine.ts). */
    simulator: Simulator & { traffic: TrafficControl };
    tracking: TrackingService;
    store: Store;
    outbox: Outbox;
    stream: EventStream;
    clock: Clock;
    browserPhone: BrowserPhone;
  },
): Promise<void> {
  const { services, simulator } = deps;
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, security: [{ apiKey: [] }, { session: [] }] };
  });
  app.addHook('preHandler', requireAdmin(services.auth));
  adminRoutes(app, services, deps.browserPhone);
  simRoutes(app, simulator, simulator.traffic);
  simDialRoutes(app, simulator);
  trackingAdminRoutes(app, deps.tracking);
  deliveryRoutes(app, services, {
    store: deps.store,
    outbox: deps.outbox,
    stream: deps.stream,
    clock: deps.clock,
  });
}
