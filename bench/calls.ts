// `npm run bench:calls`: the call engine under load and call history at a million calls.
//
// 1. Traffic: a child process runs a real Dzvin (buildApp on a fresh SQLite file, system clock
//    and timers, recordings on disk) with a call-centre office and places Poisson arrivals at
//    BENCH_CALL_RATE calls/s for BENCH_CALL_SECONDS through `simulator.sim.incoming`, in its own
//    process; every call rings, is answered (or not), talks and is recorded for real. It reports
//    event-loop delay, RSS, calls in progress each second, then what ended up in the database
//    and on disk (bench/servers/calls-traffic.ts).
// 2. History: BENCH_STORED_CALLS company calls (plus their employee legs and pause records) are
//    written into a fresh SQLite database, a Dzvin child serves it, and this process pages
//    through `GET /rest/calls/company.api` over varied periods and offsets: first autocannon
//    with BENCH_HISTORY_CONNECTIONS connections flat out (capacity: pages per second), then
//    requests evenly paced at BENCH_HISTORY_RATE req/s, open loop (the headline p99).
//
// Results: bench/results/calls.md (table) and calls.json (raw numbers); the last line of stdout
// is one JSON object with the figures. Only a run of both parts writes the results files.
//
// Env: BENCH_CALL_RATE (50), BENCH_CALL_SECONDS (60), BENCH_STORED_CALLS (1000000),
// BENCH_HISTORY_DURATION_SEC (10), BENCH_HISTORY_CONNECTIONS (10), BENCH_HISTORY_RATE (100),
// BENCH_CALLS_PARTS ("traffic,history"), BENCH_SEED (1), BENCH_CPU_PROF=<dir> (V8 CPU profiles of
// the Dzvin children, in <dir>/traffic/ and <dir>/history/), BENCH_KEEP_DB=1 (keep the
// temporary directories). The databases and the recordings (about 2.5 GB at the defaults,
// removed afterwards) go under os.tmpdir(): TMPDIR picks the disk.
// Load stays on 127.0.0.1, every step has a fixed length, and a watchdog ends the whole thing.
import { deepStrictEqual } from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type Options, type Result } from 'autocannon';
import { sql } from 'kysely';
import type { Party } from '../packages/server/src/domain/calls/call-model.ts';
import { buildApp, createStore, defaultConfig, openDatabase } from '../packages/server/src/index.ts';
import {
  authorize,
  type Child,
  check,
  guardProcess,
  intEnv,
  loadavg1,
  log,
  machine,
  machineBusyMs,
  nextMessage,
  processCpuMs,
  request,
  round,
  seededRandom,
  spawnChild,
} from './lib/calls-harness.ts';
import type { OfficePlan } from './lib/calls-office.ts';
import { seedHistory } from './lib/calls-seed.ts';
import type { PacedJob, PacedResult } from './lib/paced-client.ts';
import type { TrafficResult, TrafficSample, TrafficSettings } from './servers/calls-traffic.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');

// ---------------------------------------------------------------------------------------------
// Settings

const RATE = intEnv('BENCH_CALL_RATE', 50, 1, 500);
const SECONDS = intEnv('BENCH_CALL_SECONDS', 60, 5, 1800);
const STORED = intEnv('BENCH_STORED_CALLS', 1_000_000, 1000, 20_000_000);
const HISTORY_SEC = intEnv('BENCH_HISTORY_DURATION_SEC', 10, 1, 600);
const HISTORY_WARMUP_SEC = 2;
const HISTORY_CONNECTIONS = intEnv('BENCH_HISTORY_CONNECTIONS', 10, 1, 200);
const HISTORY_RATE = intEnv('BENCH_HISTORY_RATE', 100, 1, 100_000);
const SEED = intEnv('BENCH_SEED', 1, 0, 2 ** 31);
const PARTS = new Set((process.env.BENCH_CALLS_PARTS || 'traffic,history').split(',').map((s) => s.trim()));
for (const p of PARTS)
  if (p !== 'traffic' && p !== 'history')
    throw new Error(`BENCH_CALLS_PARTS must list traffic and/or history, got '${p}'`);
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : null;
const KEEP = process.env.BENCH_KEEP_DB === '1';

/** The issue's targets. */
const TARGET = { lagP99Ms: 20, rssMb: 300, pageP99Ms: 10, peakConcurrent: 1000 };
/** History spreads over this many days before now. */
const HISTORY_DAYS = 30;
/** Offsets of the paged requests: up to this far into a period. */
const MAX_OFFSET = 2000;
const PAGE = 50;
/** Distinct company.api requests the load rotates over. */
const PATHS = 5000;
/** The documented keys of a company.api record, in the document's order. */
const DOCUMENTED_KEYS = [
  'parentUuid',
  'uuid',
  'endAt',
  'lgDirection',
  'otherLegNum',
  'otherLegName',
  'leg',
  'leg2',
  'billSecs',
  'duration',
  'disposition',
  'transferHistory',
  'audioRecUrl',
  'trunk',
];

/**
 * The call centre: an employee talks on one call at a time, so RATE × mean call length calls in
 * progress need more employees than that. RATE hunt groups of 25 and RATE ring-all groups of 5
 * (1,500 employees at 50 calls/s); talk 14–24 s plus ringing (1–3 s, or a 15 s ring timeout
 * and the next phone when someone does not pick up) keeps about 23 s × RATE calls in progress.
 */
