// `npm run bench:startup`: start-up time and memory of `dzvin serve`, from the sources through tsx
// (a clone: `npm start`) and compiled (the packed packages installed globally, as an integrator
// gets them: `npm i -g ./dzvin-*.tgz`) — issue 17.
//
// Each run starts `dzvin serve` on 127.0.0.1 with SQLite in a temp dir and measures from spawn
// to the first `GET /readyz` 200 (polled every 10 ms; migrations done, database answering), then
// reads the process's RSS and peak RSS (/proc/PID/status) at that moment and after 2 s idle. Two
// kinds of start: `first` (empty data dir: migrations + demo account) and `restart` (the same
// data again). Runs alternate between the two builds so drift of the machine hits both.
// BENCH_STARTUP_RUNS (default 7) per build and kind; medians reported. Writes
// bench/results/startup.md and startup.json; the last stdout line is one JSON object.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 7);
const PACKAGES = ['protocol', 'sdk', 'server', 'cli'];
const log = (line: string) => process.stderr.write(`[bench:startup] ${line}\n`);

// Children get no "dzvin-source" condition: the compiled build must resolve to dist/, and the
// source build sets it up itself (packages/cli/bin/dzvin.js in a clone).
const env = { ...process.env };
env.NODE_OPTIONS = (env.NODE_OPTIONS ?? '')
  .split(/\s+/)
  .filter((o) => o && o !== '--conditions=dzvin-source')
  .join(' ');

function sh(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Packs the packages (prepack compiles them) and installs them into a global prefix of its own. */
function installCompiled(tmp: string): string {
  log('packing and installing the compiled packages…');
  const packed = JSON.parse(
    sh(
      'npm',
      ['pack', '--json', '--pack-destination', tmp, ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])],
      ROOT,
    ),
  ) as { filename: string }[];
  const prefix = path.join(tmp, 'global');
  sh(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      ...packed.map((p) => path.join(tmp, p.filename)),
    ],
    tmp,
  );
  // The native SQLite binding: the workspace's build of the same version (see packed-packages.test.ts).
  const sqlite = path.join(prefix, 'lib/node_modules/@dzvin/server/node_modules/better-sqlite3');
  fs.cpSync(path.join(ROOT, 'node_modules/better-sqlite3/build'), path.join(sqlite, 'build'), {
    recursive: true,
  });
  return path.join(prefix, 'bin/dzvin');
}

function rssOf(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

interface Sample {
  build: 'source' | 'compiled';
  kind: 'first' | 'restart';
  readyMs: number;
  rssMb: number;
  peakRssMb: number;
  rssIdleMb: number;
}

async function once(
  build: Sample['build'],
  kind: Sample['kind'],
  cmd: string[],
  dataDir: string,
): Promise<Sample> {
  const started = performance.now();
  const child: ChildProcess = spawn(cmd[0], cmd.slice(1), {
    cwd: dataDir,
    env: { ...env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    out += c;
  });
  try {
    const deadline = Date.now() + 60_000;
    let port: string | undefined;
    while (!port) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`dzvin serve did not start:\n${out}`);
      port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
      if (!port) await new Promise((r) => setTimeout(r, 5));
    }
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`never ready:\n${out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const readyMs = performance.now() - started;
    const atReady = rssOf(child.pid as number);
    await new Promise((r) => setTimeout(r, 2000));
    const idle = rssOf(child.pid as number);
    return { build, kind, readyMs, rssMb: atReady.rss, peakRssMb: idle.hwm, rssIdleMb: idle.rss };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-bench-startup-'));
  try {
    const compiledBin = installCompiled(tmp);
    const builds = {
      source: [process.execPath, path.join(ROOT, 'packages/cli/bin/dzvin.js'), 'serve'],
      compiled: [compiledBin, 'serve'],
    } as const;
    const samples: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const build of ['source', 'compiled'] as const) {
        const data = fs.mkdtempSync(path.join(tmp, `${build}-`));
        for (const kind of ['first', 'restart'] as const) {
          const s = await once(build, kind, [...builds[build]], data);
          samples.push(s);
          log(`${build} ${kind}: ready in ${s.readyMs.toFixed(0)} ms, RSS ${s.rssMb.toFixed(0)} MB`);
        }
      }
    }
    const summary = (['source', 'compiled'] as const).flatMap((build) =>
      (['first', 'restart'] as const).map((kind) => {
        const ss = samples.filter((s) => s.build === build && s.kind === kind);
        return {
          build,
          kind,
          readyMs: Math.round(median(ss.map((s) => s.readyMs))),
          rssMb: Math.round(median(ss.map((s) => s.rssMb))),
          rssIdleMb: Math.round(median(ss.map((s) => s.rssIdleMb))),
          peakRssMb: Math.round(median(ss.map((s) => s.peakRssMb))),
        };
      }),
    );
    const get = (b: string, k: string) =>
      summary.find((s) => s.build === b && s.kind === k) as (typeof summary)[number];
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
      runs: RUNS,
      summary,
      samples,
      restart_ready_ms_source: get('source', 'restart').readyMs,
      restart_ready_ms_compiled: get('compiled', 'restart').readyMs,
      rss_mb_source: get('source', 'restart').rssMb,
      rss_mb_compiled: get('compiled', 'restart').rssMb,
    };
    const rows = summary.map(
      (s) => `| ${s.build} | ${s.kind} | ${s.readyMs} | ${s.rssMb} | ${s.rssIdleMb} | ${s.peakRssMb} |`,
    );
    const ratio = (a: number, b: number) => `${((1 - b / a) * 100).toFixed(0)} %`;
    const md = `# dzvin serve start-up: sources through tsx vs compiled (issue 17)

\`npm run bench:startup\` — ${result.date}, Node ${result.node}, ${result.cpus} CPUs, load average ${result.loadavg.join(' / ')}
before the run. Medians of ${RUNS} runs per row; runs alternate between the builds.

- **source**: \`node packages/cli/bin/dzvin.js serve\` in the repository (what \`npm start\` runs): tsx
  compiles the TypeScript sources as they load.
- **compiled**: \`dzvin serve\` from the packed packages installed with \`npm i -g\` into a temporary
  prefix: plain JavaScript from dist/, no tsx installed.
- **ready**: spawn → first \`GET /readyz\` 200. **first**: an empty data dir (SQLite created, migrations,
  demo account); **restart**: the same data dir again. RSS at ready, after 2 s idle, and the peak (VmHWM).

| build | start | ready (ms) | RSS at ready (MB) | RSS idle (MB) | peak RSS (MB) |
| ----- | ----- | ---------: | ----------------: | ------------: | ------------: |
${rows.join('\n')}

Restart: compiled is ready ${ratio(result.restart_ready_ms_source, result.restart_ready_ms_compiled)} sooner
(${result.restart_ready_ms_source} → ${result.restart_ready_ms_compiled} ms) with ${ratio(result.rss_mb_source, result.rss_mb_compiled)} less RSS
(${result.rss_mb_source} → ${result.rss_mb_compiled} MB). Raw samples: [startup.json](startup.json).
`;
    fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'bench/results/startup.md'), md);
    fs.writeFileSync(path.join(ROOT, 'bench/results/startup.json'), `${JSON.stringify(result, null, 2)}\n`);
    log('wrote bench/results/startup.md and startup.json');
    const { samples: _s, ...line } = result;
    console.log(JSON.stringify(line));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
  process.exit(1);
});
