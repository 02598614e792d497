import { consoleRoutes } from './console-static.ts';
import type { App } from './route-kit.ts';

/** What `/` shows until the console is built (`npm run build:console`). */
export const LANDING = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Dzvin</title>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>Dzvin</h1><p>A Phonet-compatible PBX. The REST API is under <code>/rest/</code>, Dzvin's own admin API under <code>/api/v1/</code>.</p>
<ul><li><a href="/docs">API documentation</a></li><li><a href="/openapi.json">OpenAPI document</a></li></ul></body></html>`;

/** The web console (packages/console) at `/`, or the landing page until it is built. */
export async function consolePlugin(app: App): Promise<void> {
  consoleRoutes(app, LANDING);
}
