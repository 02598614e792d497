// The hostile-input proof (bench/lib/hostile.ts) in `npm test`: a smaller run of the same checks
// `npm run proof` makes (1,000 fuzz cases per database instead of 10,000) against a real Dzvin on
// 127.0.0.1 over SQLite and PostgreSQL, in production mode (CRM URLs may not reach private addresses).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DIALECTS, dialectSkipReason } from '../../packages/server/test/support/dialects.ts';
import { startServer, type TestServer } from '../../packages/server/test/support/harness.ts';
import { type HostileReport, runHostile } from '../lib/hostile.ts';

const SESSION_IDLE_SEC = 10;
const BODY_LIMIT = 64 * 1024;
const MAX_FAILURES_PER_IP = 5;

for (const dialect of DIALECTS) {
  describe(`hostile input [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let server: TestServer;
    let report: HostileReport;

    before(async () => {
      server = await startServer(dialect, {
        config: {
          mode: 'production',
          outgoing: { allowPrivate: false },
          sessionIdleSec: SESSION_IDLE_SEC,
          bodyLimitBytes: BODY_LIMIT,
          auth: { maxFailuresPerIp: MAX_FAILURES_PER_IP, maxFailuresPerDomain: 1000, failureWindowSec: 600 },
        },
      });
      const [a, b, c, d] = [
        await server.account('alpha.localhost'),
        await server.account('bravo.localhost'),
        await server.account('fuzz.localhost'),
        await server.account('victim.localhost'),
      ];
      report = await runHostile(
        {
          port: server.port,
          a,
          b,
          c,
          d,
          sessionIdleSec: SESSION_IDLE_SEC,
          bodyLimitBytes: BODY_LIMIT,
          maxFailuresPerIp: MAX_FAILURES_PER_IP,
        },
        { fuzzCases: Number(process.env.DZVIN_FUZZ_CASES ?? 1000), seed: 7 },
      );
    });

    after(async () => {
      await server?.close();
    });

    test('fuzzed requests to every route never get a 5xx', () => {
      assert.ok(report.fuzz.routes > 40, `routes from /openapi.json: ${report.fuzz.routes}`);
      assert.deepEqual(report.fuzz.server_errors, []);
    });

    test('after fuzzing, the canary accounts read back unchanged and the fuzzed one still reads', () => {
      assert.deepEqual(report.corruption, []);
    });

    test("another account's session and key never see or change an account's data, on any route", () => {
      assert.ok(report.isolation.requests > 80, `isolation requests: ${report.isolation.requests}`);
      assert.deepEqual(report.isolation.violations, []);
    });

    for (const name of [
      'session fixation',
      'session expiry',
      'authorize brute force',
      'oversized bodies',
      'CRM URLs resolving',
    ]) {
      test(name, () => {
        const c = report.checks.find((x) => x.name.startsWith(name));
        assert.ok(c, `check ${name} ran`);
        assert.ok(c.ok, `${c.name}: ${c.detail}`);
      });
    }
  });
}
