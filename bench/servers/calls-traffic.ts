// The call-traffic run of `npm run bench:calls`: a real Dzvin (buildApp on a fresh SQLite file and
// recordings directory, system clock and timers, listening on 127.0.0.1:0) with a call-centre
// office, fed Poisson arrivals through `simulator.sim.incoming` from inside this process.
//
// Talks to its parent over IPC: sends `ready` (port, domain, API key), waits for `start`, sends a
// `sample` every second, `arrivals-done` when the last call has arrived, and `result` once every
// call has ended and its recording is final; then waits for `exit`. Dzvin's log (errors only)
// goes to stdout, where the parent counts it. Exits by itself when the parent goes away.
import { readdirSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { createHistogram, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { sql } from 'kysely';
import { buildApp, defaultConfig } from '../../packages/server/src/index.ts';
import { round, seededRandom } from '../lib/calls-harness.ts';
import { buildOffice, callerNumber, type OfficePlan } from '../lib/calls-office.ts';

export interface TrafficSettings {
  /** Holds the database and the recordings. */
  dir: string;
  rate: number;
  seconds: number;
  seed: number;
  plan: OfficePlan;
  /** Share of IVR calls whose caller presses a digit (1 or 2) instead of waiting for the default. */
  ivrDigitShare: number;
  /** Distinct callers. */
  callerPool: number;
  /** Give up waiting for calls to end after this long past the last arrival. */
  drainMaxSec: number;
}

export interface LagFigures {
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  mean_ms: number;
}

/** One second of the run, as the server saw it. */
export interface TrafficSample {
  t: number;
  phase: 'arrivals' | 'drain';
  arrivals: number;
  active: number;
  recording: number;
  rss_mb: number;
  heap_mb: number;
  lag_p99_ms: number;
  lag_max_ms: number;
  /** The longest garbage-collection pause in this second, and all of them together. */
  gc_max_ms: number;
  gc_total_ms: number;
  cpu_pct: number;
  loadavg: number;
}

export interface TrafficResult {
  setup_sec: number;
  employees: number;
  groups: number;
  trunks: number;
  placed: number;
  place_errors: number;
  first_place_error: string | null;
  digits_pressed: number;
  /** How late arrivals were placed against their Poisson schedule (timer slack + lag). */
  arrival_late_p99_ms: number;
  arrival_late_max_ms: number;
  peak_concurrent: number;
  peak_recording: number;
  arrivals_sec: number;
  drain_sec: number;
  drained: boolean;
  /** Event-loop delay beyond the 10 ms sampling interval while arrivals ran (the peak is at their end). */
  lag: LagFigures;
  /** The same over arrivals + drain. */
  lag_all: LagFigures;
  /** Raw histogram p99 while arrivals ran (includes the 10 ms interval), for the record. */
  lag_raw_p99_ms: number;
  rss_max_mb: number;
  rss_start_mb: number;
  rss_end_mb: number;
  heap_max_mb: number;
  cpu_ms: number;
  /** Rows in the calls table by kind, and company calls by disposition. */
  stored: Record<string, number>;
  company_by_disposition: Record<string, number>;
  answered_company: number;
  with_recording: number;
  /** Finished WAV files (3 per recorded call), files still `.part`, total size. */
  recording_files: number;
  recording_part_files: number;
  recording_mb: number;
  /** Recorded calls whose 3 tracks exist with the length billSecs implies (a sample). */
  recordings_checked: number;
  recordings_ok: number;
  samples: TrafficSample[];
}

const settings = JSON.parse(process.argv[2] ?? 'null') as TrafficSettings | null;
if (!settings) throw new Error('usage: calls-traffic.ts <settings JSON>');
const send = (m: unknown) => process.send?.(m);
// The parent is gone: nothing will read the result.
process.on('disconnect', () => process.exit(3));

const random = seededRandom(settings.seed);
const built = await buildApp(
  defaultConfig({
    databaseUrl: `sqlite:${join(settings.dir, 'traffic.sqlite')}`,
    recordingsDir: join(settings.dir, 'recordings'),
    port: 0,
    logLevel: 'error',
  }),
  { random: seededRandom(settings.seed ^ 0x5bd1e995) },
);
await built.app.listen({ host: '127.0.0.1', port: 0 });
const port = (built.app.server.address() as AddressInfo).port;

const setupT0 = performance.now();
const office = await buildOffice(built, settings.plan, random);
const setupSec = round((performance.now() - setupT0) / 1000);
const account = (await built.store.accounts.byId(office.accountId))!;
const { sim } = built.simulator;
send({ type: 'ready', port, domain: office.domain, apiKey: office.apiKey });
await new Promise<void>((resolve) =>
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'start') resolve();
  }),
);

