// Dzvin as `npm run bench:sip` runs it: buildApp over a fresh SQLite file with its SIP engine wired
// to the Kamailio and rtpengine the bench started (argv[2]: SipServerSettings as JSON), system
// clock and timers, HTTP on 127.0.0.1. It builds the office — `employees` employees with SIP
// passwords in round-robin groups of `groupSize`, each behind a trunk whose `sipPeers` allow
// 127.0.0.1 (the SIPp "carrier"), a CRM connection to the bench's receiver — and then only serves:
// every call comes in over SIP. Once a second it reports event-loop delay and RSS over IPC.
//
// IPC: → `ready` (after the office is built); `registered` → how many exts Dzvin sees registered;
// `counts` → the history rows (company calls by disposition), the INVITEs refused before routing
// and calls still active; `exit`.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { buildApp, defaultConfig } from '../../packages/server/src/index.ts';

export interface SipServerSettings {
  dir: string;
  b2buaPort: number;
  edgePort: number;
  ngPort: number;
  rpcUrl: string;
  employees: number;
  /** The first DID (digits); group g's trunk is firstDid + g. */
  firstDid: number;
  groupSize: number;
  eventsUrl: string;
  domain: string;
  password: string;
}

export interface SipServerSample {
  t: number;
  rss_mb: number;
  heap_mb: number;
  lag_p99_ms: number;
  lag_max_ms: number;
  cpu_pct: number;
  /** CPU time of the main thread alone over the last second (ms, from /proc: the media worker excluded). */
  main_cpu_ms: number;
  /** Time the main thread was runnable but waited for a CPU over the last second (ms, /proc schedstat). */
  main_wait_ms: number;
  active: number;
  loadavg: number;
  /** How long rtpengine's replies took lately as Dzvin saw them (NgClient.latencyMs), at the sample. */
  ng_latency_ms?: number;
}

// BENCH_SQL_CENSUS=<file>: every SQLite statement this process runs is counted and timed (by its
// SQL text, on whichever thread calls it: the main thread's store), written to <file> at `exit`
// as [sql, { n, ns }] pairs, the costliest first. Off by default: the timing itself costs.
const censusPath = process.env.BENCH_SQL_CENSUS;
const census = new Map<string, { n: number; ns: number }>();
if (censusPath) {
  const proto = (SQLite as unknown as { prototype: { prepare: (s: string) => unknown } }).prototype;
  const prepare = proto.prepare;
  proto.prepare = function (this: unknown, text: string) {
    const stmt = prepare.call(this, text) as Record<string, (...a: unknown[]) => unknown>;
    for (const m of ['run', 'all', 'get', 'iterate']) {
      const f = stmt[m]!;
      stmt[m] = (...a: unknown[]) => {
        const t0 = process.hrtime.bigint();
        try {
          return f.apply(stmt, a);
        } finally {
          const c = census.get(text) ?? { n: 0, ns: 0 };
          c.n++;
          c.ns += Number(process.hrtime.bigint() - t0);
          census.set(text, c);
        }
      };
    }
    return stmt;
  };
}
const settings = JSON.parse(process.argv[2] ?? '') as SipServerSettings;
const send = (m: unknown) => process.send?.(m);
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

const built = await buildApp(
  defaultConfig({
    databaseUrl: `sqlite:${settings.dir}/sip.sqlite`,
    port: 0,
    // Warnings and errors as JSON lines on stdout: the bench counts them (a refusal for overload,
    // an rtpengine that did not answer, a failed write) and shows the first ones.
    logLevel: 'warn',
    recordingsDir: `${settings.dir}/recordings`,
    sip: {
      listen: { address: '127.0.0.1', port: settings.b2buaPort },
      edge: { address: '127.0.0.1', port: settings.edgePort },
      rtpengine: { address: '127.0.0.1', port: settings.ngPort },
      kamailioRpcUrl: settings.rpcUrl,
    },
  }),
  {},
);
await built.app.listen({ host: '127.0.0.1', port: 0 });

