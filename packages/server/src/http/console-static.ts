// The web console (packages/console, built into ../../public by its build script) at `/`:
// index.html and /assets/*. A tiny handler rather than a static-files plugin: three files,
// read on request (a rebuild shows up without a restart). Without a build, `/` falls back to
// the plain landing page.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from './route-kit.ts';

/** Where `npm run build:console` writes the console. */
export const CONSOLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../public');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export function consoleRoutes(app: App, landing: string, dir = CONSOLE_DIR) {
  app.get('/', { schema: { hide: true } }, async (_r, reply) => {
    const html = await fs.readFile(path.join(dir, 'index.html')).catch(() => null);
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(html ?? landing);
  });
  app.get<{ Params: { file: string } }>('/assets/:file', { schema: { hide: true } }, async (r, reply) => {
    const file = r.params.file;
    const type = TYPES[path.extname(file)];
    const body =
      /^[\w.-]+$/.test(file) && type
        ? await fs.readFile(path.join(dir, 'assets', file)).catch(() => null)
        : null;
    if (!body) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
    // Asset URLs carry the content hash (?v=…) in index.html, so they may be cached for long.
    return reply.type(type).header('cache-control', 'public, max-age=31536000, immutable').send(body);
  });
}
