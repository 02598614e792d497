// `npm run proof`: the proof suite of issue 7, in up to five parts (PROOF_PARTS, default
// "hostile,load,faults,throughput,sip").
//
// hostile — a real Dzvin child process (bench/servers/proof-server.ts) on 127.0.0.1 over a fresh
// SQLite file in a temp directory, then again over a throwaway PostgreSQL cluster (initdb in a
// temp dir, when the Debian server packages are installed; PROOF_POSTGRES=0 skips it), in
// production mode (DZVIN_MODE=production: CRM URLs may not reach private addresses), with a 10 s
// session idle time, a 256 KiB body limit and 10 failed sign-ins per IP; then bench/lib/hostile.ts
// against it: PROOF_FUZZ_CASES (10,000) fuzz cases over every route of /openapi.json, the canary
// read-back, the tenant-isolation matrix, session fixation/expiry, brute force, oversized bodies
// and private CRM URLs. A server that dies counts as a failure.
//
// load, faults — bench/lib/proof-load.ts on another throwaway PostgreSQL: 2 Dzvin processes
// (bench/servers/proof-node.ts), a loopback CRM receiver in this process, the simulator's traffic
// generator on both; then SIGKILLs + restarts, PostgreSQL stopped and started, the receiver
// answering 503, the receiver hanging. Expected events come from the database (the outbox rows of
// the connection, cross-checked against the call history), never from the receiver.
//
// throughput — bench/lib/proof-throughput.ts: a REST read mix against 1, then 2 processes over
// that PostgreSQL, with CPU % per process from /proc, PostgreSQL's wait events and a V8 profile of
// each Dzvin process.
//
// sip — bench/lib/proof-sip.ts (issue 16, hostile SIP): SIP fuzzing of Kamailio and the B2BUA, a
// REGISTER scanner, toll fraud, trunk peers, and rtpengine / Kamailio / Dzvin killed mid-call, with
// the real daemons. It writes bench/results/proof-sip.md and .json itself; its checks join the table
// here. Run alone (PROOF_PARTS=sip) it leaves proof.md and proof.json as they are.
//
// Everything started is stopped, also on failure (guardProcess: a watchdog, children killed on
// exit). Results: bench/results/proof.md (tables, machine) and proof.json; the last line of stdout
// is one JSON object with the headline figures (null for a part not run). Exit code 1 when any
// check fails.
//
// Env: PROOF_PARTS, PROOF_FUZZ_CASES (10000), PROOF_SEED (1), PROOF_KEEP_DB=1 (keep the temp dir);
// load: PROOF_RATE (calls/s on each process, 10), PROOF_LOAD_SEC (45), PROOF_REST_RATE (REST reads/s
// on each process during the load, 50); faults: PROOF_KILLS (3), PROOF_PG_STOP_SEC (10),
// PROOF_503_SEC (60), PROOF_HANG_SEC (20), PROOF_GAP_SEC (15, after each fault); deliveries:
// PROOF_WEBHOOK_TIMEOUT_MS (5000), PROOF_LEASE_SEC (10), PROOF_RETRY_CAP_MS (10000),
// PROOF_DRAIN_MAX_SEC (60); throughput: PROOF_TP_SEC (15), PROOF_TP_CONNECTIONS (32); sip:
// PROOF_SIP_FUZZ_CASES (3000 per target).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { guardProcess, intEnv, loadavg1, machine, nextMessage, spawnChild } from './lib/calls-harness.ts';
import { type HostileReport, runHostile, type Tenant } from './lib/hostile.ts';
import { type Cluster, startPostgres } from './lib/postgres.ts';
import { type LoadReport, runLoad } from './lib/proof-load.ts';
import { runSipProof, type SipProofReport } from './lib/proof-sip.ts';
import { runThroughput, type ThroughputReport } from './lib/proof-throughput.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');
const log = (line: string) => process.stderr.write(`[proof] ${line}\n`);