// ---------------------------------------------------------------------------------------------
// Measurement: event-loop delay in 10 ms steps (ELD histograms cannot be merged: one for the
// whole run, one for the arrivals, one reset every second), RSS, heap and CPU once a second.

const RESOLUTION_MS = 10;
const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
const total = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
const arrivalsOnly = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
const late = createHistogram();
// Garbage-collection pauses, so a stall in the lag can be told apart from one outside JS.
let gcMaxMs = 0;
let gcTotalMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMaxMs = Math.max(gcMaxMs, e.duration);
    gcTotalMs += e.duration;
  }
}).observe({ entryTypes: ['gc'] });
const lagMs = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
const samples: TrafficSample[] = [];
let phase: TrafficSample['phase'] = 'arrivals';
let placed = 0;
let placeErrors = 0;
let firstPlaceError: string | null = null;
let digits = 0;
let peak = 0;
let peakRecording = 0;
const rss0 = process.memoryUsage.rss();
let cpuLast = process.cpuUsage();
const cpu0 = cpuLast;
let tickLast = performance.now();
let arrivalsLast = 0;

function sample() {
  const now = performance.now();
  const cpu = process.cpuUsage(cpuLast);
  cpuLast = process.cpuUsage();
  const mem = process.memoryUsage();
  const s: TrafficSample = {
    t: samples.length + 1,
    phase,
    arrivals: placed - arrivalsLast,
    active: sim.activeCount(),
    recording: built.recorder.active(),
    rss_mb: round(mem.rss / 2 ** 20),
    heap_mb: round(mem.heapUsed / 2 ** 20),
    lag_p99_ms: round(lagMs(eld.percentile(99)), 2),
    lag_max_ms: round(lagMs(eld.max), 2),
    gc_max_ms: round(gcMaxMs, 2),
    gc_total_ms: round(gcTotalMs, 2),
    cpu_pct: Math.round((cpu.user + cpu.system) / 10 / (now - tickLast)),
    loadavg: round(os.loadavg()[0], 2),
  };
  eld.reset();
  gcMaxMs = 0;
  gcTotalMs = 0;
  arrivalsLast = placed;
  tickLast = now;
  peak = Math.max(peak, s.active);
  peakRecording = Math.max(peakRecording, s.recording);
  samples.push(s);
  send({ type: 'sample', sample: s });
}

// ---------------------------------------------------------------------------------------------
// Arrivals: a Poisson process at `rate` per second for `seconds`, open loop (arrivals never wait
// for calls to end), each placed at its scheduled time or as soon after as the loop allows.

const cumulative: { number: string; at: number; kind: string }[] = [];
{
  let acc = 0;
  for (const t of office.trunks) {
    acc += t.weight;
    cumulative.push({ number: t.number, at: acc, kind: t.kind });
  }
}
const pickTrunk = () => {
  const r = random() * cumulative[cumulative.length - 1].at;
  return cumulative.find((t) => r < t.at) ?? cumulative[cumulative.length - 1];
};

function place() {
  const trunk = pickTrunk();
  const from = callerNumber(random, settings!.callerPool);
  const pressDigit = trunk.kind === 'ivr' && random() < settings!.ivrDigitShare;
  const digit = random() < 0.5 ? '1' : '2';
  const afterMs = 1000 + Math.floor(random() * 1000 * Math.max(1, settings!.plan.ivrTimeoutSec - 2));
  placed++;
  sim
    .incoming(account, from, trunk.number)
    .then(({ uuid }) => {
      peak = Math.max(peak, sim.activeCount());
      if (pressDigit)
        setTimeout(() => {
          sim.digit(account.id, uuid, digit).then(
            () => digits++,
            () => {}, // the call already left the IVR (or ended): nothing to press
          );
        }, afterMs);
    })
    .catch((err: Error) => {
      placeErrors++;
      firstPlaceError ??= String(err?.stack ?? err);
    });
}

const expo = () => (-Math.log(1 - random()) * 1000) / settings.rate;

eld.enable();
total.enable();
arrivalsOnly.enable();
const t0 = performance.now();
const sampler = setInterval(sample, 1000);
const end = t0 + settings.seconds * 1000;
await new Promise<void>((resolve) => {
  let due = t0 + expo();
  const tick = () => {
    const now = performance.now();
    while (due <= now && due < end) {
      late.record(Math.max(1, Math.round((now - due) * 1000)));
      place();
      due += expo();
    }
    if (due >= end) return resolve();
    setTimeout(tick, Math.max(0, due - performance.now()));
  };
  setTimeout(tick, Math.max(0, due - performance.now()));
});
const arrivalsSec = round((performance.now() - t0) / 1000);
arrivalsOnly.disable();
send({ type: 'arrivals-done', active: sim.activeCount() });

