// The load and fault parts of the proof (issue 7): 2 Dzvin processes (bench/servers/proof-node.ts)
// over one throwaway PostgreSQL, one account (a small call centre) with a CRM connection whose
// events URL is a loopback receiver in this process (bench/lib/proof-receiver.ts), and the
// simulator's traffic generator started on both processes through the sim API.
//
// 1. Load: traffic at a fixed rate for a fixed time on both processes while autocannon reads the
//    REST API through both (a bounded rate), then calls end and the dispatchers drain.
// 2. Faults (the same processes and account, traffic running): SIGKILL a process at seeded random
//    moments and restart it (traffic restarted on it for the time left); stop PostgreSQL
//    (pg_ctl stop -m fast) for a while and start it again on the same data dir and port; the
//    receiver answering 503; the receiver hanging (it reads requests and never answers). One fault
//    at a time, with a gap after each to measure recovery.
//
// Expected events come from the database, not the receiver: every outbox row of the connection
// is a committed event; after the drain every such (uuid, event) must have been received. A call
// owned by a SIGKILLed process that had not ended has no hangup (nothing committed it), and an
// event whose transaction never committed (the process died, or PostgreSQL was down) is not
// expected. The call history is checked against the outbox too: every company/user record has
// dial + hangup, and bridge when it has a bridge time; a history event missing from the outbox is
// reported (`history_not_enqueued`) — it is an event the CRM never gets although the call is
// in the history.
import autocannon, { type Options, type Result } from 'autocannon';
import { authorize, request, seededRandom } from './calls-harness.ts';
import type { OfficePlan } from './calls-office.ts';
import type { Cluster } from './postgres.ts';
import {
  ask,
  killNode,
  type Node,
  nodeEnvironment,
  percentile,
  sleep,
  sqlQuery,
  startNode,
  stopNode,
} from './proof-cluster.ts';
import { receiptKey, startReceiver } from './proof-receiver.ts';

export interface FaultSettings {
  /** SIGKILL + restart, each at a random moment of its slot. */
  kills: number;
  /** PostgreSQL stopped this long (0: not stopped). */
  pgStopSec: number;
  /** The receiver answers 503 this long (0: not). */
  crm503Sec: number;
  /** The receiver hangs this long (0: not). */
  hangSec: number;
  /** After each fault, before the next one. */
  gapSec: number;
}

