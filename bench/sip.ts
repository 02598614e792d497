// `npm run bench:sip`: Dzvin's SIP engine under load, on loopback, against Kamailio alone.
//
// The path measured (a carrier's calls to trunks; trunks that register to a carrier and calls out
// over one are tested in sip-carrier, not measured here): a SIPp "carrier" sends INVITEs for a DID to Kamailio
// (deploy/kamailio/dzvin.cfg, the real config); Kamailio relays them to Dzvin's B2BUA with
// `X-Dzvin-Source`; the B2BUA matches the trunk of that number (its `sipPeers` allow 127.0.0.1),
// the call core rings the next employee of that trunk's round-robin group (groups of 25, one DID
// each, the carrier dialling them in turn), the B2BUA INVITEs that employee's
// phone through Kamailio, where a SIPp UAS (every employee registered with digest from its port)
// answers at once; media is anchored by rtpengine on both legs and relayed by Dzvin between them
// (media/media-joint.ts, in the media worker thread: media-worker.ts). The carrier hangs up.
//
// 1. Call rate: rising steps (BENCH_SIP_RATES calls/s, each BENCH_SIP_STEP_SEC seconds of
//    arrivals, each call held BENCH_SIP_HOLD_MS, signalling and offer/answer only: no RTP is
//    sent) until a step has a failed call. `cps_zero_fail` is the highest step with none.
// 2. Media: BENCH_SIP_CONCURRENT calls opened at BENCH_SIP_MEDIA_RATE/s and held together for
//    BENCH_SIP_MEDIA_HOLD_SEC: the carrier plays a tone (A-law RTP, 50 packets/s), the phone echoes
//    it back, so RTP flows both ways through rtpengine and Dzvin. Loss from rtpengine's own
//    per-stream counters (NG `query`), two snapshots on the plateau; lag and RSS of the Dzvin
//    process (a child: bench/servers/sip-server.ts).
// 3. Kamailio alone: the same carrier steps against a second Kamailio on the same config whose
//    B2BUA is a SIPp UAS answering at once (Kamailio's own ceiling for this path here).
// Then: history rows written and webhooks delivered to a CRM receiver on loopback, against the
// calls placed.
//
// Results: bench/results/sip.md + sip.json; the last stdout line is one JSON object.
// Env: BENCH_SIP_RATES (25,50,75,100,150,200,300,400,500), BENCH_SIP_STEP_SEC (15), BENCH_SIP_HOLD_MS
// (1000), BENCH_SIP_CONCURRENT (250), BENCH_SIP_MEDIA_RATE (25), BENCH_SIP_MEDIA_HOLD_SEC (30),
// BENCH_SIP_EMPLOYEES (800), BENCH_SIP_GROUP_SIZE (25), BENCH_SIP_PARTS (dzvin,kamailio), BENCH_CPU_PROF=<dir> (a V8 CPU
// profile of the Dzvin child; its top functions are printed), BENCH_SQL_CENSUS=<file> (every SQLite
// statement of the Dzvin child counted and timed, bench/servers/sip-server.ts; the costliest per
// call are printed).
// Load stays on 127.0.0.1, every step has a fixed length, and a watchdog ends the whole thing.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCrmReceiver } from '../packages/server/test/support/crm-receiver.ts';
import { freePort, startKamailio } from '../packages/server/test/support/kamailio.ts';
import { startRtpengine } from '../packages/server/test/support/rtpengine.ts';
import { freeUdpPort } from '../packages/server/test/support/sip-sipp.ts';
import {
  type Child,
  guardProcess,
  intEnv,
  loadavg1,
  machine,
  nextMessage,
  round,
  spawnChild,
} from './lib/calls-harness.ts';
import { type CpuWindow, startCpuWindow } from './lib/proc-cpu.ts';
import { answerXml, carrierXml, registerPhones, runSipp, SIPP, type SippStats } from './lib/sip-load.ts';
import type { SipServerSample, SipServerSettings } from './servers/sip-server.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');
const log = (line: string) => process.stderr.write(`[bench:sip] ${line}\n`);

const RATES = (process.env.BENCH_SIP_RATES || '25,50,75,100,150,200,300,400,500').split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 5000) throw new Error(`BENCH_SIP_RATES: '${s}' is not a rate`);
  return n;
});
const STEP_SEC = intEnv('BENCH_SIP_STEP_SEC', 15, 3, 60);
const HOLD_MS = intEnv('BENCH_SIP_HOLD_MS', 1000, 0, 10_000);
const CONCURRENT = intEnv('BENCH_SIP_CONCURRENT', 250, 1, 2000);
const MEDIA_RATE = intEnv('BENCH_SIP_MEDIA_RATE', 25, 1, 500);
const MEDIA_HOLD_SEC = intEnv('BENCH_SIP_MEDIA_HOLD_SEC', 30, 10, 300);
const EMPLOYEES = intEnv('BENCH_SIP_EMPLOYEES', 800, 1, 5000);
const PARTS = new Set((process.env.BENCH_SIP_PARTS || 'dzvin,kamailio').split(','));
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : null;
const TARGET = { cps: 300, concurrent: 200, rtpLossPct: 1, lagP99Ms: 20 };
const DOMAIN = 'sip.bench.localhost';
const PASSWORD = 'bench-sip-secret';
/** The DIDs: one per group of GROUP_SIZE employees, from FIRST_DID on. */
const FIRST_DID = 380441230000;
const GROUP_SIZE = intEnv('BENCH_SIP_GROUP_SIZE', 25, 1, 5000);
const didsCsv = () =>
  `SEQUENTIAL\n${Array.from({ length: Math.ceil(EMPLOYEES / GROUP_SIZE) }, (_, g) => `${FIRST_DID + g};`).join('\n')}\n`;
/**
 * dzvin.cfg's pike bans a source sending more than PIKE_DENSITY requests per PIKE_UNIT s: the
 * carrier here is one address at hundreds of calls/s, as a real carrier's edge is, so the bench
 * raises it (a carrier's address would be trusted the same way in production). Keep-alive
 * OPTIONS to the SIPp phones are spaced out of the run (SIPp would count them as calls).
 */
const KAM_DEFINES = { PIKE_DENSITY: 1_000_000, NATPING_INTERVAL: 3600, KEEPALIVE_TIMEOUT: 7200 };
const WATCHDOG_MS = 25 * 60_000;

guardProcess(WATCHDOG_MS);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mean = (xs: number[]) => (xs.length ? round(xs.reduce((a, x) => a + x, 0) / xs.length, 1) : 0);