const PLAN: OfficePlan = {
  domain: 'calls.bench.localhost',
  huntGroups: Math.max(3, RATE),
  huntSize: 25,
  ringAllGroups: Math.max(1, RATE),
  ringAllSize: 5,
  directLines: 20,
  ivrTrunks: 2,
  ivrTimeoutSec: 5,
  ringTimeoutSec: 15,
  answerAfterSec: [1, 3],
  answerProbability: 0.9,
  talk: { minSec: 14, maxSec: 24 },
};
const DRAIN_MAX_SEC = PLAN.talk.maxSec + 4 * PLAN.ringTimeoutSec + PLAN.ivrTimeoutSec + 60;
const WATCHDOG_MS = (SECONDS + DRAIN_MAX_SEC) * 1000 + 60 * 60_000;

guardProcess(WATCHDOG_MS);
const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const secondsSince = (t0: number) => round((performance.now() - t0) / 1000);
const profileFlags = (name: string) =>
  CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(CPU_PROF_DIR, name)}`] : [];

// ---------------------------------------------------------------------------------------------
// Part 1: traffic

interface TrafficReport extends TrafficResult {
  rate: number;
  seconds: number;
  plan: OfficePlan;
  /** Dzvin's own error log lines during the run (background tasks that failed). */
  logged_errors: number;
  first_logged_errors: string[];
  /** GET /rest/calls/active/v3 right after the last arrival: status, entries, time. */
  active_v3: { status: number; entries: number; ms: number } | null;
  /** CPU of the machine during arrivals + drain (100 = one core): all of it, the Dzvin child's, everything else's. */
  machine_cpu_pct: number | null;
  server_cpu_pct: number | null;
  others_cpu_pct: number | null;
  loadavg_before: number;
  loadavg_after: number;
  valid: boolean;
}

async function trafficPart(): Promise<TrafficReport> {
  const dir = mkdtempSync(join(os.tmpdir(), 'dzvin-bench-calls-'));
  const settings: TrafficSettings = {
    dir,
    rate: RATE,
    seconds: SECONDS,
    seed: SEED,
    plan: PLAN,
    ivrDigitShare: 0.5,
    callerPool: 100_000,
    drainMaxSec: DRAIN_MAX_SEC,
  };
  let loggedErrors = 0;
  const firstErrors: string[] = [];
  const child: Child = spawnChild(
    join(ROOT, 'bench', 'servers', 'calls-traffic.ts'),
    [JSON.stringify(settings)],
    {
      cwd: ROOT,
      nodeFlags: profileFlags('traffic'),
      onStdout: (line) => {
        // Dzvin logs at level "error" only here: every line is a failure somewhere in a call.
        loggedErrors++;
        if (firstErrors.length < 3) firstErrors.push(line.slice(0, 2000));
      },
    },
  );
  try {
    log(
      `traffic: building the office (${PLAN.huntGroups * PLAN.huntSize + PLAN.ringAllGroups * PLAN.ringAllSize} employees)`,
    );
    const ready = await nextMessage(
      child,
      (m): m is { type: 'ready'; port: number; domain: string; apiKey: string } =>
        (m as { type?: string })?.type === 'ready',
      300_000,
      'the office',
    );
    const headers = await authorize(ready.port, ready.domain, ready.apiKey);
    const users = await request(ready.port, 'GET', '/rest/users', headers);
    check(users.status === 200, `GET /rest/users answers ${users.status}`);
    log(
      `traffic: office ready, ${(JSON.parse(users.text) as unknown[]).length} employees in GET /rest/users`,
    );

    let activeV3: TrafficReport['active_v3'] = null;
    const onMessage = (m: { type?: string; sample?: TrafficSample }) => {
      if (m?.type === 'sample' && m.sample && m.sample.lag_max_ms >= 100)
        log(
          `  ${m.sample.t} s: a stall of ${m.sample.lag_max_ms} ms in this second (longest GC pause ${m.sample.gc_max_ms} ms; ${new Date().toISOString()})`,
        );
      if (m?.type === 'sample' && m.sample && m.sample.t % 5 === 0) {
        const s = m.sample;
        log(
          `  ${s.t} s ${s.phase}: ${s.active} calls in progress, ${s.recording} recording, RSS ${s.rss_mb} MB, ` +
            `lag p99 ${s.lag_p99_ms} ms (max ${s.lag_max_ms}), CPU ${s.cpu_pct}%, load ${s.loadavg}`,
        );
      }
      if (m?.type === 'arrivals-done')
        void request(ready.port, 'GET', '/rest/calls/active/v3', headers).then(
          (r) => {
            activeV3 = {
              status: r.status,
              entries: r.status === 200 ? (JSON.parse(r.text) as unknown[]).length : 0,
              ms: round(r.ms, 1),
            };
            log(`  active/v3 after the last arrival: ${activeV3.entries} entries in ${activeV3.ms} ms`);
          },
          (err) => log(`  active/v3 failed: ${err}`),
        );
    };
    child.child.on('message', onMessage);

    const loadBefore = loadavg1();
    const busy0 = machineBusyMs();
    const server0 = processCpuMs(child.child.pid!);
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    log(`traffic: ${RATE} calls/s for ${SECONDS} s, then until every call has ended`);
    child.child.send({ type: 'start' });
    const { result } = await nextMessage(
      child,
      (m): m is { type: 'result'; result: TrafficResult } => (m as { type?: string })?.type === 'result',
      (SECONDS + DRAIN_MAX_SEC + 300) * 1000,
      'the traffic result',
    );
    const wall = performance.now() - t0;
    const busy1 = machineBusyMs();
    const server1 = processCpuMs(child.child.pid!);
    const own = process.cpuUsage(own0);
    child.child.off('message', onMessage);
    // The child's last figures include counting rows and files after the drain: close enough.
    const pct = (ms: number) => Math.round((100 * ms) / wall);
    const machineMs = busy0 === null || busy1 === null ? null : busy1 - busy0;
    const serverMs = server0 === null || server1 === null ? null : server1 - server0;
    const ownMs = (own.user + own.system) / 1000;
    const report: TrafficReport = {
      rate: RATE,
      seconds: SECONDS,
      plan: PLAN,
      ...result,
      logged_errors: loggedErrors,
      first_logged_errors: firstErrors,
      active_v3: activeV3,
      machine_cpu_pct: machineMs === null ? null : pct(machineMs),
      server_cpu_pct: serverMs === null ? null : pct(serverMs),
      others_cpu_pct:
        machineMs === null || serverMs === null ? null : Math.max(0, pct(machineMs - serverMs - ownMs)),
      loadavg_before: loadBefore,
      loadavg_after: loadavg1(),
      valid: false,
    };
    report.valid =
      report.place_errors === 0 &&
      report.logged_errors === 0 &&
      report.drained &&
      report.recording_part_files === 0 &&
      report.recording_files === 3 * report.with_recording &&
      report.with_recording === report.answered_company &&
      report.recordings_ok === report.recordings_checked;
    log(
      `traffic: ${report.placed} calls placed, peak ${report.peak_concurrent} in progress, lag p99 ${report.lag.p99_ms} ms ` +
        `(max ${report.lag.max_ms}), RSS max ${report.rss_max_mb} MB, ${report.answered_company} answered with ` +
        `${report.recording_files} recording files (${fmt(report.recording_mb)} MB); ${report.place_errors} placing errors, ` +
        `${report.logged_errors} logged errors`,
    );
    if (report.first_place_error) log(`  first placing error: ${report.first_place_error}`);
    for (const e of report.first_logged_errors) log(`  logged: ${e}`);
    child.child.send({ type: 'exit' });
    await Promise.race([child.exited, new Promise((r) => setTimeout(r, 60_000))]);
    return report;
  } finally {
    await child.stop();
    if (KEEP) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: history

interface LoadRun {
  mode: string;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration_sec: number;
  server_cpu_pct: number | null;
  server_cpu_us_per_req: number | null;
  loadavg_before: number;
  loadavg_after: number;
  /** The paced client's own garbage collections during the run (null for autocannon's run). */
  client_gc: PacedResult['client_gc'] | null;
}

interface HistoryReport {
  stored_calls: number;
  stored_rows: number;
  user_rows: number;
  pause_rows: number;
  days: number;
  seed_sec: number;
  db_mb: number;
  /** EXPLAIN QUERY PLAN of the page query (as call-store.ts builds it). */
  query_plan: string[];
  /** Requests the load rotated over, by period. */
  paths: number;
  period_mix: Record<string, number>;
  with_directions: number;
  /** One request at a time, no other load: median and max of 20 each. */
  single: { name: string; median_ms: number; max_ms: number }[];
  closed: LoadRun;
  fixed_rate: LoadRun;
  valid: boolean;
}

/** Builds the history account, seeds it, checks the rows read back through the store. */
async function seedPart(dir: string) {
  const databaseUrl = `sqlite:${join(dir, 'history.sqlite')}`;
  const built = await buildApp(defaultConfig({ databaseUrl, recordingsDir: join(dir, 'recordings') }), {
    logger: false,
  });
  const domain = 'history.bench.localhost';
  let apiKey: string;
  let accountId: number;
  const employees: Party[] = [];
  const groups: Party[] = [];
  let ivr: Party;
  const trunks: { number: string; name: string }[] = [];
  try {
    const { accounts, directory } = built.services;
    const created = await accounts.create({ domain, name: 'Busy office', defaultCountry: 'UA' });
    apiKey = created.apiKey;
    const account = created.account;
    accountId = account.id;
    for (let k = 1; k <= 40; k++) {
      const e = await directory.employees.create(account, {
        displayName: `Співробітник ${k}`,
        ext: String(k).padStart(3, '0'),
      });
      employees.push({ type: 1, id: e.id, ext: e.ext, displayName: e.displayName });
    }
    await accounts.update(account.id, { apiUserId: employees[0].id });
    for (let g = 0; g < 4; g++) {
      const members = employees.slice(g * 10, g * 10 + 10).map((e) => e.id);
      const group = await directory.groups.create(account, {
        name: `Відділ ${g + 1}`,
        ext: String(500 + g),
        members,
      });
      groups.push({ type: 2, id: group.id, ext: group.ext, displayName: group.name });
    }
    const menu = await directory.ivr.create(account, {
      name: 'Меню',
      defaultTarget: { type: 'group', id: groups[0].id },
    });
    ivr = { type: 4, id: menu.id, ext: null, displayName: menu.name };
    for (const [number, name] of [
      ['+380442246595', 'Головний'],
      ['+380800218500', 'Гаряча лінія'],
      ['+380672225566', 'Мобільний'],
    ]) {
      await directory.trunks.create(account, { number, name, destination: { type: 'ivr', id: menu.id } });
      trunks.push({ number, name });
    }
  } finally {
    await built.close();
  }

  const now = Date.now();
  log(`history: writing ${fmt(STORED)} company calls over ${HISTORY_DAYS} days`);
  const t0 = performance.now();
  let lastLog = t0;
  const seeded = seedHistory({
    file: join(dir, 'history.sqlite'),
    accountId,
    directory: { employees, groups, ivr: ivr!, trunks },
    calls: STORED,
    days: HISTORY_DAYS,
    now,
    seed: SEED,
    progress: (done) => {
      if (performance.now() - lastLog < 10_000) return;
      lastLog = performance.now();
      log(`  ${fmt(done)} company calls (${secondsSince(t0)} s)`);
    },
  });
  const dbMb = Math.round(statSync(join(dir, 'history.sqlite')).size / 2 ** 20);
  log(
    `history: ${fmt(seeded.rows)} rows (${fmt(seeded.company)} company, ${fmt(seeded.user)} legs, ${fmt(seeded.pause)} pause) ` +
      `in ${seeded.sec} s; ${fmt(dbMb)} MB`,
  );

  // The rows are what the store writes: read a sample back through it and compare.
  const database = await openDatabase(databaseUrl);
  let plan: string[] = [];
  try {
    const store = createStore(database.db);
    // A direct call's employee row shares the call's uuid (migration 0010): byUuid answers the
    // company row for it, so only the other samples are read back this way.
    for (const want of seeded.samples)
      if (!(want.kind === 'user' && want.parentUuid === null))
        deepStrictEqual(await store.calls.byUuid(want.uuid), want);
    const { rows: counted } = await sql<{
      n: number;
    }>`select count(*) as n from calls where kind = 'company'`.execute(database.db);
    check(Number(counted[0].n) === STORED, `${STORED} company calls stored, found ${counted[0].n}`);
    // The page query as call-store.ts `company()` builds it (all directions: no direction filter).
    const { rows } = await sql<{ detail: string }>`explain query plan
      select * from calls where account_id = ${accountId} and end_at >= ${now - 7 * 86_400_000}
      and end_at <= ${now} and kind = 'company' order by end_at desc, uuid desc limit 50 offset 2000`.execute(
      database.db,
    );
    plan = rows.map((r) => r.detail);
    log(
      `history: ${seeded.samples.length} sampled calls read back equal through store.calls.byUuid; plan: ${plan.join('; ')}`,
    );
  } finally {
    await database.close();
  }
  return { databaseUrl, domain, apiKey: apiKey!, accountId: accountId!, now, seeded, dbMb, plan };
}

interface PagePath {
  path: string;
  period: string;
  from: number;
  to: number;
  offset: number;
  directions: boolean;
}

/**
 * Periods of an hour (business hours), a day, a week or the month, ending at random times in the
 * history; offsets up to MAX_OFFSET but always leaving a full page; a fifth of them incoming only
 * (`directions=4`, what a CRM syncing incoming calls asks).
 */
function pagePaths(endAts: Float64Array, incomingBefore: Uint32Array, now: number): PagePath[] {
  const r = seededRandom(SEED ^ 0x2545f491);
  const first = endAts[0];
  const countIn = (a: Float64Array, from: number, to: number) => {
    const lower = (x: number) => {
      let lo = 0;
      let hi = a.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (a[mid] < x) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    return [lower(from), lower(to + 1)];
  };
  const periods: [string, number, number][] = [
    ['hour', 3_600_000, 0.1],
    ['day', 86_400_000, 0.4],
    ['week', 7 * 86_400_000, 0.3],
    ['month', HISTORY_DAYS * 86_400_000, 0.2],
  ];
  const out: PagePath[] = [];
  while (out.length < PATHS) {
    const x = r();
    let acc = 0;
    const [period, len] =
      periods.find(([, , w]) => {
        acc += w;
        return x < acc;
      }) ?? periods[1];
    const to = period === 'month' ? now : Math.floor(first + len + r() * (now - first - len));
    const from = to - len;
    const directions = r() < 0.2;
    const [i, j] = countIn(endAts, from, to);
    const count = directions ? incomingBefore[j] - incomingBefore[i] : j - i;
    if (count < PAGE) continue;
    const offset = Math.floor(r() * (Math.min(MAX_OFFSET, count - PAGE) + 1));
    out.push({
      path: `/rest/calls/company.api?timeFrom=${from}&timeTo=${to}${directions ? '&directions=4' : ''}&limit=${PAGE}&offset=${offset}`,
      period,
      from,
      to,
      offset,
      directions,
    });
  }
  return out;
}

async function historyPart(): Promise<HistoryReport> {
  const dir = mkdtempSync(join(os.tmpdir(), 'dzvin-bench-history-'));
  try {
    const seeded = await seedPart(dir);
    const paths = pagePaths(seeded.seeded.endAts, seeded.seeded.incomingBefore, seeded.now);
    const server = spawnChild(
      join(ROOT, 'bench', 'servers', 'calls-history.ts'),
      [seeded.databaseUrl, join(dir, 'recordings')],
      { cwd: ROOT, nodeFlags: profileFlags('history') },
    );
    try {
      const { port } = await nextMessage(
        server,
        (m): m is { type: 'ready'; port: number } => (m as { type?: string })?.type === 'ready',
        120_000,
        'the history server',
      );
      const headers = await authorize(port, seeded.domain, seeded.apiKey);
      await checkPages(port, headers, seeded.databaseUrl, seeded.accountId, paths);
      const single = await singleRequests(port, headers, paths);
      const closed = await load(port, headers, paths, server, 'closed');
      const fixed = await load(port, headers, paths, server, 'fixed');
      const mix: Record<string, number> = {};
      for (const p of paths) mix[p.period] = (mix[p.period] ?? 0) + 1;
      return {
        stored_calls: seeded.seeded.company,
        stored_rows: seeded.seeded.rows,
        user_rows: seeded.seeded.user,
        pause_rows: seeded.seeded.pause,
        days: HISTORY_DAYS,
        seed_sec: seeded.seeded.sec,
        db_mb: seeded.dbMb,
        query_plan: seeded.plan,
        paths: paths.length,
        period_mix: mix,
        with_directions: paths.filter((p) => p.directions).length,
        single,
        closed,
        fixed_rate: fixed,
        valid: [closed, fixed].every((r) => r.non2xx === 0 && r.errors === 0 && r.timeouts === 0),
      };
    } finally {
      await server.stop();
    }
  } finally {
    if (KEEP) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** Before any load: full pages with the documented keys, in order, equal to the database's own answer. */
async function checkPages(
  port: number,
  headers: Record<string, string>,
  databaseUrl: string,
  accountId: number,
  paths: PagePath[],
) {
  const database = await openDatabase(databaseUrl);
  try {
    const picks = [
      paths[0],
      ...paths.filter((p) => p.directions).slice(0, 2),
      ...paths.filter((p) => p.offset > 1500).slice(0, 2),
    ];
    for (const p of picks) {
      const r = await request(port, 'GET', p.path, headers);
      check(r.status === 200, `${p.path} answers ${r.status} ${r.text.slice(0, 300)}`);
      const page = JSON.parse(r.text) as Record<string, unknown>[];
      check(page.length === PAGE, `${p.path} returns a full page of ${PAGE}, got ${page.length}`);
      for (const rec of page) {
        deepStrictEqual(
          Object.keys(rec).sort(),
          [...DOCUMENTED_KEYS].sort(),
          'a record has exactly the documented keys',
        );
        const endAt = rec.endAt as number;
        check(endAt >= p.from && endAt <= p.to, `endAt ${endAt} is in the period`);
        if (p.directions) check(rec.lgDirection === 4, 'directions=4 returns incoming calls only');
      }
      const { rows } = await sql<{ uuid: string }>`select uuid from calls where account_id = ${accountId}
        and kind = 'company' and end_at >= ${p.from} and end_at <= ${p.to}
        ${p.directions ? sql`and direction = 4` : sql``}
        order by end_at desc, uuid desc limit ${PAGE} offset ${p.offset}`.execute(database.db);
      deepStrictEqual(
        page.map((rec) => rec.uuid),
        rows.map((x) => x.uuid),
        `${p.path}: the page the database gives`,
      );
    }
    log(
      `history: ${picks.length} pages checked (50 records, documented keys, period, order, same as the database)`,
    );
  } finally {
    await database.close();
  }
}

/** Latency of one request at a time, by kind of page: what a lone client sees. */
async function singleRequests(port: number, headers: Record<string, string>, paths: PagePath[]) {
  const kinds: [string, (p: PagePath) => boolean][] = [
    ['day, offset < 100', (p) => p.period === 'day' && p.offset < 100 && !p.directions],
    ['month, offset > 1500', (p) => p.period === 'month' && p.offset > 1500 && !p.directions],
    ['month, offset > 1500, directions=4', (p) => p.period === 'month' && p.offset > 1500 && p.directions],
  ];
  const out: HistoryReport['single'] = [];
  for (const [name, take] of kinds) {
    const chosen = paths.filter(take).slice(0, 20);
    if (!chosen.length) continue;
    const ms: number[] = [];
    for (const p of chosen) ms.push((await request(port, 'GET', p.path, headers)).ms);
    ms.sort((a, b) => a - b);
    out.push({
      name,
      median_ms: round(ms[Math.floor(ms.length / 2)], 2),
      max_ms: round(ms[ms.length - 1], 2),
    });
  }
  log(
    `history: one at a time: ${out.map((s) => `${s.name} ${s.median_ms} ms (max ${s.max_ms})`).join('; ')}`,
  );
  return out;
}

/**
 * Open-loop paced load (bench/lib/paced-client.ts, in a child process of its own so that this
 * process's large heap and its collections do not disturb the machine during the measurement).
 * autocannon's `overallRate` sends in bursts (all connections at once, then waits), which
 * measured its own bursts rather than the server.
 */
async function pacedClient() {
  // V8's memory reducer shrinks a fresh process's heap with full collections a few seconds after
  // start, which is during the run: the client does without it.
  const client = spawnChild(join(ROOT, 'bench', 'lib', 'paced-client.ts'), [], {
    cwd: ROOT,
    nodeFlags: ['--no-memory-reducer'],
  });
  await nextMessage(
    client,
    (m): m is { type: 'ready' } => (m as { type?: string })?.type === 'ready',
    60_000,
    'the paced client to start',
  );
  /** Runs one paced load; the client process exits after answering. */
  return (job: PacedJob) => {
    client.child.send(job);
    return nextMessage(
      client,
      (m): m is PacedResult => (m as { type?: string })?.type === 'paced',
      (job.seconds + 60) * 1000,
      'the paced client',
    );
  };
}

const pct = (sorted: number[], p: number) =>
  sorted.length
    ? Math.round(100 * sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]) / 100
    : 0;

async function load(
  port: number,
  headers: Record<string, string>,
  paths: PagePath[],
  server: Child,
  mode: 'closed' | 'fixed',
): Promise<LoadRun> {
  let next = 0;
  const pacedJob = (seconds: number, start: number): PacedJob => ({
    port,
    headers,
    paths: paths.map((p) => p.path),
    start,
    rate: HISTORY_RATE,
    seconds,
    connections: HISTORY_CONNECTIONS,
  });
  const options = (duration: number): Options =>
    ({
      url: `http://127.0.0.1:${port}`,
      connections: HISTORY_CONNECTIONS,
      duration,
      headers,
      requests: [
        {
          method: 'GET',
          setupRequest: (req: { path?: string }) => {
            req.path = paths[next++ % paths.length].path;
            return req;
          },
        },
      ],
    }) as Options;
  const name =
    mode === 'closed'
      ? `${HISTORY_CONNECTIONS} connections flat out`
      : `${HISTORY_RATE} req/s, evenly paced, up to ${HISTORY_CONNECTIONS} in flight`;
  log(`history: warm-up ${HISTORY_WARMUP_SEC} s, then ${HISTORY_SEC} s at ${name}`);
  if (mode === 'closed') await autocannon(options(HISTORY_WARMUP_SEC));
  else await (await pacedClient())(pacedJob(HISTORY_WARMUP_SEC, 0));
  // The measured run's client is started (and loaded) before the clock and CPU counters start.
  const measured = mode === 'fixed' ? await pacedClient() : null;
  const loadBefore = loadavg1();
  const cpu0 = processCpuMs(server.child.pid!);
  const t0 = performance.now();
  let run: Omit<
    LoadRun,
    'server_cpu_pct' | 'server_cpu_us_per_req' | 'loadavg_before' | 'loadavg_after' | 'client_gc'
  >;
  let clientGc: LoadRun['client_gc'] = null;
  if (mode === 'closed') {
    const r: Result = await autocannon(options(HISTORY_SEC));
    run = {
      mode: name,
      rps: Math.round(r.requests.average),
      p50_ms: r.latency.p50,
      p90_ms: r.latency.p90,
      p99_ms: r.latency.p99,
      max_ms: r.latency.max,
      requests: r.requests.total,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      duration_sec: r.duration,
    };
  } else {
    const r = await measured!(pacedJob(HISTORY_SEC, 1000));
    clientGc = r.client_gc;
    const sorted = [...r.latencies].sort((a, b) => a - b);
    run = {
      mode: name,
      rps: Math.round((1000 * r.latencies.length) / r.wall),
      p50_ms: pct(sorted, 50),
      p90_ms: pct(sorted, 90),
      p99_ms: pct(sorted, 99),
      max_ms: pct(sorted, 100),
      requests: r.sent,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: 0,
      duration_sec: Math.round(r.wall / 100) / 10,
    };
  }
  const wall = performance.now() - t0;
  const cpu1 = processCpuMs(server.child.pid!);
  const cpuMs = cpu0 === null || cpu1 === null ? null : cpu1 - cpu0;
  const full: LoadRun = {
    ...run,
    server_cpu_pct: cpuMs === null ? null : Math.round((100 * cpuMs) / wall),
    server_cpu_us_per_req: cpuMs === null ? null : Math.round((1000 * cpuMs) / Math.max(1, run.requests)),
    loadavg_before: loadBefore,
    loadavg_after: loadavg1(),
    client_gc: clientGc,
  };
  log(
    `history: ${name}: ${full.rps} req/s, p50 ${full.p50_ms} ms, p99 ${full.p99_ms} ms, max ${full.max_ms} ms; ` +
      `${full.non2xx} non-2xx, ${full.errors} errors; server CPU ${full.server_cpu_pct}% (${full.server_cpu_us_per_req} µs/req)` +
      (clientGc
        ? `; client GCs ${clientGc.minor} minor, ${clientGc.major} major, longest ${clientGc.longest_ms} ms`
        : ''),
  );
  return full;
}

