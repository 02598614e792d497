#!/usr/bin/env node
// Compiles the publishable packages to JavaScript + declarations: `node scripts/build-packages.mjs
// [protocol|sdk|server|cli …]` (no argument: all). Each package's `prepack` runs it, so `npm pack`
// and `npm publish` always ship a fresh build; the repository itself runs from the sources and
// never needs it (scripts/source.mjs).
//
// - tsc (packages/X/tsconfig.build.json) writes ESM to dist/: .js, .d.ts, source maps and
//   declaration maps that point into src/ (shipped alongside, so editors jump to the source).
// - protocol and sdk also ship CommonJS in dist/cjs/ (a package.json there says "commonjs"): the
//   ESM output converted file by file by esbuild (the source maps chained back to src/), with
//   the same declarations. A package's @dzvin dependencies are built first: their declarations
//   are what the next one compiles against.
// - DZVIN_BUILD_NO_CHECK=1 skips the type check (see NO_CHECK below).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const PACKAGES = {
  protocol: { deps: [], cjs: true },
  sdk: { deps: ['protocol'], cjs: true },
  server: { deps: ['protocol'], cjs: false, needs: ['public/index.html'] },
  cli: { deps: ['protocol', 'sdk', 'server'], cjs: false },
};

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

// DZVIN_BUILD_NO_CHECK=1: emit without type checking (tsc --noCheck: the same JavaScript, and
// equivalent declarations — a few inferred types list members in another order; the server
// package's tsc takes ~9 s of CPU instead of ~30 s). The packed-packages test sets it:
// `npm run typecheck` checks these sources anyway, and the test type-checks the emitted
// declarations from an integrator's project. A real `npm pack`/`npm publish` leaves it unset
// and checks.
const NO_CHECK = process.env.DZVIN_BUILD_NO_CHECK === '1';

/** Dependencies that ship ESM only (typebox 1): require() loads them through Node's require(esm). */
const ESM_ONLY = ['typebox'];

/**
 * A declaration file for the CommonJS copy. TypeScript refuses a CommonJS file's import of an
 * ESM-only package (TS1479), so those imports become type-only imports resolved as ESM (they
 * name types only: the declarations use `Type.TObject`, `Static<…>`, never a value).
 */
function forCommonJs(dts) {
  return dts.replace(/^import \{([^}]*)\} from '([^']+)';$/gm, (line, names, spec) =>
    ESM_ONLY.includes(spec)
      ? `import type {${names.replace(/\btype\s+/g, '')}} from '${spec}' with { 'resolution-mode': 'import' };`
      : line,
  );
}

async function buildOne(name) {
  const dir = path.join(ROOT, 'packages', name);
  const dist = path.join(dir, 'dist');
  const started = performance.now();
  fs.rmSync(dist, { recursive: true, force: true });
  const args = [TSC, '-p', path.join(dir, 'tsconfig.build.json')];
  if (NO_CHECK) args.push('--noCheck');
  const tsc = spawnSync(process.execPath, args, {
    cwd: dir,
    stdio: 'inherit',
  });
  if (tsc.status !== 0) throw new Error(`@dzvin/${name}: tsc failed (exit ${tsc.status})`);
  if (PACKAGES[name].cjs) {
    const cjs = path.join(dist, 'cjs');
    const files = walk(dist);
    await build({
      entryPoints: files.filter((f) => f.endsWith('.js')),
      outdir: cjs,
      outbase: dist,
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      sourcemap: 'linked',
      sourcesContent: false,
      bundle: false,
      logLevel: 'warning',
    });
    for (const f of files) {
      const rel = path.relative(dist, f);
      const to = path.join(cjs, rel);
      if (f.endsWith('.json')) fs.copyFileSync(f, to);
      else if (f.endsWith('.d.ts')) {
        // The declaration maps stay with the ESM copy (their paths are relative to dist/).
        const text = forCommonJs(fs.readFileSync(f, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n'));
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.writeFileSync(to, text);
      }
    }
    // esbuild's maps are relative to dist/cjs/ and name the .ts sources through tsc's maps.
    fs.writeFileSync(path.join(cjs, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
  }
  for (const need of PACKAGES[name].needs ?? []) {
    if (!fs.existsSync(path.join(dir, need))) {
      throw new Error(
        `@dzvin/${name}: ${need} is missing — build the web console first (npm run build:console; npm ci does it)`,
      );
    }
  }
  process.stderr.write(`[build] @dzvin/${name} → dist/ in ${Math.round(performance.now() - started)} ms\n`);
}

// `--deps-if-missing` (the packages' prepack): build the named packages, and their @dzvin
// dependencies only when those have no dist/ yet (each is rebuilt by its own prepack anyway).
const depsIfMissing = process.argv.includes('--deps-if-missing');
const wanted = process.argv.slice(2).filter((a) => a !== '--deps-if-missing');
for (const w of wanted) {
  if (!(w in PACKAGES)) {
    process.stderr.write(`[build] unknown package "${w}" (one of: ${Object.keys(PACKAGES).join(', ')})\n`);
    process.exit(2);
  }
}
const order = [];
const built = (n) => fs.existsSync(path.join(ROOT, 'packages', n, 'dist', 'index.js'));
const visit = (n, asDep) => {
  if (order.includes(n) || (asDep && depsIfMissing && built(n))) return;
  for (const d of PACKAGES[n].deps) visit(d, true);
  order.push(n);
};
for (const n of wanted.length ? wanted : Object.keys(PACKAGES)) visit(n, false);
try {
  for (const n of order) await buildOne(n);
} catch (e) {
  process.stderr.write(`[build] ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