// Drain: every call ends by itself (talk time, ring timeouts); wait for that and the recordings.
const drainT0 = performance.now();
phase = 'drain';
let drained = false;
while (performance.now() - drainT0 < settings.drainMaxSec * 1000) {
  if (sim.activeCount() === 0 && built.recorder.active() === 0) {
    drained = true;
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
await built.simulator.engine.idle();
const drainSec = round((performance.now() - drainT0) / 1000);
clearInterval(sampler);
sample();
eld.disable();
total.disable();
const cpuMs = (() => {
  const c = process.cpuUsage(cpu0);
  return Math.round((c.user + c.system) / 1000);
})();
const histogramMs = (h: typeof total): LagFigures => ({
  p50_ms: round(lagMs(h.percentile(50)), 2),
  p90_ms: round(lagMs(h.percentile(90)), 2),
  p99_ms: round(lagMs(h.percentile(99)), 2),
  p999_ms: round(lagMs(h.percentile(99.9)), 2),
  max_ms: round(lagMs(h.max), 2),
  mean_ms: round(lagMs(h.mean), 2),
});

// ---------------------------------------------------------------------------------------------
// What the run left behind: history rows and recordings.

const db = built.database.db;
const stored: Record<string, number> = {};
for (const r of (
  await sql<{ kind: string; n: number }>`select kind, count(*) as n from calls group by kind`.execute(db)
).rows)
  stored[r.kind] = Number(r.n);
const companyByDisposition: Record<string, number> = {};
for (const r of (
  await sql<{
    d: number;
    n: number;
  }>`select disposition as d, count(*) as n from calls where kind = 'company' group by disposition`.execute(
    db,
  )
).rows)
  companyByDisposition[String(r.d)] = Number(r.n);
const recorded = (
  await sql<{
    uuid: string;
    bill_secs: number;
    bridge_at: number;
    end_at: number;
  }>`select uuid, bill_secs, bridge_at, end_at from calls where kind = 'company' and recording_uuid is not null order by end_at`.execute(
    db,
  )
).rows;
const recDir = join(settings.dir, 'recordings');
const files = readdirSync(recDir);
let recordingBytes = 0;
for (const f of files) recordingBytes += statSync(join(recDir, f)).size;
// Every 25th recorded call: three tracks, each 44 + 16,000 bytes per second of the bridged time.
let checked = 0;
let ok = 0;
for (let i = 0; i < recorded.length; i += 25) {
  const r = recorded[i];
  checked++;
  const want = 44 + Math.floor((Number(r.end_at) - Number(r.bridge_at)) * 8) * 2;
  const sizes = ['', '-rx', '-tx'].map((s) => {
    try {
      return statSync(join(recDir, `${r.uuid}${s}.wav`)).size;
    } catch {
      return -1;
    }
  });
  if (sizes.every((s) => s === want) && Math.abs(want - 44 - Number(r.bill_secs) * 16_000) <= 16_000) ok++;
}

const result: TrafficResult = {
  setup_sec: setupSec,
  employees: office.employees,
  groups: office.groups,
  trunks: office.trunks.length,
  placed,
  place_errors: placeErrors,
  first_place_error: firstPlaceError,
  digits_pressed: digits,
  arrival_late_p99_ms: round(late.percentile(99) / 1000, 2),
  arrival_late_max_ms: round(late.max / 1000, 2),
  peak_concurrent: peak,
  peak_recording: peakRecording,
  arrivals_sec: arrivalsSec,
  drain_sec: drainSec,
  drained,
  lag: histogramMs(arrivalsOnly),
  lag_all: histogramMs(total),
  lag_raw_p99_ms: round(arrivalsOnly.percentile(99) / 1e6, 2),
  rss_max_mb: Math.max(...samples.map((s) => s.rss_mb)),
  rss_start_mb: round(rss0 / 2 ** 20),
  rss_end_mb: samples[samples.length - 1].rss_mb,
  heap_max_mb: Math.max(...samples.map((s) => s.heap_mb)),
  cpu_ms: cpuMs,
  stored,
  company_by_disposition: companyByDisposition,
  answered_company: companyByDisposition['0'] ?? 0,
  with_recording: recorded.length,
  recording_files: files.filter((f) => f.endsWith('.wav')).length,
  recording_part_files: files.filter((f) => f.endsWith('.part')).length,
  recording_mb: Math.round(recordingBytes / 2 ** 20),
  recordings_checked: checked,
  recordings_ok: ok,
  samples,
};
send({ type: 'result', result });

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await built.close();
  process.exit(0);
};
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'exit') void stop();
});
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
