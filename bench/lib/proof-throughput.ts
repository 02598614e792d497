// The throughput part of the proof (issue 7): the same REST read mix against 1 Dzvin process, then
// 2 processes (autocannon's connections split across both), over one PostgreSQL, with a profile
// of where the CPU goes: per-process CPU % from /proc (Dzvin processes, PostgreSQL's postmaster and
// backends, this process — the load generator), PostgreSQL's wait events sampled during the runs
// (a lock that serialized the processes would show as backends waiting on Lock/LWLock), and a V8
// CPU profile of each Dzvin process (node:inspector) summarised to its top functions by self time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon, { type Options, type Result } from 'autocannon';
import { authorize, loadavg1, machineBusyMs } from './calls-harness.ts';
import type { Cluster } from './postgres.ts';
import {
  ask,
  cpuOf,
  cpuPercent,
  type Node,
  postgresPids,
  sleep,
  sqlQuery,
  startNode,
  stopNode,
} from './proof-cluster.ts';
import { readMix } from './proof-load.ts';

export interface ThroughputSettings {
  seconds: number;
  warmupSec: number;
  /** autocannon connections in all (split across the processes of a run). */
  connections: number;
  log: (line: string) => void;
}

export interface ProfileTop {
  function: string;
  self_ms: number;
  pct: number;
}

export interface ThroughputRun {
  processes: number;
  rps: number;
  requests: number;
  p50_ms: number;
  p99_ms: number;
  non2xx: number;
  errors: number;
  /** CPU % (100 = one core) over the run. */
  cpu: { dzvin: number[]; postgres: number; load_generator: number; machine: number | null };
  /** Samples of PostgreSQL's client backends: "state/wait_event_type:wait_event" → share (%). */
  pg_waits: Record<string, number>;
  loadavg: number;
}

export interface ThroughputReport {
  settings: Omit<ThroughputSettings, 'log'>;
  runs: ThroughputRun[];
  /** Top functions by self time of each Dzvin process over the 2-process run. */
  profiles: {
    process: string;
    total_ms: number;
    idle_pct: number;
    gc_pct: number;
    top: ProfileTop[];
    by_area: { area: string; pct: number }[];
  }[];
  shutdown: { name: string; code: number | null; signal: string | null; ms: number }[];
}

type CpuProfile = {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
};