const FUZZ_CASES = intEnv('PROOF_FUZZ_CASES', 10_000, 100, 1_000_000);
const SEED = intEnv('PROOF_SEED', 1, 0, 2 ** 31 - 1);
const SESSION_IDLE_SEC = 10;
const BODY_LIMIT = 256 * 1024;
const MAX_FAILURES_PER_IP = 10;
const PARTS = new Set(
  (process.env.PROOF_PARTS ?? 'hostile,load,faults,throughput,sip')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean),
);
for (const p of PARTS)
  if (!['hostile', 'load', 'faults', 'throughput', 'sip'].includes(p))
    throw new Error(`PROOF_PARTS: unknown part '${p}' (hostile, load, faults, throughput, sip)`);
const LOAD = {
  rate: intEnv('PROOF_RATE', 10, 1, 200),
  loadSec: intEnv('PROOF_LOAD_SEC', 45, 5, 3600),
  restRate: intEnv('PROOF_REST_RATE', 50, 0, 10_000),
  kills: intEnv('PROOF_KILLS', 3, 0, 50),
  pgStopSec: intEnv('PROOF_PG_STOP_SEC', 10, 0, 600),
  crm503Sec: intEnv('PROOF_503_SEC', 60, 0, 3600),
  hangSec: intEnv('PROOF_HANG_SEC', 20, 0, 3600),
  gapSec: intEnv('PROOF_GAP_SEC', 15, 1, 600),
  timeoutMs: intEnv('PROOF_WEBHOOK_TIMEOUT_MS', 5000, 100, 120_000),
  leaseSec: intEnv('PROOF_LEASE_SEC', 10, 1, 3600),
  retryCapMs: intEnv('PROOF_RETRY_CAP_MS', 10_000, 1, 86_400_000),
  drainMaxSec: intEnv('PROOF_DRAIN_MAX_SEC', 60, 5, 3600),
  tpSec: intEnv('PROOF_TP_SEC', 15, 1, 3600),
  tpConnections: intEnv('PROOF_TP_CONNECTIONS', 32, 2, 1000),
};

guardProcess(30 * 60_000);
const started = Date.now();

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
interface Run {
  database: 'sqlite' | 'postgres';
  report: HostileReport;
  checks: Check[];
  shutdown: { ms: number; exit_code: number | null; signal: string | null };
}