// ---------------------------------------------------------------------------------------------
// Report

interface Report {
  date: string;
  machine: ReturnType<typeof machine>;
  targets: typeof TARGET;
  traffic: TrafficReport | null;
  history: HistoryReport | null;
  loadavg_range: [number, number];
  total_sec: number;
  valid: boolean;
}

const yes = (ok: boolean) => (ok ? 'yes' : '**no**');

function markdown(rep: Report): string {
  const t = rep.traffic!;
  const h = rep.history!;
  const m = rep.machine;
  const lines = [
    '# Calls benchmark',
    '',
    `Produced by \`npm run bench:calls\` (bench/calls.ts) on ${rep.date}. Raw numbers: [calls.json](calls.json).`,
    '',
    `- Machine: ${m.cpus}× ${m.cpu_model}, ${m.memory_gb} GB RAM, ${m.os}, Node ${m.node}`,
    `- Shared machine: 1-minute load average ${rep.loadavg_range[0]}–${rep.loadavg_range[1]} during the run; while the traffic ran the whole machine used ${t.machine_cpu_pct ?? '–'}% CPU (100% = one core), the Dzvin child ${t.server_cpu_pct ?? '–'}%, everything else ${t.others_cpu_pct ?? '–'}% (other processes, and the kernel writing the recordings back to disk)`,
    `- Databases and recordings under \`${os.tmpdir()}\``,
    '',
    '| Figure | Value | Target | Met |',
    '|---|---:|---:|:---:|',
    `| Event-loop lag p99 while ${t.rate} calls/s arrived | ${t.lag.p99_ms} ms | < ${TARGET.lagP99Ms} ms | ${yes(t.lag.p99_ms < TARGET.lagP99Ms)} |`,
    `| RSS, highest second | ${fmt(t.rss_max_mb)} MB | < ${TARGET.rssMb} MB | ${yes(t.rss_max_mb < TARGET.rssMb)} |`,
    `| Calls in progress at peak | ${fmt(t.peak_concurrent)} | ≥ ${fmt(TARGET.peakConcurrent)} (scenario) | ${yes(t.peak_concurrent >= TARGET.peakConcurrent)} |`,
    `| \`company.api\` page p99, ${fmt(h.stored_calls)} stored calls, ${h.fixed_rate.mode} | ${h.fixed_rate.p99_ms} ms | < ${TARGET.pageP99Ms} ms | ${yes(h.fixed_rate.p99_ms < TARGET.pageP99Ms)} |`,
    `| (capacity) \`company.api\` pages per second, ${h.closed.mode}; p99 there (queueing) | ${fmt(h.closed.rps)}/s; ${h.closed.p99_ms} ms | – | – |`,
    '',
    '## Traffic',
    '',
    `A child process runs Dzvin as \`buildApp\` builds it (fresh SQLite file in WAL mode, recordings on disk, system clock and timers, HTTP on 127.0.0.1) and places calls with \`simulator.sim.incoming\` from inside the same process: Poisson arrivals at ${t.rate} calls/s for ${t.seconds} s, open loop, then nothing until every call has ended and its recording is final. Event-loop lag is \`monitorEventLoopDelay({ resolution: 10 })\` minus its 10 ms sampling interval, over the ${t.seconds} s of arrivals (the headline figure) and over arrivals + drain; RSS and the other figures are sampled every second.`,
    '',
    `The office: ${fmt(t.employees)} employees (an employee talks on one call at a time, so ${fmt(TARGET.peakConcurrent)} calls in progress need well over ${fmt(TARGET.peakConcurrent)} of them) in ${t.plan.huntGroups} hunt groups of ${t.plan.huntSize} (round-robin and sequential) and ${t.plan.ringAllGroups} ring-all groups of ${t.plan.ringAllSize}, one trunk per group, ${t.plan.ivrTrunks} trunks into an IVR (${t.plan.ivrTimeoutSec} s, then a group; half the callers press 1 or 2) and ${t.plan.directLines} personal lines. Traffic: IVR 10%, personal lines 4%, the rest over the group trunks in proportion to their members. Every employee answers after a fixed ${t.plan.answerAfterSec[0]}–${t.plan.answerAfterSec[1]} s with probability ${t.plan.answerProbability} (else it rings ${t.plan.ringTimeoutSec} s and the group moves on); talk time ${t.plan.talk.minSec}–${t.plan.talk.maxSec} s; each answered call writes three WAV files (mixed, rx, tx) while it runs.`,
    '',
    '| | |',
    '|---|---:|',
    `| Calls placed / errors placing | ${fmt(t.placed)} / ${t.place_errors} |`,
    `| Arrivals late against their schedule, p99 / max | ${t.arrival_late_p99_ms} / ${t.arrival_late_max_ms} ms |`,
    `| Calls in progress at peak / recordings in progress at peak | ${fmt(t.peak_concurrent)} / ${fmt(t.peak_recording)} |`,
    `| Event-loop lag while arrivals ran, p50 / p90 / p99 / p99.9 / max | ${t.lag.p50_ms} / ${t.lag.p90_ms} / ${t.lag.p99_ms} / ${t.lag.p999_ms} / ${t.lag.max_ms} ms |`,
    `| Event-loop lag over arrivals + drain, p50 / p99 / max | ${t.lag_all.p50_ms} / ${t.lag_all.p99_ms} / ${t.lag_all.max_ms} ms |`,
    `| RSS at start / highest / at end | ${fmt(t.rss_start_mb)} / ${fmt(t.rss_max_mb)} / ${fmt(t.rss_end_mb)} MB |`,
    `| JS heap used, highest | ${fmt(t.heap_max_mb)} MB |`,
    `| Dzvin child CPU over arrivals + drain | ${t.server_cpu_pct ?? '–'}% (${fmt(t.cpu_ms / 1000, 1)} s) |`,
    `| Arrivals / drain | ${t.arrivals_sec} s / ${t.drain_sec} s |`,
    `| Company calls stored by disposition (0 answered, 1 no answer, 4 busy) | ${Object.entries(
      t.company_by_disposition,
    )
      .map(([d, n]) => `${d}: ${fmt(n)}`)
      .join(', ')} |`,
    `| Rows stored by kind | ${Object.entries(t.stored)
      .map(([k, n]) => `${k}: ${fmt(n)}`)
      .join(', ')} |`,
    `| Recordings: answered calls with one / WAV files / size | ${fmt(t.with_recording)} / ${fmt(t.recording_files)} / ${fmt(t.recording_mb)} MB |`,
    `| Recordings checked (3 tracks, length = bridged time) | ${t.recordings_ok} of ${t.recordings_checked} |`,
    `| \`GET /rest/calls/active/v3\` after the last arrival | ${t.active_v3 ? `${fmt(t.active_v3.entries)} entries, ${t.active_v3.ms} ms` : '–'} |`,
    `| Errors logged by Dzvin | ${t.logged_errors} |`,
    '',
    'Every 5 s of the run (the JSON has every second):',
    '',
    '| s | phase | in progress | recording | RSS MB | lag p99 ms | lag max ms | CPU % | load |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...t.samples
      .filter((s, i) => s.t % 5 === 0 || i === t.samples.length - 1)
      .map(
        (s) =>
          `| ${s.t} | ${s.phase} | ${fmt(s.active)} | ${fmt(s.recording)} | ${s.rss_mb} | ${s.lag_p99_ms} | ${s.lag_max_ms} | ${s.cpu_pct} | ${s.loadavg} |`,
      ),
    '',
    '## Call history',
    '',
    `${fmt(h.stored_calls)} company calls over ${h.days} days (working hours, weekends quieter; 68% incoming, 27% outgoing, 5% internal; answered, missed, busy, failed), with their ${fmt(h.user_rows)} employee legs and ${fmt(h.pause_rows)} pause records: ${fmt(h.stored_rows)} rows, ${fmt(h.db_mb)} MB of SQLite, written in ${h.seed_sec} s straight into the \`calls\` table (the rows \`store.calls.save\` writes; a sample read back through \`store.calls.byUuid\` compares equal). Dzvin runs in a child process on it; autocannon, in this process, rotates over ${fmt(h.paths)} requests \`GET /rest/calls/company.api?timeFrom&timeTo&limit=50&offset\` with the session cookie: periods ${Object.entries(
      h.period_mix,
    )
      .map(([p, n]) => `${p} ${Math.round((100 * n) / h.paths)}%`)
      .join(
        ', ',
      )}, ending at random times in the month, offsets 0–${MAX_OFFSET} (always a full page), ${Math.round((100 * h.with_directions) / h.paths)}% of them \`directions=4\`. Before the load, pages were checked: 50 records with exactly the documented keys, in the period, in the order and with the uuids the database gives.`,
    '',
    `Query plan: ${h.query_plan.map((p) => `\`${p}\``).join('; ')}`,
    '',
    '| Load | req/s | p50 ms | p90 ms | p99 ms | max ms | Server CPU | per request | non-2xx / errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...[h.closed, h.fixed_rate].map(
      (r) =>
        `| ${r.mode} | ${fmt(r.rps)} | ${r.p50_ms} | ${r.p90_ms} | ${r.p99_ms} | ${r.max_ms} | ${r.server_cpu_pct ?? '–'}% | ${r.server_cpu_us_per_req ?? '–'} µs | ${r.non2xx} / ${r.errors} |`,
    ),
    '',
    `One request at a time (no other load from us): ${h.single.map((s) => `${s.name}: median ${s.median_ms} ms, max ${s.max_ms} ms`).join('; ')}.`,
    '',
    `The headline is the paced run: requests due at even intervals (open loop), latency counted from when each was due, so a stall counts against every request it delays. The paced client runs in a process of its own (bench/lib/paced-client.ts) with a small heap${h.fixed_rate.client_gc ? ` (during the run: ${h.fixed_rate.client_gc.minor} minor and ${h.fixed_rate.client_gc.major} major collections, longest ${h.fixed_rate.client_gc.longest_ms} ms)` : ''}: run from this bench's main process, which holds the seeding's figures, its full collections every 2 s (marking on both cores) stalled every process on the machine for 6–15 ms, and the p99 measured them. With ${HISTORY_CONNECTIONS} connections flat out the server is saturated and a request waits behind the others: that p99 is queueing (≈ connections × time per request) on a machine whose 2 cores also run the load generator, and the run is there for its pages per second.`,
    '',
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const t0 = performance.now();
  const date = new Date().toISOString();
  const loads = [loadavg1()];
  log(
    `parts ${[...PARTS].join(', ')}; traffic ${RATE} calls/s for ${SECONDS} s; history ${fmt(STORED)} calls; load average ${loads[0]}`,
  );
  const traffic = PARTS.has('traffic') ? await trafficPart() : null;
  loads.push(loadavg1());
  const history = PARTS.has('history') ? await historyPart() : null;
  loads.push(loadavg1());
  if (traffic)
    loads.push(traffic.loadavg_before, traffic.loadavg_after, ...traffic.samples.map((s) => s.loadavg));
  if (history)
    for (const r of [history.closed, history.fixed_rate]) loads.push(r.loadavg_before, r.loadavg_after);

  const report: Report = {
    date,
    machine: machine(),
    targets: TARGET,
    traffic,
    history,
    loadavg_range: [Math.min(...loads), Math.max(...loads)],
    total_sec: secondsSince(t0),
    valid: (traffic?.valid ?? true) && (history?.valid ?? true),
  };
  const summary: Record<string, number | boolean | null> = {
    lag_p99_ms: traffic?.lag.p99_ms ?? null,
    rss_mb: traffic?.rss_max_mb ?? null,
    peak_concurrent: traffic?.peak_concurrent ?? null,
    history_page_p99_ms: history?.fixed_rate.p99_ms ?? null,
    stored_calls: history?.stored_calls ?? null,
    lag_max_ms: traffic?.lag.max_ms ?? null,
    calls_placed: traffic?.placed ?? null,
    history_rps: history?.closed.rps ?? null,
    history_page_p99_ms_saturated: history?.closed.p99_ms ?? null,
    stored_rows: history?.stored_rows ?? null,
    targets_met:
      !!traffic &&
      !!history &&
      traffic.lag.p99_ms < TARGET.lagP99Ms &&
      traffic.rss_max_mb < TARGET.rssMb &&
      traffic.peak_concurrent >= TARGET.peakConcurrent &&
      history.fixed_rate.p99_ms < TARGET.pageP99Ms,
    valid: report.valid,
  };
  if (traffic && history) {
    mkdirSync(RESULTS, { recursive: true });
    const md = markdown(report);
    writeFileSync(join(RESULTS, 'calls.md'), md);
    writeFileSync(join(RESULTS, 'calls.json'), `${JSON.stringify({ ...report, summary }, null, 2)}\n`);
    log(`wrote ${relative(ROOT, join(RESULTS, 'calls.md'))} and calls.json in ${report.total_sec} s total`);
    process.stdout.write(`${md}\n`);
  } else log('a partial run (BENCH_CALLS_PARTS): results files left as they are');
  if (!report.valid) log('the run had failures (see above): the figures are not valid');
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = report.valid ? 0 : 1;
}

main().catch((e) => {
  log(`failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