interface Step {
  rate: number;
  seconds: number;
  placed: number;
  successful: number;
  failed: number;
  setup_ms_mean: number | null;
  sipp_exit: number | null;
  /** Dzvin's figures over the step (null for Kamailio alone). */
  lag_p99_ms: number | null;
  lag_max_ms: number | null;
  server_cpu_pct: number | null;
  /** The main thread's CPU time over the step (arrivals and the calls' end) per completed call, ms. */
  main_cpu_ms_per_call: number | null;
  /** Mean per second over the step: the main thread runnable but waiting for a CPU (ms, schedstat). */
  main_wait_ms_per_s: number | null;
  rss_max_mb: number | null;
  loadavg: number;
  first_error: string | null;
  /** Datagrams dropped on Dzvin's sockets (SIP, NG, RTP) over the step (null for Kamailio alone). */
  dzvin_udp_drops: number | null;
  /** The longest NG reply time (moving average) Dzvin saw over the step, sampled once a second. */
  ng_latency_max_ms: number | null;
  /**
   * CPU ms per completed call, by program, over the step and until its calls ended (/proc: every
   * process's threads): dzvin, kamailio, rtpengine, sipp (carrier and phones), bench (this
   * process), other (the rest of the machine: other users of a shared machine, the kernel's
   * threads); machine = their sum. Null off Linux.
   */
  cpu_ms_per_call: Record<string, number> | null;
  /** The machine's busy share of all its cores over the same window, %. */
  machine_busy_pct: number | null;
}

/** Which bench part a process is, for the CPU census of a step. */
const cpuPart = (dzvinPid: number | undefined) => (pid: number, comm: string) =>
  pid === dzvinPid
    ? 'dzvin'
    : pid === process.pid
      ? 'bench'
      : comm === 'kamailio' || comm === 'rtpengine' || comm === 'sipp'
        ? comm
        : null;

const CPU_PARTS = ['dzvin', 'kamailio', 'rtpengine', 'sipp', 'bench', 'other'];

function perCall(w: CpuWindow | undefined, calls: number): Record<string, number> | null {
  if (!w || !calls) return null;
  const out: Record<string, number> = {};
  for (const k of CPU_PARTS) out[k] = round(((w.parts[k] ?? 0) * 1000) / calls, 2);
  out.machine = round((w.machine_busy_sec * 1000) / calls, 2);
  return out;
}

/** Runs rising carrier steps against Kamailio's phone port until one fails. */
async function rateSteps(
  label: string,
  sipPort: number,
  samples: SipServerSample[] | null,
  idle: () => Promise<void>,
  dzvinPid?: number,
): Promise<Step[]> {
  const steps: Step[] = [];
  for (const rate of RATES) {
    const from = samples?.length ?? 0;
    const drops0 = udpDropsOf(dzvinPid);
    const cpu = startCpuWindow(cpuPart(dzvinPid));
    const run = runSipp({
      name: `${label}-${rate}`,
      xml: carrierXml(HOLD_MS, null),
      args: [
        `127.0.0.1:${sipPort}`,
        '-inf',
        'dids.csv',
        '-p',
        String(await freeUdpPort()),
        '-r',
        String(rate),
        '-m',
        String(rate * STEP_SEC),
        '-timeout',
        `${STEP_SEC + 40}s`,
        '-timeout_error',
        '-max_socket',
        '4096',
      ],
      killAfterMs: (STEP_SEC + 60) * 1000,
      files: { 'dids.csv': didsCsv() },
    });
    const r = await run.done;
    const cpuWindow = cpu?.stop();
    if (process.env.BENCH_CPU_DEBUG) log(JSON.stringify(cpuWindow));
    const drops1 = udpDropsOf(dzvinPid);
    const window = samples ? samples.slice(from) : [];
    const s: SippStats = r.stats ?? { created: 0, successful: 0, failed: 0, setup_ms_mean: null };
    const step: Step = {
      rate,
      seconds: STEP_SEC,
      placed: s.created,
      successful: s.successful,
      failed: s.failed + Math.max(0, rate * STEP_SEC - s.created),
      setup_ms_mean: s.setup_ms_mean === null ? null : round(s.setup_ms_mean, 2),
      sipp_exit: r.code,
      lag_p99_ms: window.length ? Math.max(...window.map((w) => w.lag_p99_ms)) : null,
      lag_max_ms: window.length ? Math.max(...window.map((w) => w.lag_max_ms)) : null,
      server_cpu_pct: window.length
        ? Math.round(window.reduce((a, w) => a + w.cpu_pct, 0) / window.length)
        : null,
      main_cpu_ms_per_call:
        window.length && s.successful
          ? round(window.reduce((a, w) => a + (w.main_cpu_ms ?? 0), 0) / s.successful, 2)
          : null,
      main_wait_ms_per_s: window.length ? mean(window.map((w) => w.main_wait_ms ?? 0)) : null,
      rss_max_mb: window.length ? Math.max(...window.map((w) => w.rss_mb)) : null,
      loadavg: loadavg1(),
      dzvin_udp_drops: drops0 === null || drops1 === null ? null : drops1 - drops0,
      ng_latency_max_ms: window.length ? Math.max(...window.map((w) => w.ng_latency_ms ?? 0)) : null,
      cpu_ms_per_call: perCall(cpuWindow, s.successful),
      machine_busy_pct: cpuWindow
        ? Math.round((100 * cpuWindow.machine_busy_sec) / cpuWindow.capacity_sec)
        : null,
      first_error:
        r.code === 0
          ? null
          : (/[^\n]*(?:Aborting|Dead call|failed)[^\n]*/.exec(
              r.output.slice(Math.max(0, r.output.indexOf('_errors.log:'))),
            )?.[0] ?? r.output.slice(-300)),
    };
    steps.push(step);
    log(
      `${label} ${rate} calls/s × ${STEP_SEC} s: ${step.successful} ok, ${step.failed} failed, setup mean ${step.setup_ms_mean} ms` +
        (step.lag_p99_ms === null
          ? ''
          : `, Dzvin lag p99 (worst second) ${step.lag_p99_ms} ms, CPU ${step.server_cpu_pct}%, main thread ${step.main_cpu_ms_per_call} ms/call (waited for a CPU ${step.main_wait_ms_per_s} ms/s), ${step.dzvin_udp_drops ?? '–'} datagrams dropped on its sockets, NG replies ≤ ${step.ng_latency_max_ms} ms`) +
        `, load ${step.loadavg}`,
    );
    if (step.cpu_ms_per_call)
      log(
        `  CPU ms per call: ${Object.entries(step.cpu_ms_per_call)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; machine ${step.machine_busy_pct}% busy`,
      );
    if (step.first_error) log(`  ${step.first_error.slice(0, 400)}`);
    await idle();
    // One failed call ends the zero-fail search, but a lone failure on a shared machine (Kamailio
    // alone has them too) says little about the ceiling: rising goes on until 1% fail.
    if (step.failed > 0.01 * rate * STEP_SEC || (r.code !== 0 && r.code !== 1)) break;
  }
  return steps;
}

/** The highest rate of the rising steps at which at most `share` of the calls failed, all lower ones too. */
const ceiling = (steps: Step[], share: number) => {
  let best = 0;
  for (const s of steps) {
    if (s.failed > share * s.rate * s.seconds) break;
    best = s.rate;
  }
  return best;
};
const zeroFail = (steps: Step[]) => ceiling(steps, 0);

// ---------------------------------------------------------------------------------------------
// rtpengine's counters: packets it received from each endpoint of each call.

interface RtpCounts {
  carrier: number;
  phone: number;
  /** From Dzvin towards the phone (the carrier's audio relayed) and towards the carrier (the echo). */
  dzvin_to_phone: number;
  dzvin_to_carrier: number;
  /** Calls (bench calls: one rtpengine call per leg) whose four ends all sent since the last snapshot. */
  calls: number;
  /** rtpengine calls (one per SIP leg) seen in both snapshots: the carrier's legs, the phones' legs. */
  carrier_legs: number;
  phone_legs: number;
  unclassified: number;
}

