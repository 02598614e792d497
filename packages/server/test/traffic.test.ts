import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type CallBusEvent, createCallBus } from '../src/domain/calls/call-engine.ts';
import type { FinishedCall } from '../src/domain/calls/call-model.ts';
import { createManualClock } from '../src/domain/clock.ts';
import type { AccountRecord, Store } from '../src/domain/ports.ts';
import { createFileRecorder } from '../src/engine/recording/file-recorder.ts';
import { createSimulator, type Simulator } from '../src/engine/simulator/simulator.ts';
import { createTrafficGenerator, type TrafficGenerator } from '../src/engine/simulator/traffic.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import { createTestOffice, type TestOffice } from './support/office.ts';

/** mulberry32: a small seeded random source, good enough for Poisson gaps (tests must not be flaky). */
function seeded(seed = 7) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const dialect of DIALECTS) {
  describe(`traffic generator [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let office: TestOffice;
    let store: Store;
    let account: AccountRecord;
    let dir: string;
    const clock = createManualClock(Date.UTC(2026, 10, 26, 9));
    let sim: Simulator;
    let traffic: TrafficGenerator;
    let saved: FinishedCall[] = [];
    /** Company calls in progress now, and the most seen at once. */
    let peak = 0;
    let companyDials = 0;

    before(async () => {
      office = await createTestOffice(dialect, clock, { domain: 'traffic.localhost', ivrTimeoutSec: 2 });
      ({ store, account, recordingsDir: dir } = office);
    });
    after(async () => {
      await traffic?.stopAll();
      await sim?.engine.close();
      await office.close();
    });
    beforeEach(() => {
      const bus = createCallBus();
      saved = [];
      peak = 0;
      companyDials = 0;
      bus.on((e: CallBusEvent) => {
        if (e.type === 'call.saved') saved.push(e.record);
        // Every call sends one call.dial, when it first reaches a phone (an IVR caller later).
        else if ('kind' in e && e.kind === 'company' && e.type === 'call.dial') companyDials++;
        // The calls in progress, as the simulator holds them, at every state change.
        peak = Math.max(peak, sim.sim.activeCount());
      });
      const random = seeded();
      const recorder = createFileRecorder({ dir, timers: clock, clock });
      sim = createSimulator({ store, clock, timers: clock, recorder, bus, random });
      traffic = createTrafficGenerator({
        sim: sim.sim,
        engine: sim.engine,
        store,
        clock,
        timers: clock,
        random,
      });
      // Short calls: the recorder writes every answered second to disk.
      sim.sim.setTalkTime(account.id, { minSec: 1, maxSec: 3 });
    });

    const companyRecords = () => saved.filter((r) => r.kind === 'company');

    /** Lets every call end: ring timeouts and talk are well under two minutes here. */
    async function drain() {
      await clock.advance(120_000);
      await sim.engine.idle();
    }

    test('5 calls/s for 60 s of clock time places about 300 calls from repeating callers, then stops by itself and leaves no timers', async () => {
      const t0 = clock.now();
      const started = await traffic.start(account, { ratePerSec: 5, durationSec: 60 });
      assert.deepEqual(started, {
        running: true,
        startedAt: t0,
        stoppedAt: null,
        ratePerSec: 5,
        durationSec: 60,
        maxConcurrent: null,
        placed: 0,
        dropped: 0,
        failed: 0,
        lastError: null,
      });
      await clock.advance(30_000);
      const half = traffic.status(account.id);
      assert.equal(half.running, true);
      assert.ok(half.placed > 100 && half.placed < 200, `${half.placed} calls in 30 s`);

      await clock.advance(30_000);
      const done = traffic.status(account.id);
      assert.equal(done.running, false, 'stopped at durationSec');
      assert.equal(done.stoppedAt, t0 + 60_000);
      // Poisson(300): the standard deviation is about 17.
      assert.ok(done.placed >= 240 && done.placed <= 360, `${done.placed} calls in 60 s`);
      assert.equal(done.failed, 0, String(done.lastError));
      assert.equal(done.dropped, 0);

      await drain();
      assert.equal(companyDials, done.placed, 'one call.dial per call placed');
      assert.equal(clock.pending(), 0, 'no generator timers left once the calls have ended');
      assert.deepEqual(await sim.engine.active(account.id), []);
      assert.deepEqual(traffic.status(account.id), done, 'nothing arrives after the stop');
      const company = companyRecords();
      assert.equal(company.length, done.placed);
      assert.ok(
        company.every((r) => r.direction === 4 && r.dialAt >= t0 && r.dialAt < t0 + 60_000),
        'every call is incoming and arrived within the minute',
      );
      const callers = new Set(company.map((r) => r.otherLegNum));
      assert.ok(callers.size < company.length, 'some numbers call again');
      const trunks = new Set(company.map((r) => r.trunkNum));
      assert.equal(trunks.size, 3, 'every trunk gets calls');
      assert.ok(
        company.some((r) => r.disposition === 0),
        'employees answer by default',
      );
    });

    test('maxConcurrent caps the company calls in progress and counts the arrivals beyond it as dropped', async () => {
      sim.sim.setTalkTime(account.id, { minSec: 5, maxSec: 5 });
      await traffic.start(account, { ratePerSec: 5, durationSec: 20, maxConcurrent: 4 });
      await clock.advance(20_000);
      const s = traffic.status(account.id);
      assert.ok(peak <= 4, `${peak} calls at once`);
      assert.equal(peak, 4, 'the cap is reached');
      assert.ok(s.dropped > 0, 'arrivals above the cap are dropped');
      assert.ok(s.placed > 0);
      assert.equal(s.maxConcurrent, 4);
      await drain();
      assert.equal(companyDials, s.placed);
      assert.equal(clock.pending(), 0);
    });

    test('stop() stops the arrivals at once; calls in progress go on to their end', async () => {
      await traffic.start(account, { ratePerSec: 5 });
      await clock.advance(5000);
      const stopped = await traffic.stop(account.id);
      assert.equal(stopped.running, false);
      assert.equal(stopped.stoppedAt, clock.now());
      assert.ok(stopped.placed > 0);
      assert.ok((await sim.engine.active(account.id)).length > 0, 'calls still in progress');
      await drain();
      assert.equal(companyDials, stopped.placed, 'no arrival after stop');
      assert.deepEqual(traffic.status(account.id), stopped, 'the final counts stay readable');
      assert.equal(clock.pending(), 0);
      assert.equal(companyRecords().length, stopped.placed, 'the calls in progress ended and were saved');
    });

    test('answerRate 0: every employee lets it ring, so every company call ends unanswered (disposition 1)', async () => {
      await traffic.start(account, { ratePerSec: 2, durationSec: 15, answerRate: 0 });
      await clock.advance(15_000);
      await drain();
      const company = companyRecords();
      assert.ok(company.length > 10, `${company.length} calls`);
      assert.deepEqual(
        company.filter((r) => r.disposition !== 1),
        [],
      );
      assert.ok(saved.every((r) => r.billSecs === 0));
    });

    test('answerRate 1 with answerAfterSec: every call is answered after about that many seconds', async () => {
      sim.sim.setTalkTime(account.id, { minSec: 1, maxSec: 1 });
      // Slow enough that the employees are free again for the next caller.
      await traffic.start(account, {
        ratePerSec: 0.05,
        durationSec: 600,
        answerRate: 1,
        answerAfterSec: 4,
        talk: { minSec: 1, maxSec: 1 },
        trunks: ['+380800218500'],
      });
      await clock.advance(600_000);
      await drain();
      const company = companyRecords();
      assert.ok(company.length > 10, `${company.length} calls`);
      for (const r of company) {
        assert.equal(r.disposition, 0);
        assert.ok(r.bridgeAt !== null);
        const ring = (r.bridgeAt - r.dialAt) / 1000;
        assert.ok(ring >= 2 && ring <= 6, `answered after ${ring} s (mean 4 s, ±50 %)`);
        assert.equal(r.billSecs, 1, 'the talk option sets the talk time');
      }
    });

    test('a failed arrival (an unknown trunk) is counted and the generator goes on', async () => {
      await traffic.start(account, { ratePerSec: 2, durationSec: 10, trunks: ['+380999999999'] });
      await clock.advance(10_000);
      const s = traffic.status(account.id);
      assert.equal(s.placed, 0);
      assert.ok(s.failed > 10, `${s.failed} failed`);
      assert.match(String(s.lastError), /No trunk/);
      assert.equal(clock.pending(), 0);
    });

    test('starting again replaces the running generator (fresh counts, the old arrivals stop)', async () => {
      await traffic.start(account, { ratePerSec: 1 });
      await clock.advance(10_000);
      const restarted = await traffic.start(account, { ratePerSec: 2, durationSec: 5 });
      assert.equal(restarted.ratePerSec, 2);
      assert.equal(restarted.placed, 0);
      await clock.advance(5000);
      await drain();
      assert.equal(traffic.status(account.id).running, false);
      assert.equal(clock.pending(), 0, 'the first generator left no timer behind');
    });

    test('options out of range are refused with BAD_INPUT; an account that never ran one is idle', async () => {
      for (const bad of [
        { ratePerSec: 0 },
        { ratePerSec: 201 },
        { ratePerSec: Number.NaN },
        { ratePerSec: 1, answerRate: 1.5 },
        { ratePerSec: 1, durationSec: 0 },
        { ratePerSec: 1, talk: { minSec: 10, maxSec: 5 } },
        { ratePerSec: 1, maxConcurrent: 2.5 },
      ])
        await assert.rejects(traffic.start(account, bad), { code: 'BAD_INPUT' }, JSON.stringify(bad));
      assert.equal(traffic.status(account.id).running, false);
      assert.equal(traffic.status(account.id).startedAt, null);
      assert.equal(clock.pending(), 0);
    });
  });
}

describe('traffic API (/api/v1/sim/traffic)', () => {
  const clock = createManualClock(Date.UTC(2026, 10, 26, 9));
  let server: TestServer;
  let acme: Session;

  before(async () => {
    server = await startServer('sqlite', { clock });
    acme = await server.account('traffic-api.localhost');
    const trunk = await acme.admin('POST', '/api/v1/trunks', {
      number: '+380442246595',
      name: 'Main',
      destination: { type: 'employee', id: (await acme.admin('GET', '/api/v1/employees')).json()[0].id },
    });
    assert.equal(trunk.status, 201, trunk.text);
  });
  after(() => server?.close());

  test('start → status → stop answer the generator status; the calls arrive on the server clock', async () => {
    const idle = await acme.admin('GET', '/api/v1/sim/traffic');
    assert.equal(idle.status, 200);
    assert.equal(idle.json().running, false);
    assert.equal(idle.json().startedAt, null);

    const started = await acme.admin('POST', '/api/v1/sim/traffic', {
      ratePerSec: 2,
      durationSec: 30,
      answerRate: 0.5,
      talk: { minSec: 1, maxSec: 2 },
      maxConcurrent: 10,
    });
    assert.equal(started.status, 200, started.text);
    assert.equal(started.json().running, true);
    assert.equal(started.json().startedAt, clock.now());
    assert.equal(started.json().maxConcurrent, 10);

    await clock.advance(10_000);
    const status = (await acme.admin('GET', '/api/v1/sim/traffic')).json();
    assert.equal(status.running, true);
    assert.ok(status.placed > 0, JSON.stringify(status));

    const stopped = await acme.admin('DELETE', '/api/v1/sim/traffic');
    assert.equal(stopped.status, 200);
    assert.equal(stopped.json().running, false);
    assert.equal(stopped.json().stoppedAt, clock.now());
    assert.deepEqual((await acme.admin('GET', '/api/v1/sim/traffic')).json(), stopped.json());
    await clock.advance(120_000);
    await server.built.simulator.engine.idle();
  });

  test('bad options are a plain-text 400', async () => {
    for (const body of [
      {},
      { ratePerSec: 0 },
      { ratePerSec: 500 },
      { ratePerSec: '2' },
      { ratePerSec: 1, answerRate: 2 },
      { ratePerSec: 1, maxConcurrent: 0 },
      { ratePerSec: 1, talk: { minSec: 9, maxSec: 3 } },
    ]) {
      const r = await acme.admin('POST', '/api/v1/sim/traffic', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.match(String(r.headers['content-type']), /^text\/plain/);
      assert.notEqual(r.text, '');
    }
    assert.equal((await acme.admin('GET', '/api/v1/sim/traffic')).json().running, false);
  });

  test('the traffic API needs the admin key', async () => {
    const r = await server.request('GET', '/api/v1/sim/traffic');
    assert.equal(r.status, 403);
  });
});