/** One Dzvin child over `databaseUrl`, the hostile-input checks against it, then SIGTERM. */
async function runOn(database: Run['database'], databaseUrl: string, dir: string): Promise<Run> {
  Object.assign(process.env, {
    DATABASE_URL: databaseUrl,
    DZVIN_RECORDINGS_DIR: join(dir, `recordings-${database}`),
    DZVIN_DEMO: 'false',
    DZVIN_MODE: 'production',
    DZVIN_SESSION_IDLE_SECONDS: String(SESSION_IDLE_SEC),
    DZVIN_BODY_LIMIT_BYTES: String(BODY_LIMIT),
    DZVIN_AUTH_MAX_FAILURES_PER_IP: String(MAX_FAILURES_PER_IP),
    DZVIN_AUTH_MAX_FAILURES_PER_DOMAIN: '100000',
    LOG_LEVEL: 'warn',
  });
  log(`starting Dzvin (${database}, production mode)`);
  const server = spawnChild(join(ROOT, 'bench', 'servers', 'proof-server.ts'), [], { cwd: ROOT });
  let died: string | null = null;
  let stopping = false;
  void server.exited.then(({ code, signal }) => {
    if (!stopping) died = `exited with code ${code}, signal ${signal}`;
  });
  type Ready = { port: number; accounts: Record<'a' | 'b' | 'c' | 'd', Tenant> };
  const ready = await nextMessage(
    server,
    (m): m is Ready => typeof (m as Ready)?.port === 'number',
    60_000,
    'the server',
  );
  const report = await runHostile(
    {
      port: ready.port,
      ...ready.accounts,
      sessionIdleSec: SESSION_IDLE_SEC,
      bodyLimitBytes: BODY_LIMIT,
      maxFailuresPerIp: MAX_FAILURES_PER_IP,
      alive: () => died === null,
    },
    { fuzzCases: FUZZ_CASES, seed: SEED, log: (l) => log(`${database}: ${l}`) },
  );
  stopping = died === null;
  const t0 = Date.now();
  await server.stop(30_000);
  const { code: exitCode, signal: exitSignal } = await server.exited;
  const shutdown = { ms: Date.now() - t0, exit_code: exitCode, signal: exitSignal };
  const checks: Check[] = [
    {
      name: `fuzzing: ${report.fuzz.cases} cases over ${report.fuzz.routes} routes → no 5xx`,
      ok: report.fuzz.server_errors.length === 0 && report.fuzz.cases >= FUZZ_CASES,
      detail: `by status ${JSON.stringify(report.fuzz.by_status)}; ${report.fuzz.transport_errors} connection(s) closed by the server; ${Math.round(report.fuzz.ms / 1000)} s`,
    },
    {
      name: 'no crash: the server process lived through everything',
      ok: died === null,
      detail: died ?? 'alive until SIGTERM',
    },
    {
      name: 'no stored corruption: canaries read back unchanged, the fuzzed account still reads',
      ok: report.corruption.length === 0,
      detail: report.corruption.length ? report.corruption.slice(0, 5).join('; ') : 'identical',
    },
    {
      name: `tenant isolation: ${report.isolation.requests} requests of B against every route with A's ids`,
      ok: report.isolation.violations.length === 0,
      detail: report.isolation.violations.length
        ? report.isolation.violations.slice(0, 5).join('; ')
        : '0 violations',
    },
    ...report.checks,
    {
      name: 'graceful stop: SIGTERM → exit 0',
      ok: exitCode === 0,
      detail: `exit ${exitCode}${exitSignal ? ` (${exitSignal})` : ''} after ${shutdown.ms} ms`,
    },
  ];
  for (const c of checks) log(`${database}: ${c.ok ? 'pass' : 'FAIL'}  ${c.name}: ${c.detail.slice(0, 300)}`);
  for (const e of report.fuzz.server_errors.slice(0, 10))
    log(`${database}: 5xx: ${e.status} ${e.method} ${e.path}: ${e.text} — ${e.req}`);
  return { database, report, checks, shutdown };
}

