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
  /** Every JS file the console can load (app.js, its chunks and the Phone's lazy chunk). */
  jsBytes: number;
  jsGzipBytes: number;
  /** What the first page load downloads: app.js and the chunks it imports statically. */
  firstLoadGzipBytes: number;
  /** The Phone's chunk (JsSIP and the page's SIP engine), loaded when an employee signs in. */
  phoneGzipBytes: number;
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
    // The Phone's SIP engine (JsSIP) is imported lazily: a chunk of its own, not in app.js.
    splitting: true,
    chunkNames: '[name]-[hash]',
    metafile: true,
    write: false,
    legalComments: 'none',
    // Our workspace packages from their sources (their exports' "dzvin-source" condition).
    conditions: ['dzvin-source', 'module'],
    logLevel: 'silent',
  });
  let js = Buffer.alloc(0);
  let css = Buffer.alloc(0);
  // Chunks of an earlier build go (their names carry their hash).
  for (const f of fs.readdirSync(assets)) if (f.endsWith('.js')) fs.rmSync(path.join(assets, f));
  const gz = new Map<string, number>();
  let jsBytes = 0;
  for (const f of result.outputFiles) {
    const name = path.basename(f.path);
    if (name === 'app.js') js = Buffer.from(f.contents);
    else if (name === 'app.css') css = Buffer.from(f.contents);
    if (name.endsWith('.js')) {
      fs.writeFileSync(path.join(assets, name), f.contents);
      gz.set(name, gzipSync(f.contents, { level: 9 }).length);
      jsBytes += f.contents.length;
    }
  }
  fs.writeFileSync(path.join(assets, 'app.css'), css);
  // The first load: app.js and what it imports statically, transitively (esbuild's metafile).
  const outputs = result.metafile?.outputs ?? {};
  const byName = new Map(Object.entries(outputs).map(([k, v]) => [path.basename(k), v]));
  const first = new Set<string>();
  const visit = (name: string) => {
    if (first.has(name)) return;
    first.add(name);
    for (const i of byName.get(name)?.imports ?? [])
      if (i.kind === 'import-statement') visit(path.basename(i.path));
  };
  visit('app.js');
  const sum = (names: Iterable<string>) => [...names].reduce((n, x) => n + (gz.get(x) ?? 0), 0);
  const phone = [...byName.entries()]
    .filter(
      ([name, o]) =>
        name.endsWith('.js') && Object.keys(o.inputs).some((i) => i.includes('node_modules/jssip/')),
    )
    .map(([name]) => name);
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
    jsBytes,
    jsGzipBytes: sum(gz.keys()),
    firstLoadGzipBytes: sum(first),
    phoneGzipBytes: sum(phone),
    cssBytes: css.length,
    cssGzipBytes: gzipSync(css, { level: 9 }).length,
    ms: Math.round(performance.now() - started),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const b = await buildConsole();
  process.stdout.write(
    `console built into ${path.relative(process.cwd(), b.outDir) || '.'}: JS ${(b.jsGzipBytes / 1024).toFixed(1)} KB gzipped (first load ${(b.firstLoadGzipBytes / 1024).toFixed(1)} KB, the Phone's chunk ${(b.phoneGzipBytes / 1024).toFixed(1)} KB), app.css ${(b.cssGzipBytes / 1024).toFixed(1)} KB gzipped (${b.ms} ms)\n`,
  );
}
