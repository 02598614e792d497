// `npm run bench:api`: req/s and latency of `GET /rest/users` and `searchByOLNum` against a bare
// Fastify hello-world, at 100k and 1M contacts, in one run on loopback.
//
// Each server runs in its own child process so the load generator (autocannon, in this process)
// does not share its event loop. The baseline runs first and last (the machine is shared; the
// mean is the reference). Results: bench/results/api.md (table) and api.json (raw numbers); the
// last line of stdout is one JSON object with the figures of the largest size.
//
// Env: BENCH_SIZES (default "100000,1000000"), BENCH_DURATION_SEC (10), BENCH_WARMUP_SEC (2),
// BENCH_CONNECTIONS (50), BENCH_CPU_PROF=<dir> (V8 CPU profiles of the Dzvin child of each
// endpoint, in <dir>/dzvin-<endpoint>-<size>/), BENCH_KEEP_DB=1 (keep the temporary database),
// BENCH_DZVIN_IMPORT=<file> (preloaded into the Dzvin children only: try a server change as a
// patch and compare, without touching the server).
// Load stays on 127.0.0.1, every run has a fixed duration, and a watchdog ends the whole thing.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { sql } from 'kysely';
import { buildApp, defaultConfig } from '../packages/server/src/index.ts';
import { PHONE_FORMATS, seedContact, seedContacts } from './lib/seed-contacts.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');

// ---------------------------------------------------------------------------------------------
// Settings

function intEnv(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  return n;
}

const SIZES = [
  ...new Set(
    (process.env.BENCH_SIZES || '100000,1000000').split(',').map((s) => Number(s.trim().replace(/_/g, ''))),
  ),
].sort((a, b) => a - b);
if (!SIZES.length || SIZES.some((n) => !Number.isInteger(n) || n < 100 || n > 50_000_000))
  throw new Error(
    `BENCH_SIZES must be a comma-separated list of integers from 100 to 50000000, got '${process.env.BENCH_SIZES}'`,
  );
const DURATION_SEC = intEnv('BENCH_DURATION_SEC', 10, 1, 600);
const WARMUP_SEC = intEnv('BENCH_WARMUP_SEC', 2, 0, 60);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 50, 1, 1000);
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : null;
const KEEP_DB = process.env.BENCH_KEEP_DB === '1';
const DZVIN_IMPORT = process.env.BENCH_DZVIN_IMPORT ? resolve(process.env.BENCH_DZVIN_IMPORT) : null;

/** The issue's targets: each endpoint at least half the baseline's req/s, p99 under 20 ms. */
const TARGET = { minRatio: 0.5, maxP99Ms: 20 };
const DOMAIN = 'bench.localhost';
const EMPLOYEES = 8;
/** Distinct numbers the search load rotates over. */
const SEARCH_POOL = 20_000;
/** Everything stops by itself: the whole run is bounded. */
const WATCHDOG_MS = 60 * 60_000;

const log = (line: string) => process.stderr.write(`[bench:api] ${line}\n`);
const secondsSince = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;

// ---------------------------------------------------------------------------------------------
// Child servers

interface Server {
  name: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}
const children = new Set<ChildProcess>();

function killAll() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    log(`${signal}: stopping`);
    killAll();
    process.exit(130);
  });
setTimeout(() => {
  log(`watchdog: still running after ${WATCHDOG_MS / 60_000} min, giving up`);
  killAll();
  process.exit(2);
}, WATCHDOG_MS).unref();