const dir = mkdtempSync(join(os.tmpdir(), 'dzvin-proof-'));
const runs: Run[] = [];
let postgresNote = '';
let load: LoadReport | null = null;
let throughput: ThroughputReport | null = null;
let sip: SipProofReport | null = null;
const partErrors: Check[] = [];
try {
  if (PARTS.has('hostile')) {
    runs.push(await runOn('sqlite', `sqlite:${join(dir, 'proof.sqlite')}`, dir));
    if (process.env.PROOF_POSTGRES !== '0') {
      const pg = await startPostgres();
      if (!pg) postgresNote = 'PostgreSQL is not installed here: the run covers SQLite only.';
      else
        try {
          runs.push(await runOn('postgres', pg.url, dir));
        } finally {
          pg.stop();
        }
    }
  }
  if (PARTS.has('load') || PARTS.has('faults') || PARTS.has('throughput')) {
    let pg: Cluster | null = null;
    try {
      pg = await startPostgres();
      if (!pg)
        throw new Error('PostgreSQL is not installed here: the load, fault and throughput parts need it');
      let account: { domain: string; apiKey: string } | null = null;
      if (PARTS.has('load') || PARTS.has('faults')) {
        const r = await runLoad(pg, dir, {
          seed: SEED,
          ratePerSec: LOAD.rate,
          loadSec: LOAD.loadSec,
          restRatePerSec: LOAD.restRate,
          faults: PARTS.has('faults')
            ? {
                kills: LOAD.kills,
                pgStopSec: LOAD.pgStopSec,
                crm503Sec: LOAD.crm503Sec,
                hangSec: LOAD.hangSec,
                gapSec: LOAD.gapSec,
              }
            : null,
          drainMaxSec: LOAD.drainMaxSec,
          webhooks: {
            timeoutMs: LOAD.timeoutMs,
            leaseSec: LOAD.leaseSec,
            retryBaseMs: 1000,
            retryCapMs: LOAD.retryCapMs,
          },
          log,
        });
        load = r.report;
        account = r.account;
        for (const c of load.checks) log(`${c.ok ? 'pass' : 'FAIL'}  ${c.name}: ${c.detail.slice(0, 400)}`);
      }
      if (PARTS.has('throughput')) {
        if (!account) {
          // No load run: an account of its own (the same office, no history).
          const r = await runLoad(pg, dir, {
            seed: SEED,
            ratePerSec: 1,
            loadSec: 5,
            restRatePerSec: 0,
            faults: null,
            drainMaxSec: 60,
            webhooks: { timeoutMs: 5000, leaseSec: 10, retryBaseMs: 1000, retryCapMs: 10_000 },
            log,
          });
          account = r.account;
        }
        throughput = await runThroughput(pg, dir, account, {
          seconds: LOAD.tpSec,
          warmupSec: 3,
          connections: LOAD.tpConnections,
          log,
        });
      }
    } catch (err) {
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      log(`load/faults/throughput: ${msg}`);
      partErrors.push({
        name: 'load, faults and throughput parts ran to the end',
        ok: false,
        detail: msg.slice(0, 600),
      });
    } finally {
      pg?.stop();
    }
  }
  if (PARTS.has('sip'))
    sip = await runSipProof({
      seed: SEED,
      fuzzCases: intEnv('PROOF_SIP_FUZZ_CASES', 3000, 50, 100_000),
      root: ROOT,
      resultsDir: RESULTS,
      log,
    });
} finally {
  if (!process.env.PROOF_KEEP_DB) rmSync(dir, { recursive: true, force: true });
}
if (PARTS.size === 1 && sip) {
  // The sip part alone: its own files are written; proof.md keeps the other parts' figures.
  process.stdout.write(`${JSON.stringify({ parts: 'sip', ...sip.figures })}\n`);
  process.exit(sip.checks.every((c) => c.ok) ? 0 : 1);
}
const tpChecks: Check[] = throughput
  ? [
      {
        name: 'throughput: the REST read mix on 1 and 2 processes → no errors, no non-2xx',
        ok: throughput.runs.every((r) => r.errors === 0 && r.non2xx === 0),
        detail: throughput.runs
          .map((r) => `${r.processes} process(es): ${r.rps} req/s, ${r.non2xx} non-2xx, ${r.errors} errors`)
          .join('; '),
      },
      {
        name: 'throughput: graceful stop of the processes: SIGTERM → exit 0',
        ok: throughput.shutdown.every((x) => x.code === 0),
        detail: throughput.shutdown.map((x) => `${x.name}: exit ${x.code} in ${x.ms} ms`).join('; '),
      },
    ]
  : [];
const checks = [
  ...runs.flatMap((r) => r.checks.map((c) => ({ ...c, name: `${r.database}: ${c.name}` }))),
  ...(load?.checks.map((c) => ({ ...c, name: `postgres ×2: ${c.name}` })) ?? []),
  ...tpChecks,
  ...(sip?.checks ?? []),
  ...partErrors,
];
const sum = (f: (r: Run) => number) => runs.reduce((a, r) => a + f(r), 0);
const recovery = (kind: string) => {
  const xs =
    load?.faults?.schedule.filter((f) => f.kind === kind).map((f) => f.backlog_drained_ms ?? 0) ?? [];
  return xs.length ? Math.max(...xs) : null;
};
const tp = (n: number) => throughput?.runs.find((r) => r.processes === n)?.rps ?? null;