type Bdict = Record<string, unknown>;
const str = (v: unknown) =>
  Buffer.isBuffer(v) ? v.toString('latin1') : typeof v === 'string' ? v : String(v ?? '');

/** Per rtpengine call-id: packets received from each tag (RTP streams only), by tag name. */
async function rtpSnapshot(
  ng: ReturnType<Awaited<ReturnType<typeof startRtpengine>>['client']>,
  phonePort: number,
) {
  const list = (await ng.request('list', { limit: 10_000 })) as Bdict;
  const ids = ((list.calls as unknown[]) ?? []).map(str);
  const out = new Map<string, { kind: string; packets: number }[]>();
  let sampleDump: unknown = null;
  // 64 queries at a time: all of them at once (500) overflowed rtpengine's NG socket (and the
  // bench's) in the middle of the plateau being measured, and 16 at a time took long enough
  // (a second or two) for the two legs of one call to be read that far apart — each leg is an
  // rtpengine call of its own, so the hop figures then compare windows that do not match.
  const queue = [...ids];
  const each = async (fn: (id: string) => Promise<void>) => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) await fn(id);
  };
  const one = async (id: string) => {
    // A call that ended between `list` and `query` is simply not counted.
    const q = (await ng.request('query', { 'call-id': id }).catch(() => null)) as Bdict | null;
    if (!q) return;
    sampleDump ??= q;
    const tags = (q.tags ?? {}) as Record<string, Bdict>;
    const ends: { kind: string; packets: number }[] = [];
    for (const [name, tag] of Object.entries(tags)) {
      let packets = 0;
      let port = 0;
      for (const media of (tag.medias as Bdict[]) ?? [])
        for (const stream of (media.streams as Bdict[]) ?? []) {
          const flags = ((stream.flags as unknown[]) ?? []).map(str);
          if (flags.includes('RTCP')) continue;
          packets += Number(((stream.stats as Bdict) ?? {}).packets ?? 0);
          port ||= Number(((stream.endpoint as Bdict) ?? {}).port ?? 0);
        }
      const kind = name.includes('SIPpTag00')
        ? 'carrier'
        : name.includes('SIPpTag01') || port === phonePort
          ? 'phone'
          : 'dzvin';
      ends.push({ kind, packets });
    }
    out.set(id, ends);
  };
  await Promise.all(Array.from({ length: 64 }, () => each(one)));
  return { calls: out, sampleDump };
}

/** The kernel's count of UDP datagrams dropped for a full receive buffer (every socket of the machine). */
function udpRcvbufErrors(): number | null {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Udp:'));
    const [head, values] = [lines[0].split(/\s+/), lines[1].split(/\s+/)];
    return Number(values[head.indexOf('RcvbufErrors')]);
  } catch {
    return null;
  }
}

/**
 * Datagrams the kernel dropped on the UDP sockets `pid` holds now (/proc/net/udp's `drops`,
 * counted per socket since it opened): a socket closed in between takes its count with it.
 */
function udpDropsOf(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {}
    }
    let drops = 0;
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 12 && inodes.has(f[9])) drops += Number(f[f.length - 1]);
    }
    return drops;
  } catch {
    return null;
  }
}

