import type { CallEngine } from '../domain/calls/call-engine.ts';
import type { App, Services } from './route-kit.ts';
import { callHistoryRoutes } from './routes/calls-history.ts';
import { liveCallRoutes } from './routes/calls-live.ts';
import { contactRoutes } from './routes/contacts.ts';
import { userRoutes } from './routes/users.ts';
import { requireSession } from './session.ts';

/**
 * The Phonet REST API behind a session (JSESSIONID from `POST /rest/security/authorize`):
 * users, contacts, call history, calls in progress. Its own scope: the session check is a
 * preHandler of these routes only.
 */
export async function phonetApi(app: App, deps: { services: Services; engine: CallEngine }): Promise<void> {
  const { services } = deps;
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, security: [{ session: [] }] };
  });
  app.addHook('preHandler', requireSession(services.auth));
  userRoutes(app, services);
  contactRoutes(app, services);
  callHistoryRoutes(app, services);
  liveCallRoutes(app, deps.engine, services);
}