const summary = {
  databases: runs.map((r) => r.database).join('+'),
  fuzz_cases: sum((r) => r.report.fuzz.cases),
  fuzz_5xx: sum((r) => r.report.fuzz.server_errors.length),
  isolation_violations: sum((r) => r.report.isolation.violations.length),
  corruption: sum((r) => r.report.corruption.length),
  checks_passed: checks.filter((c) => c.ok).length,
  checks_failed: checks.filter((c) => !c.ok).length,
  events_expected: load?.totals.events_expected ?? null,
  events_lost: load?.totals.events_lost ?? null,
  duplicates: load?.totals.duplicates ?? null,
  history_not_enqueued: load?.totals.history_not_enqueued ?? null,
  processes_died: load ? load.unexpected_deaths.length : null,
  deliveries_per_s: load?.load.deliveries_per_s ?? null,
  delivery_p50_ms: load?.load.delivery_p50_ms ?? null,
  delivery_p99_ms: load?.load.delivery_p99_ms ?? null,
  rest_p99_ms: load?.load.rest?.p99_ms ?? null,
  recovery_sigkill_ms: recovery('sigkill'),
  recovery_postgres_ms: recovery('postgres-stop'),
  recovery_503_ms: recovery('crm-503'),
  recovery_hang_ms: recovery('crm-hang'),
  rps_1_process: tp(1),
  rps_2_processes: tp(2),
  sip_checks_failed: sip ? sip.figures.checks_failed : null,
  parts: [...PARTS].join(','),
};
const m = machine();
const raw = {
  date: new Date().toISOString(),
  machine: m,
  settings: {
    fuzz_cases: FUZZ_CASES,
    seed: SEED,
    databases: runs.map((r) => r.database),
    mode: 'production',
    session_idle_sec: SESSION_IDLE_SEC,
    body_limit_bytes: BODY_LIMIT,
    max_failures_per_ip: MAX_FAILURES_PER_IP,
    parts: [...PARTS],
    load: LOAD,
  },
  summary,
  checks,
  runs: runs.map((r) => ({
    database: r.database,
    fuzz: r.report.fuzz,
    isolation: r.report.isolation,
    corruption: r.report.corruption,
    shutdown: r.shutdown,
  })),
  load,
  throughput,
  sip,
  duration_ms: Date.now() - started,
};
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const v = (x: unknown) => (x === null || x === undefined ? '—' : String(x));
const ms = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${x} ms`);

function hostileSection(): string {
  if (!runs.length) return '';
  return `## Hostile input

One Dzvin process at a time on 127.0.0.1, \`DZVIN_MODE=production\`, seed ${SEED}, ${FUZZ_CASES} fuzz cases per
database: ${runs.map((r) => (r.database === 'sqlite' ? 'SQLite' : 'PostgreSQL (a throwaway cluster from the Debian packages)')).join(', then ')}. ${postgresNote}

Fuzzing: fast-check generates each case from a route of the server's own \`/openapi.json\` — path
ids of the fuzzed account, of the two canary accounts and hostile strings; query keys of the route
(also \`k[]\`, \`k[0]\`, \`__proto__[x]\`, deep brackets) with schema-shaped or hostile values; JSON
bodies shaped by the route's schema with hostile nodes (huge numbers, unicode and lone surrogates,
\`__proto__\`/\`constructor\` keys), form bodies, truncated JSON, nesting up to 5,000 levels; the
account's session and key, none, garbage or duplicate \`JSESSIONID\` cookies, foreign or malformed
\`Host\`s, odd \`Range\`/\`Accept\`/\`X-Forwarded-For\` headers. Half the cases are valid requests (the
account's own ids of the right kind, schema-shaped query and body) so handlers and stores are fuzzed
too. Answers by status: ${runs.map((r) => `${r.database} \`${JSON.stringify(r.report.fuzz.by_status)}\``).join('; ')}.
`;
}

function loadSection(): string {
  if (!load)
    return PARTS.has('load') || PARTS.has('faults')
      ? '## Load and faults\n\nNot run to the end (see the failed checks).\n'
      : '';
  const L = load;
  const phaseRow = (name: string, f: LoadReport['load'] | NonNullable<LoadReport['faults']>) =>
    `| ${name} | ${f.seconds} s | ${f.calls_placed} (${f.calls_failed} refused) | ${f.history_calls} | ${f.events_expected} | ${f.events_received} | **${f.events_lost}** | ${f.duplicates} (${f.duplicates_redelivered} redelivered) | ${f.deliveries_per_s} | ${ms(f.delivery_p50_ms)} / ${ms(f.delivery_p99_ms)} / ${ms(f.delivery_max_ms)} | ${ms(f.claim_wait_p50_ms)} / ${ms(f.claim_wait_p99_ms)} | ${ms(f.calls_ended_ms)} / ${ms(f.drain_ms)} |`;
  const w = L.settings.webhooks;
  const t = L.totals;
  return `## Load and faults: 2 processes over one PostgreSQL