/** Starts `node --import tsx <script> ...args` and waits for its `{"port":N}` line. */
function startServer(
  name: string,
  script: string,
  args: string[] = [],
  nodeFlags: string[] = [],
): Promise<Server> {
  const child = spawn(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', join(ROOT, 'bench', 'servers', script), ...args],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  children.add(child);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    children.delete(child);
  };
  return new Promise((resolvePort, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${name}: no port after 60 s`)), 60_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      void stop();
      reject(e);
    };
    const early = (code: number | null, signal: string | null) =>
      fail(new Error(`${name} exited early (code ${code}, signal ${signal})`));
    child.once('exit', early);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.off('exit', early);
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      const { port } = JSON.parse(out.slice(0, nl)) as { port: number };
      resolvePort({ name, port, child, stop });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers (checks before load; the load itself is autocannon)

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function request(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Reply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const h: Record<string, string> = { ...headers };
  if (payload !== undefined) {
    h['content-type'] = 'application/json';
    h['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((done, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers: h, agent: false, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          done({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Load

interface Run {
  endpoint: string;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  latency_avg_ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration_sec: number;
  /** 1-minute load average of the machine before and after: other work on it shows here. */
  loadavg_before: number;
  loadavg_after: number;
  /**
   * CPU the server process used (user + system, all threads) per second of the run (100 = one
   * core) and per request: near 100 the server is the bottleneck; the per-request figure is its
   * cost, which other work on the machine disturbs far less than req/s. Null off Linux.
   */
  server_cpu_pct: number | null;
  server_cpu_us_per_req: number | null;
  /** The same for this process, the load generator. */
  loadgen_cpu_pct: number;
}

/** CPU time (ms, user + system) of a process so far, from /proc; null where there is none. */
function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
/** USER_HZ: 100 on every Linux Node supports. */
const CLOCK_TICKS = 100;

async function load(
  endpoint: string,
  server: Server,
  paths: string[],
  headers?: Record<string, string>,
): Promise<Run> {
  let next = 0;
  const options = (duration: number) => ({
    url: `http://127.0.0.1:${server.port}`,
    connections: CONNECTIONS,
    duration,
    headers,
    // One path: a prebuilt request. Several: every request (of any connection) takes the next.
    requests:
      paths.length === 1
        ? [{ method: 'GET', path: paths[0] }]
        : [
            {
              method: 'GET',
              setupRequest: (r: { path?: string }) => {
                r.path = paths[next++ % paths.length];
                return r;
              },
            },
          ],
  });
  if (WARMUP_SEC > 0) {
    log(`${endpoint}: warm-up ${WARMUP_SEC} s`);
    await autocannon(options(WARMUP_SEC));
  }
  log(`${endpoint}: ${DURATION_SEC} s at ${CONNECTIONS} connections`);
  const loadBefore = os.loadavg()[0];
  const serverCpu0 = processCpuMs(server.child.pid!);
  const ownCpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r: Result = await autocannon(options(DURATION_SEC));
  const wallMs = performance.now() - t0;
  const serverCpu1 = processCpuMs(server.child.pid!);
  const ownCpu = process.cpuUsage(ownCpu0);
  const serverCpuMs = serverCpu0 === null || serverCpu1 === null ? null : serverCpu1 - serverCpu0;
  const run: Run = {
    endpoint,
    rps: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p90_ms: r.latency.p90,
    p99_ms: r.latency.p99,
    max_ms: r.latency.max,
    latency_avg_ms: Math.round(r.latency.average * 100) / 100,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    duration_sec: r.duration,
    loadavg_before: Math.round(loadBefore * 100) / 100,
    loadavg_after: Math.round(os.loadavg()[0] * 100) / 100,
    server_cpu_pct: serverCpuMs === null ? null : Math.round((100 * serverCpuMs) / wallMs),
    server_cpu_us_per_req:
      serverCpuMs === null ? null : Math.round((1000 * serverCpuMs) / Math.max(1, r.requests.total)),
    loadgen_cpu_pct: Math.round((100 * (ownCpu.user + ownCpu.system)) / 1000 / wallMs),
  };
  log(
    `${endpoint}: ${run.rps} req/s, p50 ${run.p50_ms} ms, p99 ${run.p99_ms} ms, ${run.requests} requests, ` +
      `${run.non2xx} non-2xx, ${run.errors} errors; server CPU ${run.server_cpu_pct}% (${run.server_cpu_us_per_req} µs/req), ` +
      `load generator CPU ${run.loadgen_cpu_pct}%, load average ${run.loadavg_before}→${run.loadavg_after}`,
  );
  return run;
}