export interface LoadSettings {
  seed: number;
  /** Traffic generator rate on each process (calls/s). */
  ratePerSec: number;
  loadSec: number;
  /** REST reads per second on each process during the load (autocannon, 4 connections each; 0: none). */
  restRatePerSec: number;
  faults: FaultSettings | null;
  /** Give up waiting for the calls to end and the outbox to drain after this long. */
  drainMaxSec: number;
  /** DZVIN_WEBHOOK_* of the processes. */
  webhooks: { timeoutMs: number; leaseSec: number; retryBaseMs: number; retryCapMs: number };
  plan?: OfficePlan;
  log: (line: string) => void;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface FaultRecord {
  kind: 'sigkill' | 'postgres-stop' | 'crm-503' | 'crm-hang';
  detail: string;
  /** ms since the fault phase began. */
  start_s: number;
  end_s: number;
  duration_ms: number;
  /** Fault end → the first event enqueued after it is received (the path works again). */
  new_events_ms: number | null;
  /** Fault end → every event enqueued before the fault ended has been received. */
  backlog_drained_ms: number | null;
  /** SIGKILL: spawn → listening of the restarted process. */
  restart_ms?: number;
}

export interface PhaseFigures {
  seconds: number;
  calls_placed: number;
  calls_failed: number;
  history_calls: number;
  events_expected: number;
  events_received: number;
  events_lost: number;
  /** Received − distinct received: the CRM saw the event more than once. */
  duplicates: number;
  /** Of those, deliveries of one outbox row more than once (the rest: the engine emitted the event twice). */
  duplicates_redelivered: number;
  /** Received (uuid, event) that no outbox row holds (should be 0). */
  unexpected: number;
  deliveries_per_s: number;
  enqueued_per_s: number;
  delivery_p50_ms: number | null;
  delivery_p99_ms: number | null;
  delivery_max_ms: number | null;
  /** Rows sent once: enqueued → the attempt began (waiting for a claim, and for the call's earlier events). */
  claim_wait_p50_ms: number | null;
  claim_wait_p99_ms: number | null;
  /** Traffic end → every call on the live processes ended. */
  calls_ended_ms: number;
  /** Traffic end → every outbox row delivered. */
  drain_ms: number | null;
}

export interface LoadReport {
  settings: Omit<LoadSettings, 'log'>;
  office: { employees: number; trunks: number };
  load: PhaseFigures & { rest: RestFigures | null };
  faults: (PhaseFigures & { schedule: FaultRecord[] }) | null;
  totals: {
    events_expected: number;
    events_lost: number;
    duplicates: number;
    outbox_rows: number;
    outbox_not_delivered: number;
    /** Rows that needed more than one attempt. */
    outbox_retried: number;
    /** Rows whose (uuid, event) an earlier row already holds: the engine emitted the event twice. */
    outbox_same_event_twice: number;
    outbox_same_event_twice_sample: string[];
    history_calls: number;
    history_events: number;
    history_not_enqueued: number;
    history_not_enqueued_by_event: Record<string, number>;
    received_503: number;
    received_hung: number;
    malformed: number;
  };
  processes: {
    name: string;
    pid: number;
    start_ms: number;
    ended: string;
    error_lines: number;
    first_errors: string[];
  }[];
  unexpected_deaths: string[];
  shutdown: { name: string; code: number | null; signal: string | null; ms: number }[];
  checks: Check[];
}

export interface RestFigures {
  requests: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  non2xx: number;
  status_5xx: number;
  errors: number;
}

export const DEFAULT_PLAN: OfficePlan = {
  domain: 'proof-load.localhost',
  huntGroups: 8,
  huntSize: 15,
  ringAllGroups: 6,
  ringAllSize: 5,
  directLines: 4,
  ivrTrunks: 2,
  ivrTimeoutSec: 2,
  ringTimeoutSec: 4,
  answerAfterSec: [0.5, 2],
  answerProbability: 0.9,
  talk: { minSec: 1, maxSec: 5 },
};

type Setup = {
  setup: {
    accountId: number;
    domain: string;
    apiKey: string;
    connectionId: number;
    employees: number;
    trunks: number;
  };
};

export async function runLoad(
  pg: Cluster,
  dir: string,
  s: LoadSettings,
): Promise<{ report: LoadReport; account: { domain: string; apiKey: string } }> {
  const { log } = s;
  const random = seededRandom(s.seed);
  const receiver = await startReceiver();
  Object.assign(
    process.env,
    nodeEnvironment(pg.url, dir, {
      DZVIN_WEBHOOK_TIMEOUT_MS: String(s.webhooks.timeoutMs),
      DZVIN_WEBHOOK_LEASE_SECONDS: String(s.webhooks.leaseSec),
      DZVIN_WEBHOOK_RETRY_BASE_MS: String(s.webhooks.retryBaseMs),
      DZVIN_WEBHOOK_RETRY_CAP_MS: String(s.webhooks.retryCapMs),
    }),
  );
  const everyNode: Node[] = [];
  const nodes: Node[] = [];
  const checks: Check[] = [];
  const shutdown: LoadReport['shutdown'] = [];
  const launch = async (name: string) => {
    const n = await startNode(name);
    everyNode.push(n);
    return n;
  };
  try {
    log('load: starting 2 Dzvin processes over PostgreSQL');
    // One after the other: the first one migrates the fresh database.
    nodes.push(await launch('process-1'));
    nodes.push(await launch('process-2'));
    const { setup } = await ask(
      nodes[0],
      { cmd: 'setup', plan: s.plan ?? DEFAULT_PLAN, eventsUrl: receiver.url, seed: s.seed },
      (m): m is Setup => typeof (m as Setup)?.setup?.apiKey === 'string',
    );
    log(
      `load: office of ${setup.employees} employees, ${setup.trunks} trunks; CRM connection ${setup.connectionId}`,
    );
    const { cookie } = await authorize(nodes[0].port, setup.domain, setup.apiKey);
    const headers = (n: Node) => ({ host: `${setup.domain}:${n.port}`, cookie });

    const startTraffic = async (n: Node, durationSec: number) => {
      const r = await request(n.port, 'POST', '/api/v1/sim/traffic', headers(n), {
        ratePerSec: s.ratePerSec,
        durationSec,
        answerRate: 0.85,
        answerAfterSec: 1,
        talk: { minSec: 1, maxSec: 5 },
        callers: 2000,
      });
      if (r.status !== 200) throw new Error(`${n.name}: starting traffic answered ${r.status} ${r.text}`);
    };
    /** Counts of the traffic generators (of the processes alive now; a killed one's counts die with it). */
    const counts = { placed: 0, failed: 0 };
    const collectTraffic = async (n: Node) => {
      try {
        const r = await request(n.port, 'DELETE', '/api/v1/sim/traffic', headers(n));
        const st = JSON.parse(r.text) as { placed: number; failed: number };
        counts.placed += st.placed;
        counts.failed += st.failed;
      } catch {}
    };
    /** Until no live process has a call in progress (or the deadline); what is left then, per process. */
    const waitCallsEnded = async (deadline: number) => {
      const left: string[] = [];
      for (const n of nodes) {
        let calls: { uuid: string; parentUuid: string | null; dialAt: number; bridgeAt: number | null }[] =
          [];
        while (Date.now() < deadline) {
          const r = await request(n.port, 'GET', '/rest/calls/active/v3', headers(n)).catch(() => null);
          calls = r?.status === 200 ? JSON.parse(r.text) : calls;
          if (r?.status === 200 && calls.length === 0) break;
          await sleep(500);
        }
        if (calls.length)
          left.push(
            `${n.name}: ${calls.length} leg(s) still in progress, e.g. ${calls
              .slice(0, 3)
              .map(
                (c) =>
                  `${c.parentUuid ?? c.uuid} dialled ${Math.round((Date.now() - c.dialAt) / 1000)} s ago${c.bridgeAt ? ', answered' : ''}`,
              )
              .join('; ')}`,
          );
      }
      return left;
    };
    /** Until every outbox row of the connection is delivered (or the deadline); when it was. */
    const drain = async (deadline: number): Promise<number | null> => {
      while (Date.now() < deadline) {
        const [row] = await sqlQuery<{ n: number }>(
          pg.url,
          `select count(*)::int as n from outbox where connection_id = $1 and status <> 'delivered'`,
          [setup.connectionId],
        ).catch(() => [{ n: -1 }]);
        if (row.n === 0) return Date.now();
        await sleep(250);
      }
      return null;
    };

    // ---------------------------------------------------------------------------------------
    // 1. Load
    log(
      `load: ${s.ratePerSec} calls/s on each process for ${s.loadSec} s, REST reads ${s.restRatePerSec}/s on each`,
    );
    const loadStart = Date.now();
    // loadSec 0: no load phase (the CI test goes straight to the faults).
    if (s.loadSec > 0) await Promise.all(nodes.map((n) => startTraffic(n, s.loadSec)));
    const rest =
      s.restRatePerSec > 0 && s.loadSec > 0
        ? await restReads(nodes, headers, s.loadSec, s.restRatePerSec, loadStart)
        : null;
    await sleep(Math.max(0, loadStart + s.loadSec * 1000 - Date.now()));
    for (const n of nodes) await collectTraffic(n);
    const loadCounts = { ...counts };
    const loadTrafficEnd = Date.now();
    const stuckAfterLoad = await waitCallsEnded(Date.now() + s.drainMaxSec * 1000);
    const loadCallsEnded = Date.now();
    const loadDrained = await drain(Date.now() + s.drainMaxSec * 1000);
    log(
      `load: drained ${loadDrained === null ? 'NOT (timed out)' : `${loadDrained - loadTrafficEnd} ms after the traffic ended`}`,
    );

    // ---------------------------------------------------------------------------------------
    // 2. Faults
    const schedule: FaultRecord[] = [];
    let faultStart = 0;
    let faultTrafficEnd = 0;
    let faultDrained: number | null = null;
    let faultCallsEnded = 0;
    let stuckAfterFaults: string[] = [];
    counts.placed = 0;
    counts.failed = 0;
    if (s.faults) {
      const f = s.faults;
      const plan: FaultRecord['kind'][] = [];
      const others: FaultRecord['kind'][] = [];
      if (f.crm503Sec > 0) others.push('crm-503');
      if (f.hangSec > 0) others.push('crm-hang');
      // PostgreSQL last: the processes that lived through its stop are still there at the end, so
      // what it did to their calls in progress is seen (a later SIGKILL would hide it).
      if (f.pgStopSec > 0) others.push('postgres-stop');
      // Kills spread between the other faults: kill, 503, kill, hang, kill, pg, …
      for (let k = 0; k < Math.max(f.kills, others.length); k++) {
        if (k < f.kills) plan.push('sigkill');
        if (k < others.length) plan.push(others[k]);
      }
      // A random moment within half a gap, the fault (a restart takes ~15 s on a busy machine), a gap.
      const slotSec = (kind: FaultRecord['kind']) =>
        (kind === 'postgres-stop'
          ? f.pgStopSec
          : kind === 'crm-503'
            ? f.crm503Sec
            : kind === 'crm-hang'
              ? f.hangSec
              : 15) +
        f.gapSec * 1.5;
      const totalSec = Math.ceil(5 + plan.reduce((a, k) => a + slotSec(k), 0));
      log(`faults: ${plan.join(', ')} over ${totalSec} s of traffic`);
      faultStart = Date.now();
      const since = () => Math.round((Date.now() - faultStart) / 100) / 10;
      await Promise.all(nodes.map((n) => startTraffic(n, totalSec)));
      await sleep(5000);
      for (const kind of plan) {
        // A random moment in the first half of the gap, then the fault, then the rest.
        await sleep(random() * f.gapSec * 500);
        const t0 = Date.now();
        const rec: FaultRecord = {
          kind,
          detail: '',
          start_s: since(),
          end_s: 0,
          duration_ms: 0,
          new_events_ms: null,
          backlog_drained_ms: null,
        };
        if (kind === 'sigkill') {
          const i = Math.floor(random() * nodes.length);
          const victim = nodes[i];
          await killNode(victim);
          rec.end_s = since();
          const tRestart = Date.now();
          const n = await launch(
            `${victim.name.replace(/ \(restart \d+\)$/, '')} (restart ${everyNode.length - 1})`,
          );
          nodes[i] = n;
          rec.restart_ms = Date.now() - tRestart;
          const left = Math.floor((faultStart + totalSec * 1000 - Date.now()) / 1000);
          if (left >= 1) await startTraffic(n, left);
          rec.detail = `SIGKILL ${victim.name} (pid ${victim.pid}), restarted as pid ${n.pid} in ${rec.restart_ms} ms, traffic restarted on it for ${Math.max(0, left)} s`;
        } else if (kind === 'postgres-stop') {
          const stopped = pg.ctl('stop');
          await sleep(f.pgStopSec * 1000);
          const started = pg.ctl('start');
          rec.end_s = since();
          rec.detail = `pg_ctl stop -m fast (${stopped ? 'ok' : 'FAILED'}), ${f.pgStopSec} s down, pg_ctl start (${started ? 'ok' : 'FAILED'})`;
          if (!stopped || !started) throw new Error(`pg_ctl failed: ${rec.detail}`);
        } else {
          receiver.mode = kind === 'crm-503' ? '503' : 'hang';
          await sleep((kind === 'crm-503' ? f.crm503Sec : f.hangSec) * 1000);
          receiver.mode = 'ok';
          rec.end_s = since();
          rec.detail =
            kind === 'crm-503'
              ? `the receiver answers 503 for ${f.crm503Sec} s`
              : `the receiver reads requests and never answers for ${f.hangSec} s (dispatcher timeout ${s.webhooks.timeoutMs} ms)`;
        }
        rec.duration_ms = Date.now() - t0;
        schedule.push(rec);
        log(`faults: ${rec.detail}`);
        await sleep(f.gapSec * 1000);
      }
      await sleep(Math.max(0, faultStart + totalSec * 1000 - Date.now()));
      for (const n of nodes) await collectTraffic(n);
      faultTrafficEnd = Date.now();
      stuckAfterFaults = await waitCallsEnded(Date.now() + s.drainMaxSec * 1000);
      faultCallsEnded = Date.now();
      faultDrained = await drain(Date.now() + s.drainMaxSec * 1000);
      log(
        `faults: drained ${faultDrained === null ? 'NOT (timed out)' : `${faultDrained - faultTrafficEnd} ms after the traffic ended`}`,
      );
    }
    // Stragglers (a duplicate that a dead process's lease releases late) have a moment to arrive.
    await sleep(1000);

    // ---------------------------------------------------------------------------------------
    // Expected events, from the database
    const rows = await sqlQuery<{
      payload: string;
      status: string;
      created_at: number;
      attempts: number;
      last_attempt_at: number | null;
    }>(
      pg.url,
      `select payload, status, created_at, attempts, last_attempt_at from outbox where connection_id = $1 and kind = 'event' order by id`,
      [setup.connectionId],
    );
    const expected = new Map<string, number>(); // key → created_at
    /** created → its (only) attempt began, for rows sent once: time spent waiting to be claimed. */
    const claimWait = new Map<string, number>();
    /** Outbox rows per (uuid, event): 2 when the engine emitted the event twice. */
    const rowsOf = new Map<string, number>();
    let notDelivered = 0;
    let retried = 0;
    const enqueuedTwice: string[] = [];
    for (const r of rows) {
      const p = JSON.parse(r.payload) as { uuid: string; event: string; parentUuid: string | null };
      const key = receiptKey(p.uuid, p.event);
      rowsOf.set(key, (rowsOf.get(key) ?? 0) + 1);
      if (!expected.has(key)) expected.set(key, Number(r.created_at));
      else enqueuedTwice.push(r.payload);
      if (r.status !== 'delivered') notDelivered++;
      if (r.attempts > 1) retried++;
      else if (r.last_attempt_at !== null)
        claimWait.set(key, Number(r.last_attempt_at) - Number(r.created_at));
    }
    const history = await sqlQuery<{ uuid: string; bridge_at: number | null; end_at: number }>(
      pg.url,
      `select uuid, bridge_at, end_at from calls where account_id = $1 and kind in ('company', 'user')`,
      [setup.accountId],
    );
    const notEnqueuedByEvent: Record<string, number> = {};
    let historyEvents = 0;
    for (const c of history)
      for (const ev of ['call.dial', c.bridge_at === null ? null : 'call.bridge', 'call.hangup']) {
        if (!ev) continue;
        historyEvents++;
        if (!expected.has(receiptKey(c.uuid, ev))) notEnqueuedByEvent[ev] = (notEnqueuedByEvent[ev] ?? 0) + 1;
      }
    const historyNotEnqueued = Object.values(notEnqueuedByEvent).reduce((a, b) => a + b, 0);

    const phase = (
      from: number,
      to: number,
      trafficEnd: number,
      callsEnded: number,
      drained: number | null,
      c: { placed: number; failed: number },
    ): PhaseFigures => {
      let exp = 0;
      let got = 0;
      let dups = 0;
      let redelivered = 0;
      const lat: number[] = [];
      const waits: number[] = [];
      for (const [key, created] of expected) {
        if (created < from || created >= to) continue;
        exp++;
        const w = claimWait.get(key);
        if (w !== undefined) waits.push(w);
        const r = receiver.received.get(key);
        if (!r) continue;
        got++;
        dups += r.count - 1;
        redelivered += Math.max(0, r.count - (rowsOf.get(key) ?? 1));
        lat.push(r.first - created);
      }
      lat.sort((a, b) => a - b);
      waits.sort((a, b) => a - b);
      let unexpected = 0;
      for (const [key, r] of receiver.received)
        if (!expected.has(key) && r.first >= from && r.first < to) unexpected++;
      // Steady state: the traffic window without its first 5 s.
      const w0 = Math.min(from + 5000, trafficEnd - 1000);
      const span = Math.max(1, trafficEnd - w0) / 1000;
      const delivered = receiver.okTimes.filter((t) => t >= w0 && t < trafficEnd).length;
      let enq = 0;
      for (const created of expected.values()) if (created >= w0 && created < trafficEnd) enq++;
      return {
        seconds: Math.round((trafficEnd - from) / 1000),
        calls_placed: c.placed,
        calls_failed: c.failed,
        history_calls: history.filter((h) => Number(h.end_at) >= from && Number(h.end_at) < to).length,
        events_expected: exp,
        events_received: got,
        events_lost: exp - got,
        duplicates: dups,
        duplicates_redelivered: redelivered,
        unexpected,
        deliveries_per_s: Math.round(delivered / span),
        enqueued_per_s: Math.round(enq / span),
        delivery_p50_ms: percentile(lat, 50),
        delivery_p99_ms: percentile(lat, 99),
        delivery_max_ms: lat.length ? lat[lat.length - 1] : null,
        claim_wait_p50_ms: percentile(waits, 50),
        claim_wait_p99_ms: percentile(waits, 99),
        calls_ended_ms: callsEnded - trafficEnd,
        drain_ms: drained === null ? null : drained - trafficEnd,
      };
    };
    const loadFig = phase(
      loadStart,
      faultStart || Number.POSITIVE_INFINITY,
      loadTrafficEnd,
      loadCallsEnded,
      loadDrained,
      loadCounts,
    );
    const faultFig = s.faults
      ? phase(faultStart, Number.POSITIVE_INFINITY, faultTrafficEnd, faultCallsEnded, faultDrained, counts)
      : null;

    // Recovery of each fault, from the receipts.
    for (const rec of schedule) {
      const end = faultStart + rec.end_s * 1000;
      let drainedAt = end;
      let firstNew = Number.POSITIVE_INFINITY;
      for (const [key, created] of expected) {
        const r = receiver.received.get(key);
        if (!r) continue;
        if (created < end) drainedAt = Math.max(drainedAt, r.first);
        else firstNew = Math.min(firstNew, r.first);
      }
      rec.backlog_drained_ms = drainedAt - end;
      rec.new_events_ms = Number.isFinite(firstNew) ? firstNew - end : null;
    }

    let totalDup = 0;
    let distinctGot = 0;
    for (const [key, r] of receiver.received)
      if (expected.has(key)) {
        distinctGot++;
        totalDup += r.count - 1;
      }
    const lost = expected.size - distinctGot;

    // Graceful stop of the processes alive now.
    const deaths = everyNode.filter((n) => n.died).map((n) => n.died as string);
    for (const n of nodes) shutdown.push({ name: n.name, ...(await stopNode(n)) });

    const totals: LoadReport['totals'] = {
      events_expected: expected.size,
      events_lost: lost,
      duplicates: totalDup,
      outbox_rows: rows.length,
      outbox_not_delivered: notDelivered,
      outbox_retried: retried,
      outbox_same_event_twice: enqueuedTwice.length,
      outbox_same_event_twice_sample: enqueuedTwice.slice(0, 5),
      history_calls: history.length,
      history_events: historyEvents,
      history_not_enqueued: historyNotEnqueued,
      history_not_enqueued_by_event: notEnqueuedByEvent,
      received_503: receiver.refused,
      received_hung: receiver.hung,
      malformed: receiver.malformed,
    };
    checks.push(
      {
        name: 'load: every committed (uuid, event) of the load phase arrived',
        ok: loadFig.events_lost === 0 && (loadFig.events_expected > 0 || s.loadSec === 0),
        detail: `${loadFig.events_received}/${loadFig.events_expected} received, ${loadFig.duplicates} duplicate(s), drained ${loadFig.drain_ms ?? 'never'} ms after the traffic`,
      },
      {
        name: 'load: REST reads through both processes while traffic runs → no 5xx, no errors',
        ok: rest === null || (rest.status_5xx === 0 && rest.errors === 0),
        detail: rest
          ? `${rest.requests} requests, p99 ${rest.p99_ms} ms, ${rest.non2xx} non-2xx (${rest.status_5xx} 5xx), ${rest.errors} errors`
          : 'not run',
      },
    );
    if (faultFig)
      checks.push({
        name: 'faults: every committed (uuid, event) arrived (SIGKILLs, PostgreSQL stop, 503s, hanging receiver)',
        ok: faultFig.events_lost === 0 && faultFig.events_expected > 0,
        detail: `${faultFig.events_received}/${faultFig.events_expected} received, ${faultFig.duplicates} duplicate(s), drained ${faultFig.drain_ms ?? 'never'} ms after the traffic`,
      });
    checks.push(
      {
        name: 'outbox drained: every row delivered, none dead or failed',
        ok: notDelivered === 0,
        detail: `${rows.length} rows, ${notDelivered} not delivered`,
      },
      {
        name: 'nothing received that the outbox does not hold, no malformed body',
        ok: loadFig.unexpected + (faultFig?.unexpected ?? 0) === 0 && receiver.malformed === 0,
        detail: `${loadFig.unexpected + (faultFig?.unexpected ?? 0)} unexpected, ${receiver.malformed} malformed`,
      },
      {
        name: 'history vs outbox: every finished call in the history has its dial (+ bridge) + hangup enqueued',
        ok: historyNotEnqueued === 0,
        detail: `${history.length} history records, ${historyEvents} events, ${historyNotEnqueued} not in the outbox ${JSON.stringify(notEnqueuedByEvent)}`,
      },
      {
        name: 'every call ends: none left in progress on a live process after the traffic',
        ok: stuckAfterLoad.length + stuckAfterFaults.length === 0,
        detail:
          [
            ...stuckAfterLoad.map((x) => `after the load: ${x}`),
            ...stuckAfterFaults.map((x) => `after the faults: ${x}`),
          ].join('; ') || `all ended (${s.drainMaxSec} s allowed)`,
      },
      {
        name: 'no process died unless killed by the proof',
        ok: deaths.length === 0,
        detail: deaths.length
          ? deaths.join('; ')
          : `${everyNode.length} process(es) started, none died by itself`,
      },
      {
        name: 'graceful stop of the processes: SIGTERM → exit 0',
        ok: shutdown.every((x) => x.code === 0),
        detail: shutdown
          .map((x) => `${x.name}: exit ${x.code}${x.signal ? ` ${x.signal}` : ''} in ${x.ms} ms`)
          .join('; '),
      },
    );
    const { log: _log, ...settings } = s;
    const report: LoadReport = {
      settings: { ...settings, plan: s.plan ?? DEFAULT_PLAN },
      office: { employees: setup.employees, trunks: setup.trunks },
      load: { ...loadFig, rest },
      faults: faultFig ? { ...faultFig, schedule } : null,
      totals,
      processes: everyNode.map((n) => ({
        name: n.name,
        pid: n.pid,
        start_ms: n.startMs,
        ended: n.died ?? (n.ending ? 'by the proof' : 'alive'),
        error_lines: n.errors.length,
        first_errors: n.errors.slice(0, 3).map((l) => l.slice(0, 400)),
      })),
      unexpected_deaths: deaths,
      shutdown,
      checks,
    };
    return { report, account: { domain: setup.domain, apiKey: setup.apiKey } };
  } finally {
    for (const n of everyNode)
      if (n.child.child.exitCode === null && n.child.child.signalCode === null) await killNode(n);
    await receiver.close();
  }
}

/** autocannon at a bounded rate on every process at once (a read mix), for `seconds`. */
async function restReads(
  nodes: Node[],
  headers: (n: Node) => Record<string, string>,
  seconds: number,
  ratePerSec: number,
  since: number,
): Promise<RestFigures> {
  const results = await Promise.all(
    nodes.map((n) => {
      const h = headers(n);
      const opts = {
        url: `http://127.0.0.1:${n.port}`,
        connections: 4,
        duration: seconds,
        overallRate: ratePerSec,
        requests: readMix(since).map((path) => ({ method: 'GET', path, headers: h })),
      };
      return autocannon(opts as Options) as PromiseLike<Result>;
    }),
  );
  const requests = results.reduce((a, r) => a + r.requests.total, 0);
  return {
    requests,
    rps: Math.round(results.reduce((a, r) => a + r.requests.average, 0)),
    p50_ms: Math.max(...results.map((r) => r.latency.p50)),
    p99_ms: Math.max(...results.map((r) => r.latency.p99)),
    max_ms: Math.max(...results.map((r) => r.latency.max)),
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
    status_5xx: results.reduce((a, r) => a + r['5xx'], 0),
    errors: results.reduce((a, r) => a + r.errors + r.timeouts, 0),
  };
}

/** The REST read mix: employees, a page of company calls of the last hour, calls in progress. */
export function readMix(since: number): string[] {
  return [
    '/rest/users',
    `/rest/calls/company.api?timeFrom=${since - 3_600_000}&timeTo=${since + 86_400_000}&limit=50`,
    '/rest/calls/active/v3',
  ];
}