/** Self time per function of a V8 CPU profile, top `n`. */
export function summariseProfile(file: string, n = 12) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((x) => [x.id, x.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const f = byId.get(p.samples[i]);
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    if (!f) continue;
    const where = f.url
      ? ` ${f.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*\/packages\//, 'packages/')}:${f.lineNumber + 1}`
      : '';
    const key = `${f.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const pct = (ms: number) => Math.round((ms / Math.max(1, total)) * 1000) / 10;
  // Self time by where the code lives: a package, Dzvin's own code, Node's internals, or native
  // work without a script (writev: the socket writes, where loopback TCP runs in the sender's time).
  const groups = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const f = byId.get(p.samples[i]);
    if (!f) continue;
    const url = f.url;
    const g = !url
      ? f.functionName.startsWith('(')
        ? f.functionName
        : `native ${f.functionName}`
      : url.includes('/node_modules/')
        ? `npm ${url.replace(/^.*\/node_modules\//, '').split('/')[0]}`
        : url.includes('/packages/')
          ? `dzvin ${url
              .replace(/^.*\/packages\//, '')
              .split('/')
              .slice(0, 3)
              .join('/')}`
          : url.startsWith('node:')
            ? 'node internals'
            : 'other';
    groups.set(g, (groups.get(g) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  const by_area = [...groups]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([area, ms]) => ({ area, pct: pct(ms) }));
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, ms]) => ({ function: fn, self_ms: Math.round(ms), pct: pct(ms) }));
  return {
    total_ms: Math.round(total),
    idle_pct: pct(self.get('(idle)') ?? 0),
    gc_pct: pct(self.get('(garbage collector)') ?? 0),
    top,
    by_area,
  };
}

export async function runThroughput(
  pg: Cluster,
  dir: string,
  account: { domain: string; apiKey: string },
  s: ThroughputSettings,
): Promise<ThroughputReport> {
  const { log } = s;
  const nodes: Node[] = [];
  const shutdown: ThroughputReport['shutdown'] = [];
  try {
    log('throughput: starting 2 fresh Dzvin processes');
    nodes.push(await startNode('process-A'));
    nodes.push(await startNode('process-B'));
    const { cookie } = await authorize(nodes[0].port, account.domain, account.apiKey);
    const since = Date.now() - 3_600_000;
    const cannon = (n: Node, seconds: number, connections: number) => {
      const headers = { host: `${account.domain}:${n.port}`, cookie };
      const opts = {
        url: `http://127.0.0.1:${n.port}`,
        connections,
        duration: seconds,
        requests: readMix(since).map((path) => ({ method: 'GET', path, headers })),
      };
      return autocannon(opts as Options) as PromiseLike<Result>;
    };
    log(`throughput: warm-up ${s.warmupSec} s on each process`);
    await Promise.all(nodes.map((n) => cannon(n, s.warmupSec, Math.max(1, s.connections / 2))));

    const runs: ThroughputRun[] = [];
    const profiles: ThroughputReport['profiles'] = [];
    for (const count of [1, 2]) {
      const using = nodes.slice(0, count);
      const profiled = count === 2;
      if (profiled)
        for (const n of using)
          await ask(
            n,
            { cmd: 'profile-start' },
            (m): m is { profiling: true } => (m as { profiling?: boolean })?.profiling === true,
          );
      log(`throughput: ${count} process(es), ${s.connections} connections, ${s.seconds} s`);
      const pgPids = postgresPids(pg.dataDir);
      const cpu0 = {
        dz: using.map((n) => cpuOf([n.pid])),
        pg: cpuOf(pgPids),
        own: process.cpuUsage(),
        m: machineBusyMs(),
      };
      const t0 = Date.now();
      // PostgreSQL's wait events, sampled while the load runs.
      const waits = new Map<string, number>();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const rows = await sqlQuery<{ k: string; n: number }>(
            pg.url,
            `select coalesce(state, '?') || '/' || coalesce(wait_event_type || ':' || wait_event, 'on CPU') as k, count(*)::int as n
               from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() group by 1`,
          ).catch(() => []);
          for (const r of rows) waits.set(r.k, (waits.get(r.k) ?? 0) + r.n);
          await sleep(250);
        }
      })();
      const results = await Promise.all(
        using.map((n) => cannon(n, s.seconds, Math.round(s.connections / count))),
      );
      const wall = Date.now() - t0;
      sampling = false;
      await sampler;
      const pgAfter = cpuOf(postgresPids(pg.dataDir));
      const own = process.cpuUsage(cpu0.own);
      const m1 = machineBusyMs();
      const totalWaits = [...waits.values()].reduce((a, b) => a + b, 0) || 1;
      const run: ThroughputRun = {
        processes: count,
        rps: Math.round(results.reduce((a, r) => a + r.requests.average, 0)),
        requests: results.reduce((a, r) => a + r.requests.total, 0),
        p50_ms: Math.max(...results.map((r) => r.latency.p50)),
        p99_ms: Math.max(...results.map((r) => r.latency.p99)),
        non2xx: results.reduce((a, r) => a + r.non2xx, 0),
        errors: results.reduce((a, r) => a + r.errors + r.timeouts, 0),
        cpu: {
          dzvin: using.map((n, i) => cpuPercent(cpu0.dz[i], cpuOf([n.pid]), wall)),
          postgres: cpuPercent(cpu0.pg, pgAfter, wall),
          load_generator: Math.round(((own.user + own.system) / 1000 / wall) * 1000) / 10,
          machine: cpu0.m === null || m1 === null ? null : Math.round(((m1 - cpu0.m) / wall) * 1000) / 10,
        },
        pg_waits: Object.fromEntries(
          [...waits]
            .sort((a, b) => b[1] - a[1])
            .map(([k, n]) => [k, Math.round((n / totalWaits) * 1000) / 10]),
        ),
        loadavg: loadavg1(),
      };
      runs.push(run);
      log(
        `throughput: ${count} process(es): ${run.rps} req/s, p99 ${run.p99_ms} ms; CPU % Dzvin ${run.cpu.dzvin.join('+')}, PostgreSQL ${run.cpu.postgres}, load generator ${run.cpu.load_generator}, machine ${run.cpu.machine}`,
      );
      if (profiled)
        for (const n of using) {
          const file = join(dir, `${n.name}.cpuprofile`);
          await ask(
            n,
            { cmd: 'profile-stop', file },
            (m): m is { profiled: string } => typeof (m as { profiled?: string })?.profiled === 'string',
          );
          profiles.push({ process: n.name, ...summariseProfile(file) });
        }
    }
    for (const n of nodes) shutdown.push({ name: n.name, ...(await stopNode(n)) });
    const { log: _log, ...settings } = s;
    return { settings, runs, profiles, shutdown };
  } finally {
    for (const n of nodes)
      if (n.child.child.exitCode === null && n.child.child.signalCode === null) n.child.child.kill('SIGKILL');
  }
}