async function baselineRun(): Promise<Run> {
  const server = await startServer('baseline', 'baseline.ts');
  try {
    const r = await request(server.port, 'GET', '/', {});
    check(r.status === 200 && JSON.parse(r.text).hello === 'world', `baseline answers ${r.status} ${r.text}`);
    return await load('baseline GET /', server, ['/']);
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Seeding and the Dzvin runs

interface SizeResult {
  contacts: number;
  /** The seeding step that grew the book to this size: from how many contacts, how long, file size after. */
  seeding: { from: number; sec: number; db_mb: number };
  users: Run;
  search: Run;
  /** Reference, not a target: the same store read behind bare Fastify (bench/servers/search-floor.ts). */
  search_floor: Run;
}

/** Numbers the search load asks for: contacts spread over the whole book, in three formats. */
function searchPool(size: number, firstId: number) {
  const formats = [PHONE_FORMATS.spaced, PHONE_FORMATS.national, PHONE_FORMATS.intlDigits];
  let x = 0x9e3779b9;
  const rand = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  return Array.from({ length: Math.min(SEARCH_POOL, size) }, (_, k) => {
    const i = Math.floor(rand() * size);
    const s = seedContact(i, 0);
    const number = s.numbers[Math.floor(rand() * s.numbers.length)];
    const otherLegNum = formats[k % formats.length](number);
    return {
      id: firstId + i,
      firstName: s.firstName,
      e164: `+380${number}`,
      otherLegNum,
      path: `/rest/crm/contacts/v2/searchByOLNum?otherLegNum=${encodeURIComponent(otherLegNum)}`,
    };
  });
}

/** A Dzvin child over the database, signed in; one per endpoint, so a CPU profile is one endpoint's. */
async function withDzvin<T>(
  databaseUrl: string,
  apiKey: string,
  profileName: string,
  fn: (server: Server, headers: Record<string, string>) => Promise<T>,
) {
  // A directory per endpoint: the main thread's profile is CPU.*.0.*.cpuprofile, tsx's loader thread's another.
  const flags = [
    ...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(CPU_PROF_DIR, profileName)}`] : []),
    ...(DZVIN_IMPORT ? ['--import', pathToFileURL(DZVIN_IMPORT).href] : []),
  ];
  const server = await startServer('dzvin', 'dzvin.ts', [databaseUrl], flags);
  try {
    const host = `${DOMAIN}:${server.port}`;
    const auth = await request(
      server.port,
      'POST',
      '/rest/security/authorize',
      { host },
      { domain: DOMAIN, apiKey },
    );
    const m = /^JSESSIONID=([^;]+)/.exec(String(auth.headers['set-cookie']?.[0] ?? ''));
    check(auth.status === 200 && m, `authorize answers ${auth.status} ${auth.text}`);
    return await fn(server, { host, cookie: `JSESSIONID=${m[1]}` });
  } finally {
    await server.stop();
  }
}

async function dzvinRuns(
  databaseUrl: string,
  apiKey: string,
  accountId: number,
  size: number,
  firstId: number,
  seeding: SizeResult['seeding'],
): Promise<SizeResult> {
  const pool = searchPool(size, firstId);
  const users = await withDzvin(databaseUrl, apiKey, `dzvin-users-${size}`, async (server, headers) => {
    const { port } = server;
    // Correctness once, before any load.
    const r = await request(port, 'GET', '/rest/users', headers);
    check(r.status === 200, `GET /rest/users answers ${r.status} ${r.text}`);
    check(
      (JSON.parse(r.text) as unknown[]).length === EMPLOYEES,
      `GET /rest/users lists ${EMPLOYEES} employees`,
    );
    for (const want of pool.slice(0, 30)) {
      const r = await request(port, 'GET', want.path, headers);
      check(r.status === 200, `${want.path} answers ${r.status} ${r.text}`);
      const found = JSON.parse(r.text) as {
        id: number;
        firstName: string;
        fields: { values: { value: string }[] }[];
      }[];
      check(
        found.length === 1 && found[0].id === want.id,
        `${want.otherLegNum} finds contact ${want.id}: ${r.text.slice(0, 300)}`,
      );
      check(found[0].firstName === want.firstName, `contact ${want.id} is ${want.firstName}`);
      const digits = want.e164.slice(4);
      check(
        found[0].fields.some((f) => f.values.some((v) => v.value.replace(/\D/g, '').endsWith(digits))),
        `contact ${want.id} has the number ${want.e164}`,
      );
    }
    const none = await request(
      port,
      'GET',
      '/rest/crm/contacts/v2/searchByOLNum?otherLegNum=0000000001',
      headers,
    );
    check(
      none.status === 200 && none.text === '[]',
      `an unknown number finds nothing: ${none.status} ${none.text}`,
    );
    log(`dzvin at ${size} contacts: answers checked (users, 30 searches in 3 formats, a miss)`);
    return load(`GET /rest/users (${size})`, server, ['/rest/users'], headers);
  });
  let sent: Record<string, string> = {};
  const search = await withDzvin(databaseUrl, apiKey, `dzvin-search-${size}`, (server, headers) => {
    sent = headers;
    return load(
      `searchByOLNum (${size})`,
      server,
      pool.map((p) => p.path),
      headers,
    );
  });
  const floor = await startServer('search floor', 'search-floor.ts', [databaseUrl, String(accountId)]);
  let search_floor: Run;
  try {
    // The reference answers exactly what Dzvin answers, or it would not be one.
    for (const want of pool.slice(0, 10)) {
      const r = await request(floor.port, 'GET', want.path, {});
      const found = JSON.parse(r.text) as { id: number }[];
      check(r.status === 200 && found.length === 1 && found[0].id === want.id, `the floor finds ${want.id}`);
    }
    // The same requests as Dzvin got, Host and session cookie included (the reference ignores
    // them, but reading them is part of a request's cost).
    search_floor = await load(
      `searchByOLNum floor (${size})`,
      floor,
      pool.map((p) => p.path),
      sent,
    );
  } finally {
    await floor.stop();
  }
  return { contacts: size, seeding, users, search, search_floor };
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const met = (r: Run, baseline: number) => r.rps >= TARGET.minRatio * baseline && r.p99_ms < TARGET.maxP99Ms;

function markdown(report: Report): string {
  const b = report.baseline.rps;
  const lines = [
    '# API benchmark',
    '',
    `Produced by \`npm run bench:api\` (bench/api.ts) on ${report.date}${report.git ? ` at commit ${report.git.commit}${report.git.server_dirty ? ' with uncommitted changes in packages/server or packages/protocol' : ''}` : ''}. Raw numbers: [api.json](api.json).`,
    '',
    `- Machine: ${report.machine.cpus}× ${report.machine.cpu_model}, ${report.machine.memory_gb} GB RAM, ${report.machine.os}, Node ${report.machine.node}`,
    `- Load: autocannon in the parent process, ${report.settings.connections} connections, ${report.settings.duration_sec} s per endpoint after ${report.settings.warmup_sec} s warm-up, loopback (127.0.0.1); each server in its own child process`,
    `- Dzvin: SQLite (WAL), logger off, one account with ${EMPLOYEES} employees; requests carry the session cookie and \`Host: ${DOMAIN}\` as Phonet clients do`,
    `- searchByOLNum rotates over ${fmt(SEARCH_POOL)} numbers of contacts spread over the whole book, written as \`+380 44 123 45 67\`, \`0441234567\` and \`380441234567\``,
    `- Baseline: bare Fastify 5 \`GET /\` → \`{"hello":"world"}\`, run first and last: ${fmt(report.baseline.start.rps)} and ${fmt(report.baseline.end.rps)} req/s; the ratio uses their mean, ${fmt(b)} req/s`,
    `- Target: each endpoint ≥ ${TARGET.minRatio * 100}% of the baseline's req/s and p99 < ${TARGET.maxP99Ms} ms`,
    ...(report.settings.dzvin_import
      ? [
          `- **Experiment:** the Dzvin children preloaded \`${report.settings.dzvin_import}\`; these are not the figures of the server as it is`,
        ]
      : []),
    `- 1-minute load average during the runs: ${report.loadavg_range[0]}–${report.loadavg_range[1]} (other work on the machine lowers every figure; the baseline ratio absorbs part of it)`,
    '',
    '| Contacts | Endpoint | req/s | p50 ms | p99 ms | vs baseline | Target met | Server CPU | Server CPU per request |',
    '|---:|---|---:|---:|---:|---:|:---:|---:|---:|',
  ];
  const cpu = (r: Run) =>
    r.server_cpu_pct === null ? '– | –' : `${r.server_cpu_pct}% | ${fmt(r.server_cpu_us_per_req ?? 0)} µs`;
  for (const r of [report.baseline.start, report.baseline.end])
    lines.push(
      `| – | baseline \`GET /\` (${r === report.baseline.start ? 'first' : 'last'}) | ${fmt(r.rps)} | ${r.p50_ms} | ${r.p99_ms} | ${fmt(r.rps / b, 2)} | – | ${cpu(r)} |`,
    );
  for (const s of report.sizes)
    for (const [name, r] of [
      ['`GET /rest/users`', s.users],
      ['`GET …/searchByOLNum`', s.search],
    ] as const)
      lines.push(
        `| ${fmt(s.contacts)} | ${name} | ${fmt(r.rps)} | ${r.p50_ms} | ${r.p99_ms} | ${fmt(r.rps / b, 2)} | ${met(r, b) ? 'yes' : 'no'} | ${cpu(r)} |`,
      );
  for (const s of report.sizes) {
    const r = s.search_floor;
    lines.push(
      `| ${fmt(s.contacts)} | reference: the same store read behind bare Fastify | ${fmt(r.rps)} | ${r.p50_ms} | ${r.p99_ms} | ${fmt(r.rps / b, 2)} | – | ${cpu(r)} |`,
    );
  }
  lines.push(
    '',
    'Server CPU: user + system time of the server process during the run (100% = one core). Near 100%, the server is the',
    'bottleneck; well below it, the load generator is (it shares the 2 cores). CPU per request is the cost that other',
    'work on the machine disturbs least.',
    '',
    'The reference rows (bench/servers/search-floor.ts) are not Dzvin: one bare Fastify route that normalizes the number',
    'and reads the contacts with Dzvin’s own store (`contacts.byPhoneJson`), with no session, Host check, validation,',
    'NUL guard or metrics, sent the very requests Dzvin got (Host and cookie included). They show what this lookup',
    'costs on this machine before any of Dzvin’s HTTP pipeline:',
    'the distance from it to the baseline is the database read and the response, the distance from Dzvin to it is the',
    'pipeline.',
  );
  lines.push('', '| Seeding | Time | Database file after |', '|---|---:|---:|');
  for (const s of report.sizes)
    lines.push(
      `| ${fmt(s.seeding.from)} → ${fmt(s.contacts)} contacts | ${fmt(s.seeding.sec, 1)} s | ${fmt(s.seeding.db_mb)} MB |`,
    );
  lines.push(
    '',
    'Seeding builds every contact with the domain’s `buildContact` (in a worker thread) and writes the rows `store.contacts.insert` writes, 5,000 contacts per transaction.',
    '',
  );
  return lines.join('\n');
}

/** Which server was measured: the commit, and whether the server or protocol had uncommitted changes. */
function gitState(): { commit: string; server_dirty: boolean } | null {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    return {
      commit: git('rev-parse', '--short', 'HEAD'),
      server_dirty: git('status', '--porcelain', '--', 'packages/server', 'packages/protocol') !== '',
    };
  } catch {
    return null;
  }
}