Two Dzvin processes (\`bench/servers/proof-node.ts\`, 127.0.0.1) over one throwaway PostgreSQL (fsync off),
one account — a call centre of ${L.office.employees} employees in hunt and ring-all groups, an IVR and direct lines,
${L.office.trunks} trunks — with one CRM connection whose events URL is a loopback receiver in the proof process. The
simulator's traffic generator runs on both processes (sim API \`POST /api/v1/sim/traffic\`: ${L.settings.ratePerSec} calls/s on
each, answer rate 0.85 after ~1 s, talk 1–5 s). Deliveries: timeout ${w.timeoutMs} ms, lease ${w.leaseSec} s, retry base
${w.retryBaseMs} ms capped at ${w.retryCapMs} ms (shortened from the defaults of 10 s / 60 s / 1 h so a run takes minutes; a recovery
includes up to one lease or one capped backoff). Load phase: ${L.settings.loadSec} s of traffic with autocannon reading
\`/rest/users\`, \`/rest/calls/company.api\` and \`/rest/calls/active/v3\` through both processes at ${L.settings.restRatePerSec} req/s each.

**Expected events come from the database, not the receiver**: every outbox row of the connection is a
committed event; after the traffic, the calls ending and the outbox draining, each such (uuid, event)
must have been received (2xx) at least once. A call owned by a SIGKILLed process that had not ended
has no hangup (nothing committed one), and an event whose transaction never committed (its process
died first, or PostgreSQL was down) is not expected. The call history is checked against the outbox:
every company/user record needs dial + hangup, and bridge when it has a bridge time.

| Phase | Traffic | Calls placed¹ | History records | Events expected | Received | Lost | Duplicates | Deliveries/s | Enqueue→delivered p50 / p99 / max | Enqueue→attempt p50 / p99 | Calls ended / outbox drained after traffic |
|---|---|---|---|---|---|---|---|---|---|---|---|
${phaseRow('load', L.load)}
${L.faults ? phaseRow('faults', L.faults) : ''}

¹ By the traffic generators of the processes alive at the end of the phase (a SIGKILLed process's counts die with it).

REST reads during the load: ${L.load.rest ? `${L.load.rest.requests} requests, ${L.load.rest.rps} req/s, p50 ${L.load.rest.p50_ms} ms, **p99 ${L.load.rest.p99_ms} ms**, max ${L.load.rest.max_ms} ms, ${L.load.rest.non2xx} non-2xx (${L.load.rest.status_5xx} 5xx), ${L.load.rest.errors} errors` : 'not run'}.

Totals: ${t.outbox_rows} outbox rows (${t.outbox_not_delivered} not delivered, ${t.outbox_retried} needed more than one attempt,
${t.outbox_same_event_twice} hold an event the engine emitted twice); ${t.history_calls} history records → ${t.history_events} events,
${t.history_not_enqueued} of them not in the outbox ${JSON.stringify(t.history_not_enqueued_by_event)}; the receiver answered ${t.received_503} requests with 503
and left ${t.received_hung} hanging.

${
  L.faults
    ? `### Faults (one at a time, traffic running; seed ${SEED})

Recovery: *new events* = fault end → the first event enqueued after it is received; *backlog drained* = fault end → every
event enqueued before the fault ended has been received. For a SIGKILL the fault ends at the kill (the other process goes on;
the killed one's claims wait for their lease).

| t (s) | Fault | Duration | New events after | Backlog drained after |
|---|---|---|---|---|
${L.faults.schedule.map((f) => `| ${f.start_s}–${f.end_s} | ${cell(f.detail)} | ${f.duration_ms} ms | ${ms(f.new_events_ms)} | ${ms(f.backlog_drained_ms)} |`).join('\n')}
`
    : ''
}
${findings(L)}
Processes: ${L.processes.map((p) => `${p.name} (pid ${p.pid}, listening after ${p.start_ms} ms, ended ${p.ended}, ${p.error_lines} error log lines)`).join('; ')}.
`;
}

/** What the failed checks of the load/fault part mean, where the cause is known. */
function findings(L: LoadReport): string {
  const out: string[] = [];
  if (L.totals.history_not_enqueued > 0)
    out.push(
      `- **${L.totals.history_not_enqueued} events of calls in the history were never enqueued** ${JSON.stringify(L.totals.history_not_enqueued_by_event)}: dial and bridge are written to the outbox in their own transaction, after the fact (\`createCallEventCapture\` in packages/server/src/integrations/outbox.ts); when that write fails (PostgreSQL down) the batch is logged and dropped, while the call goes on and its history record and hangup are saved once the database is back. The CRM never gets those events.`,
    );
  const stuck = L.checks.find((c) => c.name.startsWith('every call ends') && !c.ok);
  if (stuck)
    out.push(
      `- **Calls left in progress for good**: ${cell(stuck.detail).slice(0, 400)}. A call whose state change fails to save (PostgreSQL down) stops in mid-flight in the simulator: e.g. \`takeOver\` awaits \`endLeg\` of the other ringing legs (a save) before it schedules the talk time, and \`refuseLeg\` awaits \`endLeg\` before \`leg.onEnd\` rings the next member; a failed save aborts the rest and no timer is left to end the call (packages/server/src/engine/simulator/simulator.ts). Its dial was delivered; its hangup never comes.`,
    );
  if (L.totals.outbox_same_event_twice > 0)
    out.push(
      `- **${L.totals.outbox_same_event_twice} events emitted twice by the engine** (counted in the duplicates): the same call.bridge and then call.hangup of a company call enqueued twice, seconds apart — the simulator's answer path resumed on a call that had ended meanwhile.`,
    );
  return out.length ? `Findings:\n\n${out.join('\n')}\n` : '';
}

function throughputRow(r: ThroughputReport['runs'][number]): string {
  const dz = r.cpu.dzvin.reduce((a, b) => a + b, 0);
  const waits = Object.entries(r.pg_waits)
    .map(([k, n]) => `${k} ${n}%`)
    .join(', ');
  return `| ${r.processes} | **${r.rps}** | ${r.p50_ms} ms | ${r.p99_ms} ms | ${r.non2xx} / ${r.errors} | ${r.cpu.dzvin.join(' + ')} | ${Math.round((r.rps * 100) / Math.max(1, dz))} | ${r.cpu.postgres} | ${r.cpu.load_generator} | ${v(r.cpu.machine)} | ${r.loadavg} | ${cell(waits)} |`;
}

/** What the throughput table says about the bottleneck, from its own figures. */
function throughputReading(T: ThroughputReport): string {
  const [one, two] = [T.runs.find((r) => r.processes === 1), T.runs.find((r) => r.processes === 2)];
  if (!one || !two) return '';
  const lockWaits = T.runs.reduce(
    (a, r) =>
      a +
      Object.entries(r.pg_waits)
        .filter(([k]) => /Lock/.test(k))
        .reduce((x, [, n]) => x + n, 0),
    0,
  );
  const dz2 = two.cpu.dzvin.reduce((a, b) => a + b, 0);
  const saturated = (two.cpu.machine ?? 0) >= m.cpus * 90;
  const tops = T.profiles
    .map(
      (p) =>
        `${p.process}: ${p.top
          .filter((x) => !x.function.startsWith('(idle)'))
          .slice(0, 3)
          .map((x) => `\`${x.function.replace(/ \S+:\d+$/, '')}\` ${x.pct}%`)
          .join(', ')}`,
    )
    .join('; ');
  return `Reading: with 1 process the machine was at ${v(one.cpu.machine)}% of its ${m.cpus * 100}% (Dzvin ${one.cpu.dzvin[0]}%, PostgreSQL
${one.cpu.postgres}%, the load generator ${one.cpu.load_generator}%, the rest other work on the shared machine); with 2 processes the Dzvin
processes got ${two.cpu.dzvin.join('% and ')}% (${Math.round(dz2)}% together) and the machine was at ${v(two.cpu.machine)}%${
    saturated ? ': no core was left for the second process to use, so req/s stays where the CPU allows' : ''
  } (${one.rps} → ${two.rps} req/s). Both processes were busy at the same time (idle ${T.profiles.map((p) => `${p.idle_pct}%`).join(' and ')} in their
profiles), PostgreSQL's client backends were sampled ${lockWaits ? `waiting on a lock ${Math.round(lockWaits * 10) / 10}% of the time` : 'never waiting on a lock'} (mostly idle,
waiting for the next query: ClientRead), and the top of each profile is CPU work, not a wait on something shared (${tops};
\`writev\` is the socket writes, where loopback TCP is processed for the receiving side too). On this ${m.cpus}-core machine the
database, the load generator and the servers share the cores; the figure to compare on a bigger machine is req per Dzvin
CPU-second.`;
}