const { accounts, directory } = built.services;
const created = await accounts.create({ domain: settings.domain, name: 'SIP bench', defaultCountry: 'UA' });
// Real phones only: a call never falls back to a simulated answer.
let account = await accounts.update(created.account.id, { phones: 'real' });
// Groups of `groupSize` (a call centre's hunt groups), each behind its own DID: the carrier
// spreads its calls over the DIDs, as calls to a real office spread over its lines.
const members: number[] = [];
for (let k = 0; k < settings.employees; k++) {
  const e = await directory.employees.create(account, {
    displayName: `Оператор ${k}`,
    ext: String(1000 + k),
  });
  await directory.employees.setSipPassword(account, e.id, settings.password);
  members.push(e.id);
}
account = await accounts.update(account.id, { apiUserId: members[0] });
for (let g = 0; g * settings.groupSize < members.length; g++) {
  const group = await directory.groups.create(account, {
    name: `Лінія ${g + 1}`,
    ext: String(100 + g),
    strategy: 'round-robin',
    ringTimeoutSec: 20,
    members: members.slice(g * settings.groupSize, (g + 1) * settings.groupSize),
  });
  await directory.trunks.create(account, {
    number: `+${settings.firstDid + g}`,
    name: `Carrier ${g + 1}`,
    destination: { type: 'group', id: group.id },
    isDefault: g === 0,
    sipPeers: ['127.0.0.1'],
  });
}
await directory.crm.create(account, { name: 'bench CRM', eventsUrl: settings.eventsUrl });

// Measurement: event-loop delay in 10 ms steps (the interval subtracted), reset each second.
const RESOLUTION_MS = 10;
const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
eld.enable();
const lagMs = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
let t = 0;
let cpuLast = process.cpuUsage();
// The main thread's schedstat (its tid is the pid): time on a CPU, time runnable but waiting for
// one (the run queue), in ns. Waiting shows as event-loop lag though the loop is not busy.
const mainSched = () => {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ');
    return { run: Number(run), wait: Number(wait) };
  } catch {
    return { run: 0, wait: 0 };
  }
};
let mainLast = mainSched();
let tickLast = performance.now();
const db = built.database.db;
const companyRows = async () =>
  Number(
    (await sql<{ n: number }>`select count(*) as n from calls where kind = 'company'`.execute(db)).rows[0]
      ?.n ?? 0,
  );
const sampler = setInterval(() => {
  const now = performance.now();
  const cpu = process.cpuUsage(cpuLast);
  cpuLast = process.cpuUsage();
  const mainNow = mainSched();
  const mem = process.memoryUsage();
  const s: SipServerSample = {
    t: ++t,
    rss_mb: round(mem.rss / 2 ** 20),
    heap_mb: round(mem.heapUsed / 2 ** 20),
    lag_p99_ms: round(lagMs(eld.percentile(99)), 2),
    lag_max_ms: round(lagMs(eld.max), 2),
    cpu_pct: Math.round((cpu.user + cpu.system) / 10 / (now - tickLast)),
    main_cpu_ms: round((mainNow.run - mainLast.run) / 1e6, 1),
    main_wait_ms: round((mainNow.wait - mainLast.wait) / 1e6, 1),
    active: built.simulator.sim.activeCount(),
    loadavg: round(os.loadavg()[0], 2),
    ng_latency_ms: round(built.sip?.ng.latencyMs() ?? 0),
  };
  eld.reset();
  tickLast = now;
  mainLast = mainNow;
  send({ type: 'sample', sample: s });
}, 1000);

process.on('message', async (m: { type?: string }) => {
  try {
    if (m?.type === 'registered') {
      await built.sip?.refresh();
      send({ type: 'registered', n: built.sip?.registered().length ?? 0 });
    } else if (m?.type === 'counts') {
      const byDisposition: Record<string, number> = {};
      for (const r of (
        await sql<{
          d: number;
          n: number;
        }>`select disposition as d, count(*) as n from calls where kind = 'company' group by disposition`.execute(
          db,
        )
      ).rows)
        byDisposition[String(r.d)] = Number(r.n);
      send({
        type: 'counts',
        company: await companyRows(),
        // INVITEs answered 503 before routing (overload, media unavailable): no history row.
        refused: built.sip?.driver.overloadRefusals() ?? 0,
        active: built.simulator.sim.activeCount(),
        byDisposition,
      });
    } else if (m?.type === 'exit') {
      clearInterval(sampler);
      if (censusPath)
        writeFileSync(censusPath, JSON.stringify([...census].sort((x, y) => y[1].ns - x[1].ns)));
      await built.close();
      process.exit(0);
    }
  } catch (e) {
    send({ type: 'error', error: String((e as Error).stack ?? e) });
  }
});
send({ type: 'ready', port: (built.app.server.address() as { port: number }).port, accountId: account.id });