interface Report {
  date: string;
  git: ReturnType<typeof gitState>;
  machine: { cpus: number; cpu_model: string; memory_gb: number; os: string; node: string };
  settings: {
    connections: number;
    duration_sec: number;
    warmup_sec: number;
    sizes: number[];
    dzvin_import: string | null;
  };
  baseline: { rps: number; start: Run; end: Run };
  sizes: SizeResult[];
  loadavg_range: [number, number];
  total_sec: number;
  valid: boolean;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const t0 = performance.now();
  const date = new Date().toISOString();
  const cpus = os.cpus();
  const git = gitState();
  log(
    `sizes ${SIZES.join(', ')}; ${DURATION_SEC} s per endpoint (+${WARMUP_SEC} s warm-up), ${CONNECTIONS} connections`,
  );

  const baselineStart = await baselineRun();

  const dir = mkdtempSync(join(os.tmpdir(), 'dzvin-bench-api-'));
  const dbPath = join(dir, 'bench.sqlite');
  const databaseUrl = `sqlite:${dbPath}`;
  const sizes: SizeResult[] = [];
  let apiKey = '';
  const seeder = await buildApp(defaultConfig({ databaseUrl, logLevel: 'warn' }), { logger: false }).catch(
    (e: unknown) => {
      rmSync(dir, { recursive: true, force: true }); // a failed start (a migration…) leaves no temp dir behind
      throw e;
    },
  );
  try {
    // The account, through the service layer as `dzvin account create` does it.
    const created = await seeder.services.accounts.create({
      domain: DOMAIN,
      name: 'Bench office',
      defaultCountry: 'UA',
    });
    const account = created.account;
    apiKey = created.apiKey;
    const employeeIds: number[] = [];
    for (let k = 1; k <= EMPLOYEES; k++) {
      const e = await seeder.services.directory.employees.create(account, {
        displayName: `Співробітник ${k}`,
        ext: String(k).padStart(3, '0'),
        email: `employee${k}@${DOMAIN}`,
      });
      employeeIds.push(e.id);
    }
    await seeder.services.accounts.update(account.id, { apiUserId: employeeIds[0] });
    // Bulk-load settings of this connection only (the server's connection keeps its own): no
    // fsync, no checkpoints mid-load (one at the end of each step), a bigger page cache.
    for (const p of ['synchronous = OFF', 'wal_autocheckpoint = 0', 'cache_size = -262144'])
      await sql.raw(`pragma ${p}`).execute(seeder.database.db);

    let seeded = 0;
    let firstId = 0;
    const now = Date.now();
    for (const size of SIZES) {
      const ts = performance.now();
      log(`seeding contacts ${fmt(seeded)} → ${fmt(size)}`);
      let lastLog = performance.now();
      const first = await seedContacts({
        database: seeder.database,
        accountId: account.id,
        country: 'UA',
        createUserId: employeeIds[0],
        responsibleIds: employeeIds,
        from: seeded,
        to: size,
        now,
        progress: (done) => {
          if (performance.now() - lastLog < 5000 && done < size) return;
          lastLog = performance.now();
          log(`  ${fmt(done)} contacts (${secondsSince(ts)} s)`);
        },
      });
      if (seeded === 0) firstId = first;
      await sql.raw('pragma wal_checkpoint(TRUNCATE)').execute(seeder.database.db);
      const seeding = {
        from: seeded,
        sec: secondsSince(ts),
        db_mb: Math.round(statSync(dbPath).size / 2 ** 20),
      };
      seeded = size;
      log(`seeded ${fmt(size)} contacts in ${seeding.sec} s; the database is ${fmt(seeding.db_mb)} MB`);
      sizes.push(await dzvinRuns(databaseUrl, apiKey, account.id, size, firstId, seeding));
    }
  } finally {
    await seeder.close();
    if (KEEP_DB) log(`database kept: ${databaseUrl} (account ${DOMAIN}, API key ${apiKey})`);
    else rmSync(dir, { recursive: true, force: true });
  }

