// `npm run bench:sdk`: what the SDK costs per request over raw fetch, on the same endpoint
// (`GET /rest/users`) of a Dzvin child process (`dzvin serve`, SQLite in a temp dir) on loopback.
//
// Raw: fetch with the JSESSIONID cookie, then res.json(). SDK: PhonetClient.users.list() (session
// handling, timeout timer, retry bookkeeping, error mapping, lenient body parsing). Both run in
// this process, one request at a time (c=1, where per-request overhead is most visible) and 8 in
// flight (c=8), in interleaved blocks (raw, sdk, sdk, raw, …) so drift of the machine hits both.
// Also measured: this process's CPU time per request (user+system), which excludes the server.
//
// Bounded: BENCH_SDK_SECONDS (default 30) of measurement plus a few seconds of start-up; a
// watchdog ends the run after 2 minutes. Writes bench/results/sdk.md and sdk.json; the last
// stdout line is one JSON object with `overhead_ratio` (SDK mean time per request / raw, c=1).
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PhonetClient } from '@dzvin/sdk';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_SDK_SECONDS ?? 30);
const DOMAIN = 'bench.localhost';
const API_KEY = 'BenchSdkKey0123456789abcdefABCDEF';
const log = (line: string) => process.stderr.write(`[bench:sdk] ${line}\n`);

let child: ChildProcess | undefined;
const kill = () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
};
process.on('exit', kill);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    kill();
    process.exit(130);
  });
