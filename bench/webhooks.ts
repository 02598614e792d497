// `npm run bench:webhooks`: call events through the outbox to a CRM on loopback.
//
// For SQLite and then PostgreSQL (a throwaway cluster, as scripts/run-tests.mjs starts one), a
// child process runs a real Dzvin (buildApp, its own dispatcher, default delivery settings) with
// one CRM connection pointing at a node:http receiver in this process, which answers 200 at
// once and checks the order of events per call.
// 1. Burst: BENCH_WEBHOOK_EVENTS events (3 per call) enqueued at once; deliveries per second =
//    events / (last receipt − start of enqueue).
// 2. Fixed rate: BENCH_WEBHOOK_RATE events/s for BENCH_WEBHOOK_SECONDS, open loop; latency =
//    receipt time − the enqueue time stamped in the payload (same machine clock): p50/p99.
// Results: bench/results/webhooks.md + webhooks.json; the last stdout line is one JSON object.
// Every phase has a deadline and a watchdog ends the whole run.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Child,
  guardProcess,
  intEnv,
  loadavg1,
  machine,
  nextMessage,
  spawnChild,
} from './lib/calls-harness.ts';
import { type Cluster, startPostgres } from './lib/postgres.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');
const EVENTS = intEnv('BENCH_WEBHOOK_EVENTS', 30_000, 300, 1_000_000);
const RATE = intEnv('BENCH_WEBHOOK_RATE', 500, 1, 100_000);
const SECONDS = intEnv('BENCH_WEBHOOK_SECONDS', 15, 1, 600);
// BENCH_WEBHOOK_DIALECTS=sqlite measures one dialect only (quicker while iterating).
const DIALECTS = (process.env.BENCH_WEBHOOK_DIALECTS ?? 'sqlite,postgres').split(',');
const log = (l: string) => process.stderr.write(`[bench:webhooks] ${l}\n`);
guardProcess(5 * 60_000);

// ---------------------------------------------------------------------------------------------
// The receiver

let received = 0;
let lastAt = 0;
let latencies: number[] = [];
let orderViolations = 0;
const lastEvent = new Map<string, number>();
const RANK: Record<string, number> = { 'call.dial': 0, 'call.bridge': 1, 'call.hangup': 2 };
const receiver = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    received++;
    lastAt = now;
    latencies.push(now - body.benchEnqueuedAt);
    const r = RANK[body.event] ?? 0;
    if ((lastEvent.get(body.uuid) ?? -1) > r) orderViolations++;
    lastEvent.set(body.uuid, r);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const eventsUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/events`;

const pct = (xs: number[], p: number) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const reset = () => {
  received = 0;
  lastAt = 0;
  latencies = [];
  lastEvent.clear();
};
async function waitFor(cond: () => boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface DialectResult {
  dialect: string;
  burstEvents: number;
  deliveriesPerSec: number;
  burstSeconds: number;
  rate: number;
  rateEvents: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  orderViolations: number;
  loadBefore: number;
}

async function runDialect(dialect: string, databaseUrl: string): Promise<DialectResult> {
  const child: Child = spawnChild(join(ROOT, 'bench/servers/webhooks.ts'), [databaseUrl, eventsUrl], {
    cwd: ROOT,
    nodeFlags: process.env.BENCH_CPU_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${dialect}`]
      : [],
  });
  await nextMessage(child, (m): m is { ready: true } => !!(m as { ready?: boolean }).ready, 60_000, 'ready');
  const loadBefore = loadavg1();
  // Warm-up: a small burst (JIT, connections).
  reset();
  child.child.send({ cmd: 'burst', n: 900 });
  await waitFor(() => received >= 900, 30_000, 'warm-up');
  reset();
  child.child.send({ cmd: 'burst', n: EVENTS });
  const { started } = await nextMessage(
    child,
    (m): m is { started: number } => 'started' in (m as object),
    10_000,
    'burst start',
  );
  await waitFor(() => received >= EVENTS, 90_000, `${EVENTS} deliveries`);
  const burstSeconds = (lastAt - started) / 1000;
  const deliveriesPerSec = Math.round(EVENTS / burstSeconds);
  const burstViolations = orderViolations;
  log(`${dialect}: ${EVENTS} events delivered in ${burstSeconds.toFixed(2)} s → ${deliveriesPerSec}/s`);
  await new Promise((r) => setTimeout(r, 1000));
  reset();
  child.child.send({ cmd: 'rate', rate: RATE, seconds: SECONDS });
  const { rateDone } = await nextMessage(
    child,
    (m): m is { rateDone: number } => 'rateDone' in (m as object),
    (SECONDS + 30) * 1000,
    'rate end',
  );
  await waitFor(() => received >= rateDone, 30_000, 'the fixed-rate deliveries');
  const r: DialectResult = {
    dialect,
    burstEvents: EVENTS,
    deliveriesPerSec,
    burstSeconds: Math.round(burstSeconds * 100) / 100,
    rate: RATE,
    rateEvents: rateDone,
    p50: pct(latencies, 50),
    p90: pct(latencies, 90),
    p99: pct(latencies, 99),
    max: pct(latencies, 100),
    orderViolations: burstViolations + orderViolations,
    loadBefore,
  };
  log(`${dialect}: ${rateDone} events at ${RATE}/s → p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms`);
  child.child.send({ cmd: 'stop' });
  await Promise.race([child.exited, new Promise((res) => setTimeout(res, 15_000))]);
  await child.stop(1000);
  return r;
}