  const baselineEnd = await baselineRun();

  const runs = [baselineStart, baselineEnd, ...sizes.flatMap((s) => [s.users, s.search, s.search_floor])];
  const report: Report = {
    date,
    git,
    machine: {
      cpus: cpus.length,
      cpu_model: cpus[0]?.model.trim() ?? 'unknown',
      memory_gb: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
    },
    settings: {
      connections: CONNECTIONS,
      duration_sec: DURATION_SEC,
      warmup_sec: WARMUP_SEC,
      sizes: SIZES,
      dzvin_import: DZVIN_IMPORT && relative(ROOT, DZVIN_IMPORT),
    },
    baseline: {
      rps: Math.round((baselineStart.rps + baselineEnd.rps) / 2),
      start: baselineStart,
      end: baselineEnd,
    },
    sizes,
    loadavg_range: [
      Math.min(...runs.flatMap((r) => [r.loadavg_before, r.loadavg_after])),
      Math.max(...runs.flatMap((r) => [r.loadavg_before, r.loadavg_after])),
    ],
    total_sec: secondsSince(t0),
    valid: runs.every((r) => r.non2xx === 0 && r.errors === 0 && r.timeouts === 0),
  };
  mkdirSync(RESULTS, { recursive: true });
  const md = markdown(report);
  writeFileSync(join(RESULTS, 'api.md'), md);
  writeFileSync(join(RESULTS, 'api.json'), `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${relative(ROOT, join(RESULTS, 'api.md'))} and api.json in ${report.total_sec} s total`);