setTimeout(() => {
  log('watchdog: still running after 2 min, giving up');
  kill();
  process.exit(2);
}, 120_000).unref();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function startDzvin(dir: string): Promise<string> {
  const port = await freePort();
  child = spawn(process.execPath, [path.join(ROOT, 'packages/cli/bin/dzvin.js'), 'serve'], {
    cwd: dir,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: `sqlite:${path.join(dir, 'dzvin.sqlite')}`,
      DZVIN_RECORDINGS_DIR: path.join(dir, 'recordings'),
      DZVIN_DEMO: 'true',
      DZVIN_DEMO_DOMAIN: DOMAIN,
      DZVIN_DEMO_API_KEY: API_KEY,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`dzvin serve exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${base}/rest/users`);
      await r.arrayBuffer();
      return base; // any answer (403 without a session) means it listens
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error('dzvin serve did not listen within 60 s');
}

interface Sample {
  requests: number;
  wallMs: number;
  cpuUs: number;
  latencies: number[];
}

/** Runs `op` with `concurrency` in flight for `ms`; per-request latencies, wall and CPU time. */
async function block(op: () => Promise<unknown>, concurrency: number, ms: number): Promise<Sample> {
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await op();
        latencies.push(performance.now() - s);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { requests: latencies.length, wallMs, cpuUs: cpu.user + cpu.system, latencies };
}

function merge(samples: Sample[]) {
  const requests = samples.reduce((n, s) => n + s.requests, 0);
  const wallMs = samples.reduce((n, s) => n + s.wallMs, 0);
  const cpuUs = samples.reduce((n, s) => n + s.cpuUs, 0);
  const lat = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return {
    requests,
    req_per_s: Math.round((requests / wallMs) * 1000),
    mean_ms_per_req: +(wallMs / requests).toFixed(4),
    p50_ms: +q(0.5).toFixed(3),
    p99_ms: +q(0.99).toFixed(3),
    client_cpu_us_per_req: Math.round(cpuUs / requests),
  };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-bench-sdk-'));
  try {
    log(`starting dzvin serve in ${dir}`);
    const base = await startDzvin(dir);
    const auth = await fetch(`${base}/rest/security/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ domain: DOMAIN, apiKey: API_KEY }),
    });
    const cookie = /^(JSESSIONID=[^;]+)/.exec(auth.headers.getSetCookie()[0] ?? '')?.[1];
    if (auth.status !== 200 || !cookie)
      throw new Error(`authorize failed: ${auth.status} ${await auth.text()}`);
    const url = `${base}/rest/users`;
    const raw = async () => {
      const r = await fetch(url, { headers: { cookie, accept: 'application/json' } });
      if (r.status !== 200) throw new Error(`raw: ${r.status}`);
      return r.json();
    };
    const client = new PhonetClient({ domain: DOMAIN, apiKey: API_KEY, baseUrl: base });
    const sdk = () => client.users.list();
    const [a, b] = [await raw(), await sdk()];
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error('raw and SDK answers differ');

    log('warm-up 3 s');
    await block(raw, 4, 1500);
    await block(sdk, 4, 1500);

    const scenarios = [1, 8] as const;
    const rounds = 4;
    const blockMs = Math.max(250, (SECONDS * 1000) / (scenarios.length * rounds * 2));
    const results: Record<string, { raw: Sample[]; sdk: Sample[] }> = {};
    for (const c of scenarios) {
      results[c] = { raw: [], sdk: [] };
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? (['raw', 'sdk'] as const) : (['sdk', 'raw'] as const);
        for (const mode of order) results[c][mode].push(await block(mode === 'raw' ? raw : sdk, c, blockMs));
      }
      log(`c=${c} done`);
    }
    const table = scenarios.map((c) => {
      const r = merge(results[c].raw);
      const s = merge(results[c].sdk);
      return { concurrency: c, raw: r, sdk: s, ratio: +(s.mean_ms_per_req / r.mean_ms_per_req).toFixed(3) };
    });
    const c1 = table[0];
    const summary = {
      overhead_ratio: c1.ratio,
      overhead_ratio_c8: table[1].ratio,
      sdk_overhead_us_per_req: Math.round((c1.sdk.mean_ms_per_req - c1.raw.mean_ms_per_req) * 1000),
      client_cpu_us_per_req_raw: c1.raw.client_cpu_us_per_req,
      client_cpu_us_per_req_sdk: c1.sdk.client_cpu_us_per_req,
      raw_req_per_s: c1.raw.req_per_s,
      sdk_req_per_s: c1.sdk.req_per_s,
    };
    const report = {
      date: new Date().toISOString(),
      endpoint: 'GET /rest/users',
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        loadavg_1m: +os.loadavg()[0].toFixed(2),
        node: process.version,
      },
      settings: { seconds: SECONDS, rounds, block_ms: Math.round(blockMs), scenarios },
      scenarios: table,
      summary,
    };
    fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, 'bench/results/sdk.json'), `${JSON.stringify(report, null, 2)}\n`);
    const row = (c: (typeof table)[number], mode: 'raw' | 'sdk') => {
      const m = c[mode];
      return `| ${c.concurrency} | ${mode === 'raw' ? 'raw fetch' : 'SDK'} | ${m.requests} | ${m.req_per_s} | ${m.mean_ms_per_req.toFixed(3)} | ${m.p50_ms.toFixed(3)} | ${m.p99_ms.toFixed(3)} | ${m.client_cpu_us_per_req} |`;
    };
    const md = [
      '# bench:sdk — SDK overhead per request vs raw fetch',
      '',
      `Run ${report.date} · ${report.machine.cpus} CPUs (${report.machine.model}) · load ${report.machine.loadavg_1m} at the end · Node ${process.version}`,
      '',
      `- Endpoint: \`GET /rest/users\` of a \`dzvin serve\` child process (SQLite, demo account) on 127.0.0.1.`,
      '- Raw: `fetch` with the JSESSIONID cookie + `res.json()`. SDK: `PhonetClient.users.list()` (its own session).',
      `- ${rounds} interleaved rounds of ${Math.round(blockMs)} ms blocks per mode and concurrency, after a 3 s warm-up; both in this process.`,
      '- "client CPU" is this process\'s user+system CPU per request: the SDK\'s own cost without the server.',
      '- The machine has 2 cores shared with the server child and with other work: read ratios, not absolutes.',
      '',
      '| in flight | client | requests | req/s | mean ms/req | p50 ms | p99 ms | client CPU µs/req |',
      '|---|---|---|---|---|---|---|---|',
      ...table.flatMap((c) => [row(c, 'raw'), row(c, 'sdk')]),
      '',
      `**overhead_ratio (c=1, SDK mean time per request / raw): ${summary.overhead_ratio}** (target ≤ 1.10) · c=8: ${summary.overhead_ratio_c8} · SDK extra ≈ ${summary.sdk_overhead_us_per_req} µs/request.`,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(ROOT, 'bench/results/sdk.md'), md);
    log('wrote bench/results/sdk.md and sdk.json');
    process.stdout.write(`${md}\n`);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    log(String(e?.stack ?? e));
    kill();
    process.exit(1);
  },
);
