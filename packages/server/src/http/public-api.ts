import type { Recorder } from '../domain/calls/call-model.ts';
import type { TrackingService } from '../integrations/tracking.ts';
import type { App, Services } from './route-kit.ts';
import { phonetAuthRoutes } from './routes/phonet-auth.ts';
import { type RecordingAccess, recordingRoutes } from './routes/recordings.ts';
import { trackingPublicRoutes } from './routes/tracking.ts';

/** The routes that need no session: signing in, recordings, website tracking. */
export async function publicApi(
  app: App,
  deps: {
    services: Services;
    sessionIdleSec: number;
    recorder: Recorder;
    recordingAccess: RecordingAccess;
    tracking: TrackingService;
  },
): Promise<void> {
  phonetAuthRoutes(app, deps.services, deps.sessionIdleSec);
  // Public by design (spec #15): keyed by unguessable uuids, unless the account requires a session.
  recordingRoutes(app, { recorder: deps.recorder, access: deps.recordingAccess });
  // Public for websites (keyed by account domain, CORS): tracking sessions, the callback widget.
  // A scope of its own: its CORS headers are an onSend hook.
  await app.register(async (scoped) => trackingPublicRoutes(scoped, deps.tracking));
}
