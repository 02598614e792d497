// A Dzvin server process for the SIGKILL tests (spawnAppChild below starts it): buildApp on the
// SQLite file named by DZVIN_CHILD_DB, with short webhook leases; prints `ready` once built, then
// `metric <line>` with dzvin_calls_closed_after_crash_total (what start-up closed). SIGTERM shuts
// it down (exit 0).
//
// - DZVIN_CHILD_BURST=<connectionId>:<accountId> (deliveries test): enqueues a burst of calls
//   (dial, bridge, hangup per uuid, one transaction per call) and prints `committed <uuid>` after
//   each commit, until it is killed.
// - DZVIN_CHILD_CALL=<accountId> (live-calls test): places one incoming call to the account's first
//   trunk, which the simulated 001 answers at once and talks on for an hour, and prints
//   `up <uuid>` once it is bridged.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, defaultConfig } from '../../src/index.ts';

// DZVIN_CHILD_REC: a recordings directory shared with the next child (live-calls: the restarted
// process keeps what the killed one recorded).
const recordingsDir =
  process.env.DZVIN_CHILD_REC ?? fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-child-rec-'));
const built = await buildApp(
  defaultConfig({
    databaseUrl: `sqlite:${process.env.DZVIN_CHILD_DB}`,
    port: 0,
    logLevel: 'silent',
    recordingsDir,
    demo: { enabled: false, domain: 'x.localhost', apiKey: undefined, country: 'UA' },
    webhooks: {
      timeoutMs: 2000,
      concurrencyPerConnection: 16,
      leaseMs: 1500,
      retryBaseMs: 20,
      retryCapMs: 200,
      retryForMs: 3_600_000,
    },
  }),
  { logger: false },
);
process.on('SIGTERM', () => {
  built
    .close()
    .then(() => process.exit(0))
    .catch(() => process.exit(1));
});
process.stdout.write('ready\n');
// What the operator's Prometheus sees of the start-up's clean-up.
const closedLine = built.metrics
  .render()
  .split('\n')
  .find((l) => l.startsWith('dzvin_calls_closed_after_crash_total'));
process.stdout.write(`metric ${closedLine ?? 'dzvin_calls_closed_after_crash_total (none)'}\n`);

const burst = process.env.DZVIN_CHILD_BURST;
if (burst) {
  const [connectionId, accountId] = burst.split(':').map(Number);
  for (let i = 0; ; i++) {
    const uuid = `kill-${process.pid}-${i}`;
    await built.store.transaction((tx) =>
      built.outbox.enqueue(
        tx,
        ['call.dial', 'call.bridge', 'call.hangup'].map((event) => ({
          accountId,
          connectionId,
          kind: 'event' as const,
          orderKey: uuid,
          payload: { event, uuid, serverTime: 0 },
        })),
      ),
    );
    built.outbox.notify();
    process.stdout.write(`committed ${uuid}\n`);
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5));
  }
}

const callAccount = Number(process.env.DZVIN_CHILD_CALL);
if (callAccount) {
  const account = await built.store.accounts.byId(callAccount);
  if (!account) throw new Error(`no account ${callAccount}`);
  const { sim, engine } = built.simulator;
  sim.setEmployeeBehaviour(callAccount, '001', { mode: 'answer', answerAfterSec: 0.5, probability: 1 });
  sim.setTalkTime(callAccount, { minSec: 3600, maxSec: 3600 });
  const trunk = (await built.store.directory.trunks.list(callAccount))[0];
  const { uuid } = await sim.incoming(account, '0505826633', trunk.number);
  for (;;) {
    const live = await engine.active(callAccount);
    if (live.some((c) => c.lastEvent === 'call.bridge')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(`up ${uuid}\n`);
}
