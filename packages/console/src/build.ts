// Builds the web console (web/**) with esbuild into the server package's `public/` directory:
// index.html + assets/app.js + assets/app.css. Run by `npm ci` (root `prepare`), by
// `npm run build:console`, and by the console's tests and bench before they start a server.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** Where the server looks for the console (packages/server/public). */
export const CONSOLE_OUT_DIR = path.resolve(HERE, '../../server/public');
const ENTRY = path.resolve(HERE, '../web/main.tsx');

export interface ConsoleBuild {
  outDir: string;
  jsBytes: number;
  jsGzipBytes: number;
  cssBytes: number;
  cssGzipBytes: number;
  ms: number;
}

/** Bundles, minifies and writes the console; returns the sizes of what the browser downloads. */
export async function buildConsole(opts: { outDir?: string; minify?: boolean } = {}): Promise<ConsoleBuild> {
  const started = performance.now();
  const outDir = opts.outDir ?? CONSOLE_OUT_DIR;
  const assets = path.join(outDir, 'assets');
  fs.mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: { app: ENTRY },
    bundle: true,
    minify: opts.minify ?? true,
    format: 'esm',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: assets,
    write: false,
    legalComments: 'none',
    // Our workspace packages from their sources (their exports' "dzvin-source" condition).
    conditions: ['dzvin-source', 'module'],
    logLevel: 'silent',
  });
  let js = Buffer.alloc(0);
  let css = Buffer.alloc(0);
  for (const f of result.outputFiles) {
    if (f.path.endsWith('.js')) js = Buffer.from(f.contents);
    else if (f.path.endsWith('.css')) css = Buffer.from(f.contents);
  }
  fs.writeFileSync(path.join(assets, 'app.js'), js);
  fs.writeFileSync(path.join(assets, 'app.css'), css);
  const v = createHash('sha256').update(js).update(css).digest('hex').slice(0, 12);
  fs.writeFileSync(
    path.join(outDir, 'index.html'),
    `<!doctype html>
<html lang="uk">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dzvin</title>
<link rel="stylesheet" href="/assets/app.css?v=${v}">
<script type="module" src="/assets/app.js?v=${v}"></script>
</head>
<body><div id="app"></div></body>
</html>
`,
  );
  return {
    outDir,
    jsBytes: js.length,
    jsGzipBytes: gzipSync(js, { level: 9 }).length,
    cssBytes: css.length,
    cssGzipBytes: gzipSync(css, { level: 9 }).length,
    ms: Math.round(performance.now() - started),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const b = await buildConsole();
  process.stdout.write(
    `console built into ${path.relative(process.cwd(), b.outDir) || '.'}: app.js ${(b.jsGzipBytes / 1024).toFixed(1)} KB gzipped, app.css ${(b.cssGzipBytes / 1024).toFixed(1)} KB gzipped (${b.ms} ms)\n`,
  );
}