const results: DialectResult[] = [];
const dir = mkdtempSync(join(os.tmpdir(), 'dzvin-bench-webhooks-'));
let pg: Cluster | null = null;
let pgMissing: string | null = null;
try {
  if (DIALECTS.includes('sqlite'))
    results.push(await runDialect('sqlite', `sqlite:${join(dir, 'dzvin.sqlite')}`));
  if (DIALECTS.includes('postgres')) {
    pg = await startPostgres();
    if (!pg) pgMissing = 'PostgreSQL server binaries not found';
    else results.push(await runDialect('postgres', pg.url));
  } else pgMissing = 'not asked for (BENCH_WEBHOOK_DIALECTS)';
} finally {
  pg?.stop();
  rmSync(dir, { recursive: true, force: true });
  receiver.closeAllConnections();
  receiver.close();
}

const sqlite = results.find((r) => r.dialect === 'sqlite');
const postgres = results.find((r) => r.dialect === 'postgres');
const summary = {
  sqlite_deliveries_per_s: sqlite?.deliveriesPerSec ?? null,
  postgres_deliveries_per_s: postgres?.deliveriesPerSec ?? null,
  p50_ms: sqlite?.p50 ?? null,
  p99_ms: sqlite?.p99 ?? null,
  rate_per_s: RATE,
};
const m = machine();
mkdirSync(RESULTS, { recursive: true });
writeFileSync(
  join(RESULTS, 'webhooks.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine: m, settings: { EVENTS, RATE, SECONDS }, results, pgMissing, summary }, null, 2)}\n`,
);
const row = (r: DialectResult) =>
  `| ${r.dialect} | ${r.burstEvents} | ${r.burstSeconds} | **${r.deliveriesPerSec}** | ${r.rateEvents} at ${r.rate}/s | ${r.p50} | ${r.p90} | **${r.p99}** | ${r.max} | ${r.orderViolations} | ${r.loadBefore} |`;
writeFileSync(
  join(RESULTS, 'webhooks.md'),
  `# bench:webhooks — call events through the outbox to a loopback CRM

${new Date().toISOString()} · ${JSON.stringify(m)}

One Dzvin process (buildApp, default delivery settings: 16 requests in flight per connection,
claims of 256) sends to one CRM connection; the receiver (node:http, answers 200 at once) runs in
the bench process. Burst: ${EVENTS} events (3 per call, in order per call) enqueued at once.
Fixed rate: ${RATE} events/s for ${SECONDS} s, open loop; latency = receipt − enqueue (payload stamp).
Targets on this 2-core machine: ≥ 3,000 deliveries/s on SQLite, p99 ≤ 100 ms at 500 events/s.
The machine is shared with other sessions' work: figures vary with its load (1-min load average
before each dialect in the last column).

| database | burst events | seconds | deliveries/s | fixed rate | p50 ms | p90 ms | p99 ms | max ms | order violations | load |
|---|---|---|---|---|---|---|---|---|---|---|
${results.map(row).join('\n')}
${pgMissing ? `\nPostgreSQL not measured: ${pgMissing}.\n` : ''}`,
);
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(0);
