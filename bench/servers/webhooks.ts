// Dzvin as `npm run bench:webhooks` runs it: buildApp over the database of argv[2] (system clock,
// its own dispatcher), an account with one CRM connection whose events URL is argv[3]. Driven
// over IPC: `burst` enqueues N call events (3 per call, one transaction per 100 calls) at once;
// `rate` enqueues calls' events at a fixed rate (one transaction per 10 ms tick, open loop),
// stamping each payload with the enqueue time; `stop` closes the app (in-flight deliveries finish).
import { parseConfig } from '../../packages/server/src/config.ts';
import { buildApp, defaultConfig } from '../../packages/server/src/index.ts';
import type { OutboxEntry } from '../../packages/server/src/integrations/outbox/outbox.ts';

const [databaseUrl, eventsUrl] = process.argv.slice(2);
if (!databaseUrl || !eventsUrl) throw new Error('usage: webhooks.ts <databaseUrl> <eventsUrl>');
const env = parseConfig(process.env);
const built = await buildApp(
  defaultConfig({
    webhooks: env.webhooks,
    databaseUrl,
    port: 0,
    logLevel: 'warn',
    recordingsDir: `${process.env.TMPDIR ?? '/tmp'}/dzvin-bench-webhooks-rec`,
  }),
  { logger: false },
);
// BENCH_WEBHOOK_TIMINGS=1: CPU time of the process and wall time of each outbox store call
// (SQLite runs on this thread; wall time includes being preempted on a shared machine), per phase.
const timings = new Map<string, { n: number; ms: number; rows: number }>();
if (process.env.BENCH_WEBHOOK_TIMINGS) {
  const o = built.store.outbox as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const name of ['claim', 'record', 'release', 'targets', 'nextDue', 'insert']) {
    const f = o[name].bind(o);
    o[name] = async (...a: unknown[]) => {
      const t = performance.now();
      const r = await f(...a);
      const s = timings.get(name) ?? { n: 0, ms: 0, rows: 0 };
      s.n++;
      s.ms += performance.now() - t;
      s.rows += Array.isArray(r) ? r.length : Array.isArray(a[0]) ? a[0].length : 0;
      timings.set(name, s);
      return r;
    };
  }
}
const { account } = await built.services.accounts.create({ domain: `bench-${Date.now()}.localhost` });
const conn = await built.services.directory.crm.create(account, { name: 'bench CRM', eventsUrl });

function call(uuid: string, event: string, t0: number) {
  return {
    event,
    accountDomain: account.domain,
    uuid,
    parentUuid: null,
    dialAt: t0,
    bridgeAt: event === 'call.dial' ? null : t0,
    serverTime: t0,
    lgDirection: 4,
    leg: { id: 1, ext: '001', displayName: 'Олена Коваль' },
    leg2: null,
    otherLegs: [
      {
        id: 7,
        name: 'Анастасія Березкіна',
        num: '+380671234567',
        companyName: 'ТОВ Тест',
        url: 'https://crm.example/contacts/7',
        priority: 1,
      },
    ],
    trunkNum: '+380442246595',
    trunkName: 'Головний',
    benchEnqueuedAt: t0,
  };
}
const entry = (payload: ReturnType<typeof call>): OutboxEntry => ({
  accountId: account.id,
  connectionId: conn.id,
  kind: 'event',
  orderKey: payload.uuid,
  payload,
});

let seq = 0;
let cpuMark = process.cpuUsage();
const printTimings = (phase: string) => {
  if (!process.env.BENCH_WEBHOOK_TIMINGS) return;
  const d = process.cpuUsage(cpuMark);
  cpuMark = process.cpuUsage();
  process.stderr.write(
    `[bench:webhooks] ${phase} process CPU ${((d.user + d.system) / 1000).toFixed(0)} ms\n`,
  );
  for (const [name, t] of timings)
    process.stderr.write(
      `[bench:webhooks] ${phase} ${name}: ${t.n} calls, ${t.ms.toFixed(0)} ms, ${(t.ms / t.n).toFixed(2)} ms each, ${t.rows} rows\n`,
    );
  timings.clear();
};
process.on('message', async (m: { cmd: string; n?: number; rate?: number; seconds?: number }) => {
  printTimings(`before ${m.cmd}:`);
  if (m.cmd === 'burst') {
    const calls = Math.ceil((m.n ?? 0) / 3);
    process.send?.({ started: Date.now() });
    for (let i = 0; i < calls; i += 100) {
      const t0 = Date.now();
      const entries: OutboxEntry[] = [];
      for (let j = i; j < Math.min(calls, i + 100); j++) {
        const uuid = `burst-${seq}-${j}`;
        for (const e of ['call.dial', 'call.bridge', 'call.hangup']) entries.push(entry(call(uuid, e, t0)));
      }
      await built.store.transaction((tx) => built.outbox.enqueue(tx, entries));
      built.outbox.notify();
    }
    seq++;
    process.send?.({ enqueued: Date.now() });
  } else if (m.cmd === 'rate') {
    const rate = m.rate ?? 500;
    const end = Date.now() + (m.seconds ?? 10) * 1000;
    const start = Date.now();
    let sent = 0;
    let n = 0;
    while (Date.now() < end) {
      // Open loop: as many events as the clock says are due, whatever the last tick cost.
      const due = Math.floor(((Date.now() - start) / 1000) * rate) - sent;
      if (due > 0) {
        const t0 = Date.now();
        const entries: OutboxEntry[] = [];
        for (let k = 0; k < due; k++) {
          // One event per call here, each its own order key: latency is not queued behind a sibling.
          entries.push(entry(call(`rate-${seq}-${n++}`, 'call.dial', t0)));
        }
        await built.store.transaction((tx) => built.outbox.enqueue(tx, entries));
        built.outbox.notify();
        sent += due;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    seq++;
    process.send?.({ rateDone: sent });
  } else if (m.cmd === 'counts') {
    process.send?.({ counts: await built.store.outbox.counts(null) });
  } else if (m.cmd === 'stop') {
    await built.close();
    process.exit(0);
  }
});
process.send?.({ ready: true });