  const largest = sizes[sizes.length - 1];
  const b = report.baseline.rps;
  const summary: Record<string, number | boolean> = {
    baseline_rps: b,
    users_rps: largest.users.rps,
    users_p99_ms: largest.users.p99_ms,
    search_rps: largest.search.rps,
    search_p99_ms: largest.search.p99_ms,
    contacts: largest.contacts,
  };
  for (const s of sizes.slice(0, -1)) {
    summary[`users_rps_${s.contacts}`] = s.users.rps;
    summary[`users_p99_ms_${s.contacts}`] = s.users.p99_ms;
    summary[`search_rps_${s.contacts}`] = s.search.rps;
    summary[`search_p99_ms_${s.contacts}`] = s.search.p99_ms;
  }
  summary.search_floor_rps = largest.search_floor.rps;
  summary.baseline_rps_start = baselineStart.rps;
  summary.baseline_rps_end = baselineEnd.rps;
  summary.targets_met = sizes.every((s) => met(s.users, b) && met(s.search, b));
  summary.valid = report.valid;

  process.stdout.write(`${md}\n`);
  if (!report.valid) log('some requests failed (non-2xx, errors or timeouts): the figures are not valid');
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = report.valid ? 0 : 1;
}

main().catch((e) => {
  log(`failed: ${(e as Error).stack ?? e}`);
  killAll();
  process.exit(1);
});