function throughputSection(): string {
  if (!throughput)
    return PARTS.has('throughput') ? '## Throughput\n\nNot run to the end (see the failed checks).\n' : '';
  const T = throughput;
  return `## Throughput: 1 vs 2 processes on PostgreSQL

The REST read mix (\`/rest/users\`, a page of \`/rest/calls/company.api\` over the load's history, \`/rest/calls/active/v3\`)
with autocannon (${T.settings.connections} connections in all, split across the processes; ${T.settings.seconds} s after a ${T.settings.warmupSec} s warm-up) against
fresh processes over the same PostgreSQL. CPU % is per process from /proc (100 = one core; the machine has ${m.cpus}):
the Dzvin processes, PostgreSQL (postmaster + backends), and the proof process — the load generator.

| Processes | req/s | p50 | p99 | non-2xx / errors | CPU % Dzvin | req per Dzvin CPU-second | CPU % PostgreSQL | CPU % load generator | CPU % machine (all) | load avg | PostgreSQL client backends sampled |
|---|---|---|---|---|---|---|---|---|---|---|---|
${T.runs.map(throughputRow).join('\n')}

${throughputReading(T)}

CPU profile of each Dzvin process over the 2-process run (V8 sampling profiler through node:inspector), top functions by self time:

${T.profiles
  .map(
    (
      p,
    ) => `**${p.process}**: ${p.total_ms} ms profiled, idle ${p.idle_pct}%, GC ${p.gc_pct}%. By area: ${p.by_area.map((a) => `${a.area} ${a.pct}%`).join(', ')}.

| Function | Self | % |
|---|---|---|
${p.top.map((x) => `| \`${cell(x.function)}\` | ${x.self_ms} ms | ${x.pct} |`).join('\n')}
`,
  )
  .join('\n')}`;
}

const md = `# Proof: hostile input, load, faults and throughput

\`npm run proof\` (parts: ${[...PARTS].join(', ')}) on ${raw.date.slice(0, 10)} — ${m.cpus} × ${m.cpu_model}, ${m.memory_gb} GB, ${m.os}, Node ${m.node}.
The machine is shared (other work ran alongside; load average ${loadavg1()} at the end). The whole run took ${Math.round(raw.duration_ms / 1000)} s.

| Check | Result | Detail |
|---|---|---|
${checks.map((c) => `| ${cell(c.name)} | ${c.ok ? 'pass' : '**FAIL**'} | ${cell(c.detail).slice(0, 600)} |`).join('\n')}

| Figure | Value |
|---|---|
${Object.entries(summary)
  .map(([k, x]) => `| \`${k}\` | ${x === null ? 'not measured' : x} |`)
  .join('\n')}

${hostileSection()}
${loadSection()}
${throughputSection()}
${sip ? '## Hostile SIP\n\nThe sip rows above; the set-up and figures in [proof-sip.md](proof-sip.md).\n' : ''}`;
mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, 'proof.md'), md);
writeFileSync(join(RESULTS, 'proof.json'), `${JSON.stringify(raw, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(summary.checks_failed === 0 ? 0 : 1);
