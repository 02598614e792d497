// A Dzvin server process for the live-calls SIGKILL test: buildApp on the SQLite file named by
// DZVIN_CHILD_DB (its office and CRM written by the test). With DZVIN_CHILD_CALL=<accountId> it
// places one incoming call to the account's default trunk, which the simulated 001 answers at
// once and talks on for an hour, and prints `up <uuid>` once it is bridged. SIGTERM shuts down.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, defaultConfig } from '../../src/index.ts';

const recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-live-child-rec-'));
const built = await buildApp(
  defaultConfig({
    databaseUrl: `sqlite:${process.env.DZVIN_CHILD_DB}`,
    port: 0,
    logLevel: 'silent',
    recordingsDir,
    demo: { enabled: false, domain: 'x.localhost', apiKey: undefined, country: 'UA' },
    webhooks: {
      timeoutMs: 2000,
      concurrencyPerConnection: 4,
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
const accountId = Number(process.env.DZVIN_CHILD_CALL);
if (accountId) {
  const account = await built.store.accounts.byId(accountId);
  if (!account) throw new Error(`no account ${accountId}`);
  const { sim, engine } = built.simulator;
  sim.setEmployeeBehaviour(accountId, '001', { mode: 'answer', answerAfterSec: 0.5, probability: 1 });
  sim.setTalkTime(accountId, { minSec: 3600, maxSec: 3600 });
  const trunk = (await built.store.directory.trunks.list(accountId))[0];
  const { uuid } = await sim.incoming(account, '0505826633', trunk.number);
  for (;;) {
    const live = await engine.active(accountId);
    if (live.some((c) => c.lastEvent === 'call.bridge')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(`up ${uuid}\n`);
}
