// A Dzvin server process for the SIGKILL test: buildApp on the SQLite file named by
// DZVIN_CHILD_DB with short leases. With DZVIN_CHILD_BURST=<connectionId>:<accountId> it also
// enqueues a burst of calls (dial, bridge, hangup per uuid, one transaction per call) and
// prints `committed <uuid>` after each commit, until it is killed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, defaultConfig } from '../../src/index.ts';

const recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-child-rec-'));
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
process.stdout.write('ready\n');
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