function rtpDelta(
  a: Map<string, { kind: string; packets: number }[]>,
  b: Map<string, { kind: string; packets: number }[]>,
): RtpCounts {
  const c: RtpCounts = {
    carrier: 0,
    phone: 0,
    dzvin_to_phone: 0,
    dzvin_to_carrier: 0,
    calls: 0,
    carrier_legs: 0,
    phone_legs: 0,
    unclassified: 0,
  };
  for (const [id, ends] of b) {
    const before = a.get(id);
    if (!before || before.length !== ends.length) continue;
    const kinds = ends
      .map((e) => e.kind)
      .sort()
      .join(',');
    const d = ends.map((e, i) => ({ kind: e.kind, n: e.packets - before[i].packets }));
    if (kinds === 'carrier,dzvin') {
      c.carrier_legs++;
      c.carrier += d.find((e) => e.kind === 'carrier')!.n;
      c.dzvin_to_carrier += d.find((e) => e.kind === 'dzvin')!.n;
      if (d.every((e) => e.n > 0)) c.calls += 0.5;
    } else if (kinds === 'dzvin,phone') {
      c.phone_legs++;
      c.phone += d.find((e) => e.kind === 'phone')!.n;
      c.dzvin_to_phone += d.find((e) => e.kind === 'dzvin')!.n;
      if (d.every((e) => e.n > 0)) c.calls += 0.5;
    } else c.unclassified++;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Dzvin's part

interface DzvinReport {
  employees: number;
  registered: number;
  register_sec: number;
  steps: Step[];
  cps_zero_fail: number;
  media: {
    calls_opened: number;
    successful: number;
    failed: number;
    /** Calls whose two legs carried RTP both ways between the two snapshots. */
    concurrent_with_media: number;
    window_sec: number;
    rtp: RtpCounts;
    /** Round trip carrier → Dzvin → phone → Dzvin → (rtpengine) carrier; and each hop. */
    rtp_loss_pct: number;
    round_trip_loss_pct: number;
    hop_loss_pct: {
      carrier_to_dzvin_to_phone: number;
      phone_echo: number;
      phone_to_dzvin_to_carrier: number;
    };
    /** The kernel's UDP receive-buffer overflows on the whole machine over the same window (/proc/net/snmp). */
    udp_rcvbuf_errors: number | null;
    /** Of those, on Dzvin's own sockets (SIP, NG, RTP) and on rtpengine's; the rest are SIPp's and the bench's. */
    udp_drops_dzvin: number | null;
    udp_drops_rtpengine: number | null;
    rtp_pps_through_dzvin: number;
    lag_p99_ms: number;
    lag_max_ms: number;
    /**
     * Dzvin's main thread on the plateau, per second (mean): time it ran, and time it was
     * runnable but waited for a CPU (/proc schedstat) — the part of the lag that is the machine's
     * other work (SIPp, rtpengine, the media worker), not the event loop's own.
     */
    main_run_ms_per_s: number;
    main_wait_ms_per_s: number;
    rss_max_mb: number;
    server_cpu_pct: number;
    loadavg: number;
  } | null;
  calls_placed: number;
  calls_successful: number;
  history_company_rows: number;
  /** INVITEs the B2BUA answered 503 before routing (overload: queueing delay, rtpengine): no history row. */
  refused_before_routing?: number;
  history_by_disposition: Record<string, number>;
  webhooks: { requests: number; by_event: Record<string, number>; hangup_calls: number; settle_sec: number };
  samples: SipServerSample[];
  logged_errors: number;
  first_logged_errors: string[];
  /** Dzvin's warnings and errors by kind (level, message, the error's message with its numbers as #), most first. */
  logged_by_kind: Record<string, number>;
  cpu_profile_top: { fn: string; self_pct: number }[] | null;
}

async function dzvinPart(tone: string): Promise<DzvinReport> {
  const crm = await startCrmReceiver('/events');
  // 8 ports a call (two legs, each RTP + RTCP on both sides): 6000 ran out ("Ran out of ports")
  // when a step fell behind and calls waited seconds for their answer, and took the media part
  // after it with them; 16000 is 2,000 calls (somewhere in 10000-31999: the phones' SIPp echoes below).
  const rtp = await startRtpengine({ ports: 16_000, logLevel: 3 });
  const b2buaPort = await freePort();
  const kam = await startKamailio({ b2buaPort, defines: KAM_DEFINES });
  const dir = mkdtempSync(join(os.tmpdir(), 'dzvin-bench-sip-'));
  const samples: SipServerSample[] = [];
  let loggedErrors = 0;
  const firstErrors: string[] = [];
  const byKind = new Map<string, number>();
  const settings: SipServerSettings = {
    dir,
    b2buaPort,
    edgePort: kam.edgePort,
    ngPort: rtp.ngPort,
    rpcUrl: kam.rpcUrl,
    employees: EMPLOYEES,
    firstDid: FIRST_DID,
    groupSize: GROUP_SIZE,
    eventsUrl: crm.url,
    domain: DOMAIN,
    password: PASSWORD,
  };
  const child: Child = spawnChild(
    join(ROOT, 'bench', 'servers', 'sip-server.ts'),
    [JSON.stringify(settings)],
    {
      cwd: ROOT,
      nodeFlags: [
        ...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []),
        ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      ],
      onStdout: (line) => {
        loggedErrors++;
        if (firstErrors.length < 3) firstErrors.push(line.slice(0, 1500));
        const k = logKind(line);
        byKind.set(k, (byKind.get(k) ?? 0) + 1);
      },
    },
  );
  child.child.on('message', (m: { type?: string; sample?: SipServerSample; error?: string }) => {
    if (m?.type === 'sample' && m.sample) samples.push(m.sample);
    if (m?.type === 'error') log(`server: ${m.error}`);
  });
  const ask = async <T>(type: string): Promise<T> => {
    const reply = nextMessage(child, (m): m is T => (m as { type?: string })?.type === type, 60_000, type);
    child.child.send({ type });
    return reply;
  };
  let phone: ReturnType<typeof runSipp> | null = null;
  const ng = rtp.client({ timeoutMs: 5000 });
  try {
    log(
      `building the office: ${EMPLOYEES} employees with SIP passwords, round-robin groups of ${GROUP_SIZE}, one DID each from +${FIRST_DID}`,
    );
    await nextMessage(
      child,
      (m): m is { type: 'ready' } => (m as { type?: string })?.type === 'ready',
      600_000,
      'the office',
    );

    // Every employee registers with digest from one SIPp port: that SIPp then answers all their calls.
    const phonePort = await freeUdpPort();
    // Below rtpengine's range (10000 and up) and SIPp's rtp_stream ports (min_rtp_port 8000),
    // above the carrier's media port (SIPp's 6000).
    const phoneMedia = 7_000 + 2 * Math.floor(Math.random() * 400);
    const t0 = performance.now();
    await registerPhones({
      port: phonePort,
      kamailio: kam.sipPort,
      domain: DOMAIN,
      exts: Array.from({ length: EMPLOYEES }, (_, k) => String(1000 + k)),
      password: PASSWORD,
      expires: 3600,
    });
    let registered = 0;
    for (let k = 0; k < 60 && registered < EMPLOYEES; k++) {
      registered = (await ask<{ n: number }>('registered')).n;
      if (registered < EMPLOYEES) await sleep(1000);
    }
    const registerSec = round((performance.now() - t0) / 1000, 1);
    log(`${registered} of ${EMPLOYEES} phones registered (Dzvin's view) in ${registerSec} s`);
    if (registered < EMPLOYEES) throw new Error('not every phone registered');
    phone = runSipp({
      name: 'phones',
      xml: answerXml,
      args: [
        '-p',
        String(phonePort),
        '-mp',
        String(phoneMedia),
        '-rtp_echo',
        // One socket echoes every call's RTP (12,500 packets/s at 250 calls): the default
        // 212992-byte buffer dropped some whenever SIPp's echo thread lost the CPU for a moment.
        '-rtp_buffsize',
        '4194304',
        '-aa',
        '-timeout',
        '1200s',
        '-max_socket',
        '4096',
      ],
      killAfterMs: WATCHDOG_MS,
    });
    await sleep(500);

    const idle = async () => {
      for (let k = 0; k < 60; k++) {
        const c = await ask<{ active: number }>('counts');
        if (c.active === 0) return;
        await sleep(500);
      }
      log('  calls still active 30 s after the step');
    };
    // The main thread's CPU with phones registered and no call: what a step's per-call figure includes.
    await sleep(3000);
    const idleWindow = samples.slice(-3);
    log(
      `idle main thread: ${round(idleWindow.reduce((a, w) => a + w.main_cpu_ms, 0) / Math.max(1, idleWindow.length), 1)} ms of CPU per second`,
    );
    const steps = await rateSteps('dzvin', kam.sipPort, samples, idle, child.child.pid);

    // Calls held together with media both ways.
    log(
      `media: ${CONCURRENT} calls at ${MEDIA_RATE}/s, each held ${MEDIA_HOLD_SEC} s, tone from the carrier echoed by the phone`,
    );
    const ramp = CONCURRENT / MEDIA_RATE;
    const holdMs = Math.round((ramp + MEDIA_HOLD_SEC) * 1000);
    const from = samples.length;
    const media = runSipp({
      name: 'media',
      xml: carrierXml(holdMs, tone),
      args: [
        `127.0.0.1:${kam.sipPort}`,
        '-inf',
        'dids.csv',
        '-p',
        String(await freeUdpPort()),
        '-r',
        String(MEDIA_RATE),
        '-m',
        String(CONCURRENT),
        '-timeout',
        `${Math.ceil(ramp + MEDIA_HOLD_SEC + 60)}s`,
        '-timeout_error',
        '-max_socket',
        '4096',
        '-rtp_buffsize',
        '1048576',
      ],
      killAfterMs: (ramp + MEDIA_HOLD_SEC + 90) * 1000,
      files: { 'dids.csv': didsCsv() },
    });
    // The plateau: from 3 s after the last call opened to 3 s before the first one ends.
    await sleep((ramp + 3) * 1000);
    const windowStart = samples.length;
    const drops0 = udpRcvbufErrors();
    const dzvinDrops0 = udpDropsOf(child.child.pid);
    const rtpDrops0 = udpDropsOf(rtp.pid);
    const tA = performance.now();
    const snapA = await rtpSnapshot(ng, phoneMedia);
    const t1 = performance.now();
    log(`  rtpengine snapshot A: ${snapA.calls.size} calls read in ${Math.round(t1 - tA)} ms`);
    await sleep(Math.max(4, MEDIA_HOLD_SEC - 8) * 1000);
    const tB = performance.now();
    const snapB = await rtpSnapshot(ng, phoneMedia);
    log(`  rtpengine snapshot B: ${snapB.calls.size} calls read in ${Math.round(performance.now() - tB)} ms`);
    const drops1 = udpRcvbufErrors();
    const dzvinDrops1 = udpDropsOf(child.child.pid);
    const rtpDrops1 = udpDropsOf(rtp.pid);
    const windowSec = (performance.now() - t1) / 1000;
    const windowSamples = samples.slice(windowStart);
    const m = await media.done;
    const rtpc = rtpDelta(snapA.calls, snapB.calls);
    if (rtpc.unclassified)
      log(
        `  ${rtpc.unclassified} rtpengine calls not classified; one query: ${JSON.stringify(snapA.sampleDump, (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('latin1') : v)).slice(0, 1500)}`,
      );
    const pct = (lost: number, of: number) => (of > 0 ? round((100 * lost) / of, 3) : 100);
    const mediaReport: NonNullable<DzvinReport['media']> = {
      calls_opened: m.stats?.created ?? 0,
      successful: m.stats?.successful ?? 0,
      failed: (m.stats?.failed ?? 0) + Math.max(0, CONCURRENT - (m.stats?.created ?? 0)),
      concurrent_with_media: Math.floor(rtpc.calls),
      window_sec: round(windowSec, 1),
      rtp: rtpc,
      // The worse of the round trip and the way in (carrier → Dzvin → phone, packets only the
      // carrier made): Dzvin's packets towards the carrier are not all echoes (see the notes).
      rtp_loss_pct: Math.max(
        pct(rtpc.carrier - rtpc.dzvin_to_carrier, rtpc.carrier),
        pct(rtpc.carrier - rtpc.dzvin_to_phone, rtpc.carrier),
      ),
      round_trip_loss_pct: pct(rtpc.carrier - rtpc.dzvin_to_carrier, rtpc.carrier),
      hop_loss_pct: {
        carrier_to_dzvin_to_phone: pct(rtpc.carrier - rtpc.dzvin_to_phone, rtpc.carrier),
        phone_echo: pct(rtpc.dzvin_to_phone - rtpc.phone, rtpc.dzvin_to_phone),
        phone_to_dzvin_to_carrier: pct(rtpc.phone - rtpc.dzvin_to_carrier, rtpc.phone),
      },
      udp_rcvbuf_errors: drops0 === null || drops1 === null ? null : drops1 - drops0,
      udp_drops_dzvin: dzvinDrops0 === null || dzvinDrops1 === null ? null : dzvinDrops1 - dzvinDrops0,
      udp_drops_rtpengine: rtpDrops0 === null || rtpDrops1 === null ? null : rtpDrops1 - rtpDrops0,
      rtp_pps_through_dzvin: Math.round((rtpc.dzvin_to_phone + rtpc.dzvin_to_carrier) / windowSec),
      lag_p99_ms: 0,
      lag_max_ms: 0,
      main_run_ms_per_s: mean(windowSamples.map((s) => s.main_cpu_ms)),
      main_wait_ms_per_s: mean(windowSamples.map((s) => s.main_wait_ms ?? 0)),
      rss_max_mb: Math.max(0, ...samples.slice(from).map((s) => s.rss_mb)),
      server_cpu_pct: 0,
      loadavg: loadavg1(),
    };
    // Lag p99 on the plateau: the worst per-second p99 (conservative; the histograms are per second).
    mediaReport.lag_p99_ms = Math.max(0, ...windowSamples.map((s) => s.lag_p99_ms));
    mediaReport.lag_max_ms = Math.max(0, ...windowSamples.map((s) => s.lag_max_ms));
    mediaReport.server_cpu_pct = windowSamples.length
      ? Math.round(windowSamples.reduce((a, s) => a + s.cpu_pct, 0) / windowSamples.length)
      : 0;
    log(
      `media: ${mediaReport.successful} of ${CONCURRENT} calls ok (${mediaReport.failed} failed); ${mediaReport.concurrent_with_media} held at once with RTP both ways over ${mediaReport.window_sec} s; ` +
        `loss ${mediaReport.rtp_loss_pct}% (hops ${JSON.stringify(mediaReport.hop_loss_pct)}), ${mediaReport.rtp_pps_through_dzvin} packets/s out of Dzvin; ` +
        `lag p99 ${mediaReport.lag_p99_ms} ms (max ${mediaReport.lag_max_ms}; main thread ran ${mediaReport.main_run_ms_per_s} ms/s, waited for a CPU ${mediaReport.main_wait_ms_per_s} ms/s), RSS ${mediaReport.rss_max_mb} MB, CPU ${mediaReport.server_cpu_pct}%`,
    );
    if (m.code !== 0) log(`  media SIPp: ${m.output.slice(-600)}`);
    await idle();

    phone.stop();
    await Promise.race([phone.done, sleep(10_000)]);

    // History and webhooks settle: the outbox delivers after the calls end.
    const placed = steps.reduce((a, s) => a + s.placed, 0) + mediaReport.calls_opened;
    const successful = steps.reduce((a, s) => a + s.successful, 0) + mediaReport.successful;
    // A company call's events carry no parentUuid; an employee leg's name the call.
    const hangups = () =>
      new Set(
        crm.requests
          .filter((r) => r.json?.event === 'call.hangup' && !r.json?.parentUuid)
          .map((r) => r.json.uuid),
      ).size;
    const t2 = performance.now();
    let counts = await ask<{ company: number; refused: number; byDisposition: Record<string, number> }>(
      'counts',
    );
    // Refused before routing (503 for overload): no history row is due for those.
    for (
      let k = 0;
      k < 120 && (hangups() < counts.company || counts.company + counts.refused < placed);
      k++
    ) {
      await sleep(500);
      counts = await ask('counts');
    }
    const byEvent: Record<string, number> = {};
    for (const r of crm.requests) byEvent[String(r.json?.event)] = (byEvent[String(r.json?.event)] ?? 0) + 1;
    const webhooks = {
      requests: crm.requests.length,
      by_event: byEvent,
      hangup_calls: hangups(),
      settle_sec: round((performance.now() - t2) / 1000, 1),
    };
    log(
      `history: ${counts.company} company rows for ${placed} calls placed (${successful} completed, ${counts.refused} refused 503 before routing); webhooks ${webhooks.requests} (${JSON.stringify(byEvent)}), ${webhooks.hangup_calls} calls with call.hangup`,
    );
    for (const [k2, n] of [...byKind].sort((a, b) => b[1] - a[1]).slice(0, 8))
      log(`  Dzvin logged ${n} × ${k2}`);
    child.child.send({ type: 'exit' });
    await Promise.race([child.exited, sleep(30_000)]);
    if (process.env.BENCH_SQL_CENSUS) {
      const rows = JSON.parse(readFileSync(process.env.BENCH_SQL_CENSUS, 'utf8')) as [
        string,
        { n: number; ns: number },
      ][];
      const calls = Math.max(1, successful);
      const all = rows.reduce((a, [, c]) => ({ n: a.n + c.n, ns: a.ns + c.ns }), { n: 0, ns: 0 });
      log(
        `SQLite census (whole run, ${calls} completed calls): ${round(all.n / calls, 1)} statements and ${round(all.ns / 1e3 / calls)} µs per call; the costliest:`,
      );
      for (const [text, c] of rows.slice(0, 12))
        log(
          `  ${round(c.n / calls, 2)}/call × ${round(c.ns / 1e3 / c.n)} µs  ${text.replace(/\s+/g, ' ').trim().slice(0, 140)}`,
        );
    }
    const top = CPU_PROF_DIR ? profileTop(CPU_PROF_DIR) : null;
    if (top) {
      log('Dzvin CPU profile, self time as a share of its busy time (whole run):');
      for (const f of top.slice(0, 15)) log(`  ${f.self_pct.toString().padStart(5)}%  ${f.fn}`);
    }
    return {
      employees: EMPLOYEES,
      registered,
      register_sec: registerSec,
      steps,
      cps_zero_fail: zeroFail(steps),
      media: mediaReport,
      calls_placed: placed,
      calls_successful: successful,
      history_company_rows: counts.company,
      refused_before_routing: counts.refused,
      history_by_disposition: counts.byDisposition,
      webhooks,
      samples,
      logged_errors: loggedErrors,
      first_logged_errors: firstErrors,
      logged_by_kind: Object.fromEntries([...byKind].sort((a, b) => b[1] - a[1])),
      cpu_profile_top: top,
    };
  } finally {
    phone?.stop();
    await ng.close();
    await child.stop(10_000);
    await kam.stop();
    await rtp.stop();
    await crm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What kind of line Dzvin logged (pino JSON: level, msg, err.message), its numbers as #. */
function logKind(line: string): string {
  try {
    const j = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
    const level =
      j.level === 40 ? 'warn' : j.level === 50 ? 'error' : j.level === 60 ? 'fatal' : String(j.level);
    return `${level}: ${j.msg ?? ''}${j.err?.message ? ` — ${j.err.message}` : ''}`
      .replace(/\d+/g, '#')
      .slice(0, 200);
  } catch {
    return line.replace(/\d+/g, '#').slice(0, 200);
  }
}

/** The functions with the most self time in the main thread's profile in `dir`, as shares of its busy time. */
function profileTop(dir: string): { fn: string; self_pct: number }[] {
  // Worker threads write profiles too: the main thread's ends .0.001.
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.0.001.cpuprofile'))
    .sort();
  if (!files.length) return [];
  const p = JSON.parse(readFileSync(join(dir, files[files.length - 1]), 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let busy = 0;
  for (const id of p.samples) {
    const n = byId.get(id)!;
    // Shares of the time the thread was busy: idle time says nothing about the cost of a call.
    if (n.callFrame.functionName === '(idle)') continue;
    busy++;
    const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
    .map(([fn, n]) => ({ fn, self_pct: round((100 * n) / Math.max(1, busy), 1) }));
}

// ---------------------------------------------------------------------------------------------
// Kamailio alone: the same config, its B2BUA a SIPp that answers at once.

async function kamailioPart(): Promise<{ steps: Step[]; cps_zero_fail: number }> {
  const uasPort = await freeUdpPort();
  const kam = await startKamailio({ b2buaPort: uasPort, defines: KAM_DEFINES });
  const uas = runSipp({
    name: 'kamailio-uas',
    xml: answerXml,
    args: [
      '-p',
      String(uasPort),
      '-mp',
      String(20_000 + 2 * Math.floor(Math.random() * 2000)),
      '-aa',
      '-timeout',
      '900s',
      '-max_socket',
      '4096',
    ],
    killAfterMs: WATCHDOG_MS,
  });
  try {
    await sleep(500);
    const steps = await rateSteps('kamailio alone', kam.sipPort, null, async () => {
      await sleep(HOLD_MS + 2000);
    });
    return { steps, cps_zero_fail: zeroFail(steps) };
  } finally {
    uas.stop();
    await Promise.race([uas.done, sleep(10_000)]);
    await kam.stop();
  }
}

// ---------------------------------------------------------------------------------------------

function markdown(r: Report): string {
  const d = r.dzvin;
  const k = r.kamailio;
  const m = d?.media;
  const S = r.summary as Record<string, number | null>;
  const yes = (ok: boolean) => (ok ? 'yes' : '**no**');
  const stepRows = (steps: Step[], withServer: boolean) =>
    steps.map(
      (s) =>
        `| ${s.rate} | ${s.placed} | ${s.successful} | ${s.failed} | ${s.setup_ms_mean ?? '–'} |${withServer ? ` ${s.lag_p99_ms ?? '–'} | ${s.lag_max_ms ?? '–'} | ${s.server_cpu_pct ?? '–'}% | ${s.main_cpu_ms_per_call ?? '–'} | ${s.dzvin_udp_drops ?? '–'} | ${s.rss_max_mb ?? '–'} |` : ''} ${s.loadavg} |`,
    );
  const cpuRows = (steps: Step[]) =>
    steps
      .filter((s) => s.cpu_ms_per_call)
      .map(
        (s) =>
          `| ${s.rate} | ${[...CPU_PARTS, 'machine'].map((k) => s.cpu_ms_per_call![k]).join(' | ')} | ${s.machine_busy_pct}% |`,
      );
  const cpuTable = (steps: Step[]) => [
    '',
    "CPU per completed call by program over each step (/proc: every process's threads, user + system; sampled every 200 ms, so the carrier SIPp's last 200 ms are missed), ms; \"other\" is every process not named (the kernel's threads; on a shared machine, other users too), \"machine\" the sum of all (/proc/stat's tick-sampled busy time reads bursty work short); the last column is that sum's share of all the cores. At N calls/s two cores give 2000 / N ms per call to all of them together.",
    '',
    '| calls/s | Dzvin | Kamailio | rtpengine | SIPp (carrier + phones) | bench | other | machine | machine busy |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...cpuRows(steps),
  ];
  const lines = [
    '# SIP benchmark',
    '',
    `Produced by \`npm run bench:sip\` (bench/sip.ts) on ${r.date}. Raw numbers: [sip.json](sip.json).`,
    '',
    `- Machine: ${r.machine.cpus}× ${r.machine.cpu_model}, ${r.machine.memory_gb} GB RAM, ${r.machine.os}, Node ${r.machine.node}; Kamailio, rtpengine (userspace, 2 threads), SIPp ${r.sipp_version}`,
    `- Shared machine: 1-minute load average ${r.loadavg_range[0]}–${r.loadavg_range[1]} during the run (other agents and a CI run share the 2 cores); SIPp, Kamailio, rtpengine and Dzvin all run on them too`,
    `- Total ${r.total_sec} s`,
    '',
    '| Figure | Value | Target | Met |',
    '|---|---:|---:|:---:|',
    `| \`cps_zero_fail\`: highest call rate with 0 failed calls (steps of ${STEP_SEC} s) | ${S.cps_zero_fail} calls/s | ≥ ${TARGET.cps} | ${yes((S.cps_zero_fail ?? 0) >= TARGET.cps)} |`,
    `| \`concurrent_with_media\`: calls held at once with RTP both ways | ${S.concurrent_with_media} | ≥ ${TARGET.concurrent} | ${yes((S.concurrent_with_media ?? 0) >= TARGET.concurrent)} |`,
    `| \`rtp_loss_pct\` (through Dzvin, on the plateau) | ${S.rtp_loss_pct}% | < ${TARGET.rtpLossPct}% | ${yes((S.rtp_loss_pct ?? 100) < TARGET.rtpLossPct)} |`,
    `| Dzvin event-loop lag p99 with those calls (worst second) | ${S.lag_p99_ms} ms | < ${TARGET.lagP99Ms} ms | ${yes((S.lag_p99_ms ?? 1e9) < TARGET.lagP99Ms)} |`,
    `| Dzvin RSS, highest during the media part | ${S.rss_mb} MB | – | – |`,
    `| \`cps_vs_kamailio\`: Dzvin's zero-fail rate / Kamailio alone's | ${S.cps_vs_kamailio ?? '–'} (${S.cps_zero_fail} / ${S.kamailio_cps_zero_fail}) | – | – |`,
    `| (also) highest rate with at most 1% failed, Dzvin / Kamailio alone (the last step run may be a limit of the steps, not of Kamailio) | ${S.cps_under_1pct_fail} / ${S.kamailio_cps_under_1pct_fail} calls/s | – | – |`,
    `| History: company rows + calls refused 503 before routing (overload) / calls placed | ${d?.history_company_rows} + ${d?.refused_before_routing ?? 0} / ${d?.calls_placed} | equal (the rest never reached Dzvin, or were lost) | ${yes(!!d && d.history_company_rows + (d.refused_before_routing ?? 0) === d.calls_placed)} |`,
    `| Webhooks: calls with \`call.hangup\` delivered / history rows | ${d?.webhooks.hangup_calls} / ${d?.history_company_rows} | equal (none lost) | ${yes(!!d && d.webhooks.hangup_calls === d.history_company_rows)} |`,
    '',
    '## What was measured',
    '',
    "The incoming path (a carrier's calls to trunks; registering trunks and calls out over a carrier are tested in sip-carrier, not measured here): a SIPp **carrier** (UAC) sends INVITEs for the DID of a trunk whose `sipPeers` allow 127.0.0.1 to Kamailio (`deploy/kamailio/dzvin.cfg`, unchanged) → Kamailio relays them to Dzvin's B2BUA (`X-Dzvin-Source`) → the B2BUA matches the trunk, the call core rings the next employee of that trunk's round-robin group (" +
      `${d?.employees} employees in groups of ${GROUP_SIZE}, one DID each, dialled in turn by the carrier) → the B2BUA INVITEs that employee's phone through Kamailio → a SIPp **phone** (UAS; all ${d?.employees} employees registered with digest from its port, \`phones: real\`) answers at once (200, no 180: see bench/lib/sip-load.ts). Both legs' media are anchored by rtpengine (offer/answer per leg); Dzvin relays RTP between the legs (media/media-joint.ts) in its media worker thread (media-worker.ts: the sockets, the relay, the recording's capture; the main thread only gets control events, the packet counts every 100 ms and the decoded audio in 50 ms batches). The carrier sends the BYE after the hold time. Dzvin runs in a child process on SQLite (bench/servers/sip-server.ts), with its default recording of every answered call, one CRM connection whose events go to a receiver on loopback.`,
    '',
    `Kamailio's config is the production one with two defines changed for a one-address load generator: \`PIKE_DENSITY\` raised (pike would ban 127.0.0.1 as a flood at these rates; a carrier's address is trusted the same way) and keep-alive OPTIONS moved out of the run (\`NATPING_INTERVAL\` 3600 s; SIPp would count them as calls); it runs with 128 MB of shared memory (\`-m\`, engine/sip/edge/daemons.ts: 32 MB ran out at ~200 calls/s).`,
    '',
    `Adapted from the issue: steps of ${STEP_SEC} s instead of 30 s (the whole run stays around 10 minutes on this shared 2-core machine); \`cps_zero_fail\` is the highest step with no failed call (and none below); the steps go on rising until more than 1% of a step's calls fail (a lone failure on a shared machine — Kamailio alone had one too — does not mark a ceiling). Call-rate steps carry signalling and offer/answer only (no RTP; each call held ${HOLD_MS} ms); media is measured separately with ${CONCURRENT} calls held together. A call fails when SIPp's scenario does not complete (no 200 within 10 s, an unexpected answer, a BYE unanswered).`,
    '',
    '## Call rate through Dzvin',
    '',
    "Main thread CPU: the main thread's own run time (/proc schedstat; the media worker, the recordings' writer, the registration poll's worker and SQLite's checkpointer excluded) over the step and until its calls ended, per completed call; it includes what the thread spends with no call (the registration changes it is sent, the outbox's safety net).",
    '',
    '| calls/s | placed | completed | failed | INVITE→200 mean ms | Dzvin lag p99 ms (worst second) | lag max ms | Dzvin CPU (100% = a core) | main thread CPU ms per call | datagrams dropped on Dzvin sockets | RSS MB | load |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...(d ? stepRows(d.steps, true) : []),
    ...(d ? cpuTable(d.steps) : []),
    '',
    '## Kamailio alone (same config, its B2BUA a SIPp answering at once)',
    '',
    '| calls/s | placed | completed | failed | INVITE→200 mean ms | load |',
    '|---:|---:|---:|---:|---:|---:|',
    ...(k ? stepRows(k.steps, false) : []),
    ...(k ? cpuTable(k.steps) : []),
    '',
    "Through Dzvin Kamailio works twice per call (the carrier's INVITE to the B2BUA, the B2BUA's INVITE to the phone): the ratio is what the B2BUA and that second leg cost together.",
    '',
    '## Calls held with media',
    '',
    m
      ? `${m.calls_opened} calls opened at ${MEDIA_RATE}/s, each held ${round(CONCURRENT / MEDIA_RATE + MEDIA_HOLD_SEC, 1)} s; the carrier plays a 400 Hz A-law tone (50 packets/s, SIPp rtp_stream), the phone echoes each packet (SIPp -rtp_echo). rtpengine's own counters (NG \`query\` of every call, packets received from each end, RTCP left out) were read twice on the plateau, ${m.window_sec} s apart; a call counts as held with media when its four ends (carrier, Dzvin ×2, phone) all sent in between.\n\n| | |\n|---|---:|\n| Calls completed / failed | ${m.successful} / ${m.failed} |\n| Held at once with RTP both ways | ${m.concurrent_with_media} |\n| Packets from the carrier / from Dzvin to the phone / from the phone / from Dzvin to the carrier | ${m.rtp.carrier} / ${m.rtp.dzvin_to_phone} / ${m.rtp.phone} / ${m.rtp.dzvin_to_carrier} |\n| Loss carrier → Dzvin → phone / phone's echo / phone → Dzvin → carrier | ${m.hop_loss_pct.carrier_to_dzvin_to_phone}% / ${m.hop_loss_pct.phone_echo}% / ${m.hop_loss_pct.phone_to_dzvin_to_carrier}% |\n| Round trip loss (carrier's packets / Dzvin's towards the carrier) | ${m.round_trip_loss_pct}% |\n| \`rtp_loss_pct\` (the worse of the round trip and carrier → Dzvin → phone) | ${m.rtp_loss_pct}% |\n| SIP legs in both snapshots: the carrier's / the phones' | ${m.rtp.carrier_legs} / ${m.rtp.phone_legs} |\n| UDP datagrams the kernel dropped for a full receive buffer, whole machine, same window | ${m.udp_rcvbuf_errors ?? '–'} |\n| … of them on Dzvin's sockets / on rtpengine's (the rest: SIPp's and the bench's; the carrier's SIPp reads none of the echo it is sent) | ${m.udp_drops_dzvin ?? '–'} / ${m.udp_drops_rtpengine ?? '–'} |\n| RTP packets/s Dzvin sent (relayed) | ${m.rtp_pps_through_dzvin} |\n| Dzvin lag p99 (worst second of the plateau) / max | ${m.lag_p99_ms} / ${m.lag_max_ms} ms |\n| Dzvin's main thread per second on the plateau: ran / runnable but waiting for a CPU (/proc schedstat; the wait is lag the machine's other work causes) | ${m.main_run_ms_per_s ?? '–'} / ${m.main_wait_ms_per_s ?? '–'} ms |\n| Dzvin CPU on the plateau | ${m.server_cpu_pct}% |\n| Dzvin RSS, highest | ${m.rss_max_mb} MB |`
      : '–',
    '',
    '## History and webhooks',
    '',
    d
      ? `${d.calls_placed} calls placed over the run (${d.calls_successful} completed by SIPp's count); ${d.history_company_rows} company rows in history (by disposition: ${Object.entries(
          d.history_by_disposition,
        )
          .map(([k2, n]) => `${k2}: ${n}`)
          .join(', ')}). The CRM receiver got ${d.webhooks.requests} requests (${Object.entries(
          d.webhooks.by_event,
        )
          .map(([k2, n]) => `${k2} ${n}`)
          .join(
            ', ',
          )}): ${d.webhooks.hangup_calls} distinct calls with \`call.hangup\`, waited for up to ${d.webhooks.settle_sec} s after the last call. Warnings and errors logged by Dzvin: ${d.logged_errors}.${
          Object.keys(d.logged_by_kind).length
            ? `\n\n${Object.entries(d.logged_by_kind)
                .slice(0, 8)
                .map(([k2, n]) => `- ${n} × \`${k2}\``)
                .join('\n')}`
            : ''
        }${d.first_logged_errors.length ? `\n\nFirst: \`${d.first_logged_errors[0].slice(0, 300)}\`` : ''}`
      : '–',
    '',
    ...(d?.cpu_profile_top?.length
      ? [
          "## Where Dzvin's CPU went (self time as a share of the main thread's busy time, whole run)",
          '',
          '| function | self % |',
          '|---|---:|',
          ...d.cpu_profile_top.map((f) => `| \`${f.fn}\` | ${f.self_pct} |`),
          '',
        ]
      : []),
    ...(r.notes.length ? ['## Notes', '', ...r.notes.map((n) => `- ${n}`), ''] : []),
  ];
  return lines.join('\n');
}

interface Report {
  date: string;
  machine: ReturnType<typeof machine>;
  sipp_version: string;
  targets: typeof TARGET;
  settings: Record<string, unknown>;
  dzvin: DzvinReport | null;
  kamailio: { steps: Step[]; cps_zero_fail: number } | null;
  loadavg_range: [number, number];
  total_sec: number;
  notes: string[];
  summary: Record<string, number | boolean | null>;
}

async function main() {
  const t0 = performance.now();
  const date = new Date().toISOString();
  const loads = [loadavg1()];
  const work = mkdtempSync(join(os.tmpdir(), 'dzvin-bench-sip-tone-'));
  const tone = join(work, 'tone.al');
  // 20 s of 400 Hz, raw A-law (SIPp's rtp_stream sends it as PT 8, 160 bytes per 20 ms, looped).
  execFileSync('sox', [
    '-n',
    '-r',
    '8000',
    '-c',
    '1',
    '-e',
    'a-law',
    '-t',
    'al',
    tone,
    'synth',
    '20',
    'sine',
    '400',
    'vol',
    '0.3',
  ]);
  const sippVersion = /v[\d.]+\S*/.exec(spawnSync(SIPP, ['-v']).stdout.toString())?.[0] ?? '?';
  log(
    `rates ${RATES.join(', ')} calls/s, ${STEP_SEC} s each; media ${CONCURRENT} calls; load average ${loads[0]}`,
  );
  try {
    const dzvin = PARTS.has('dzvin') ? await dzvinPart(tone) : null;
    loads.push(loadavg1());
    const kamailio = PARTS.has('kamailio') ? await kamailioPart() : null;
    loads.push(loadavg1());
    for (const s of [...(dzvin?.steps ?? []), ...(kamailio?.steps ?? [])]) loads.push(s.loadavg);
    for (const s of dzvin?.samples ?? []) loads.push(s.loadavg);
    const m = dzvin?.media;
    const summary: Report['summary'] = {
      cps_zero_fail: dzvin?.cps_zero_fail ?? null,
      concurrent_with_media: m?.concurrent_with_media ?? null,
      rtp_loss_pct: m?.rtp_loss_pct ?? null,
      lag_p99_ms: m?.lag_p99_ms ?? null,
      rss_mb: m?.rss_max_mb ?? null,
      cps_vs_kamailio:
        dzvin && kamailio && kamailio.cps_zero_fail > 0
          ? round(dzvin.cps_zero_fail / kamailio.cps_zero_fail, 3)
          : null,
      kamailio_cps_zero_fail: kamailio?.cps_zero_fail ?? null,
      cps_under_1pct_fail: dzvin ? ceiling(dzvin.steps, 0.01) : null,
      kamailio_cps_under_1pct_fail: kamailio ? ceiling(kamailio.steps, 0.01) : null,
      calls_placed: dzvin?.calls_placed ?? null,
      history_rows: dzvin?.history_company_rows ?? null,
      webhooks_hangup_calls: dzvin?.webhooks.hangup_calls ?? null,
      webhooks_lost: dzvin ? Math.max(0, dzvin.history_company_rows - dzvin.webhooks.hangup_calls) : null,
      targets_met:
        !!m &&
        (dzvin?.cps_zero_fail ?? 0) >= TARGET.cps &&
        m.concurrent_with_media >= TARGET.concurrent &&
        m.rtp_loss_pct < TARGET.rtpLossPct &&
        m.lag_p99_ms < TARGET.lagP99Ms,
    };
    const report: Report = {
      date,
      machine: machine(),
      sipp_version: sippVersion,
      targets: TARGET,
      settings: { RATES, STEP_SEC, HOLD_MS, CONCURRENT, MEDIA_RATE, MEDIA_HOLD_SEC, EMPLOYEES, KAM_DEFINES },
      dzvin,
      kamailio,
      loadavg_range: [Math.min(...loads), Math.max(...loads)],
      total_sec: round((performance.now() - t0) / 1000, 1),
      notes: (process.env.BENCH_SIP_NOTES ?? '').split('|').filter(Boolean),
      summary,
    };
    if (dzvin && kamailio) {
      mkdirSync(RESULTS, { recursive: true });
      const md = markdown(report);
      writeFileSync(join(RESULTS, 'sip.md'), `${md}\n`);
      writeFileSync(join(RESULTS, 'sip.json'), `${JSON.stringify(report, null, 2)}\n`);
      log('wrote bench/results/sip.md and sip.json');
      process.stdout.write(`${md}\n`);
    } else log('a partial run (BENCH_SIP_PARTS): results files left as they are');
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    log(`failed: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
