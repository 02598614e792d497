// The load and fault proof (bench/lib/proof-load.ts) in `npm test`, small: 2 Dzvin processes over
// a throwaway PostgreSQL of its own (it is not the shared test cluster: the proof's faults may
// stop it), the simulator's traffic on both, one SIGKILL + restart and a short period of 503s from
// the CRM receiver. Every event the database committed must arrive, the outbox must drain, no
// process may die by itself. Skipped (loudly, by the runner's PostgreSQL check) where the
// PostgreSQL server is not installed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dialectSkipReason } from '../../packages/server/test/support/dialects.ts';
import { type Cluster, startPostgres } from '../lib/postgres.ts';
import { type LoadReport, runLoad } from '../lib/proof-load.ts';

describe('proof: load and faults over 2 processes on PostgreSQL', {
  skip: dialectSkipReason('postgres'),
}, () => {
  let pg: Cluster | null = null;
  let report: LoadReport;
  const dir = mkdtempSync(join(os.tmpdir(), 'dzvin-proof-test-'));

  before(
    async () => {
      pg = await startPostgres();
      assert.ok(
        pg,
        'the PostgreSQL server binaries are installed (DZVIN_TEST_PG_URL is set) but initdb was not found',
      );
      ({ report } = await runLoad(pg, dir, {
        seed: 7,
        ratePerSec: 4,
        loadSec: 0,
        restRatePerSec: 0,
        faults: { kills: 1, pgStopSec: 0, crm503Sec: 4, hangSec: 0, gapSec: 5 },
        drainMaxSec: 40,
        webhooks: { timeoutMs: 2000, leaseSec: 4, retryBaseMs: 200, retryCapMs: 2000 },
        log: (line) => process.stderr.write(`[proof-load test] ${line}\n`),
      }));
    },
    { timeout: 170_000 },
  );

  after(() => {
    pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every (uuid, event) the database committed reached the CRM through a SIGKILL and a 503 period', () => {
    const f = report.faults!;
    assert.ok(f.events_expected > 50, `events expected: ${f.events_expected}`);
    assert.equal(f.events_lost, 0);
    assert.equal(report.totals.events_lost, 0);
    assert.equal(f.unexpected, 0);
    assert.ok(report.totals.received_503 > 0, 'the receiver answered 503 to some deliveries');
    assert.deepEqual(
      report.faults!.schedule.map((x) => x.kind),
      ['sigkill', 'crm-503'],
    );
  });

  test('the outbox drains, every call ends, and no process dies unless killed', () => {
    for (const c of report.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
    assert.equal(report.totals.outbox_not_delivered, 0);
    assert.deepEqual(report.unexpected_deaths, []);
    assert.ok(report.shutdown.every((s) => s.code === 0));
  });
});
