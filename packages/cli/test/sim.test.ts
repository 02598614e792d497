// `dzvin call|calls|sim …`: the real binary (a child process) against a real server whose clock
// the test moves by hand, so a call rings until the test says otherwise.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../../server/src/domain/clock.ts';
import { type Session, startServer, type TestServer } from '../../server/test/support/harness.ts';
import { type Run, runDzvin } from './support/run.ts';

/** Runs `dzvin args…` with this file's HOME (plus PATH/TMPDIR), never the caller's DZVIN_*. */
const dzvin = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
  runDzvin(args, { HOME: home, ...env });

/** A `--json` run that must succeed; its stdout parsed. */
// biome-ignore lint/suspicious/noExplicitAny: test convenience
async function json(args: string[]): Promise<any> {
  const r = await dzvin([...args, '--json'], acmeEnv);
  assert.equal(r.code, 0, `dzvin ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const TRUNK = '+380442246595';
const clock = createManualClock(Date.UTC(2026, 10, 26, 9));
let tmp: string;
let home: string;
let server: TestServer;
let acme: Session;
let acmeEnv: Record<string, string>;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-cli-sim-'));
  home = path.join(tmp, 'home');
  fs.mkdirSync(home);
  server = await startServer('sqlite', { clock });
  acme = await server.account('acme.localhost');
  const [owner] = (await acme.admin('GET', '/api/v1/employees')).json();
  const second = await acme.admin('POST', '/api/v1/employees', { displayName: 'Андрій', ext: '002' });
  assert.equal(second.status, 201, second.text);
  const trunk = await acme.admin('POST', '/api/v1/trunks', {
    number: TRUNK,
    name: 'Main',
    destination: { type: 'employee', id: owner.id },
    isDefault: true,
  });
  assert.equal(trunk.status, 201, trunk.text);
  acmeEnv = { DZVIN_URL: server.baseUrl, DZVIN_API_KEY: acme.apiKey };
});

after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Ends every call the server still has, by letting clock time pass. */
async function drain() {
  await clock.advance(600_000);
  await server.built.simulator.engine.idle();
}

/** The company call record of `uuid`, from the documented company.api. */
async function companyRecord(uuid: string) {
  const r = await acme.get(
    `/rest/calls/company.api?timeFrom=${clock.now() - 86_400_000}&timeTo=${clock.now()}`,
  );
  assert.equal(r.status, 200, r.text);
  return r.json().find((c: { uuid: string }) => c.uuid === uuid);
}

describe('dzvin call / calls (Phonet REST through a session)', () => {
  test('call make returns a uuid, calls active lists it ringing, calls hangup ends it', async () => {
    const made = await json(['call', 'make', '001', '0671234567']);
    assert.match(made.uuid, /^[0-9a-f]{32}$/);
    const active = await json(['calls', 'active']);
    // A click-to-call is one call: active/v3 lists it under makeCall's uuid.
    const leg = active.find((c: { uuid: string; parentUuid: string | null }) => c.uuid === made.uuid);
    assert.ok(leg, JSON.stringify(active));
    assert.equal(leg.parentUuid, null);
    assert.equal(leg.lgDirection, 2);
    assert.equal(leg.lastEvent, 'call.dial');
    assert.equal(leg.leg.ext, '001');

    const table = await dzvin(['calls', 'active'], acmeEnv);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /│ uuid +│ direction │ employee +│ other party +│ state +│ since +│/);
    // The other party's number, even though no CRM knows it (otherLegs[].num).
    assert.match(table.stdout, /│ \+380671234567 │ ringing │/);
    assert.match(table.stdout, new RegExp(`│ ${leg.uuid} │ outgoing +│ 001 Owner of acme\\.localhost │`));
    assert.match(table.stdout, /│ ringing │ 2026-11-26T09:00:00\.000Z │/);

    assert.deepEqual(await json(['calls', 'hangup', made.uuid]), { uuid: made.uuid, hungUp: true });
    assert.deepEqual(await json(['calls', 'active']), []);
    assert.equal((await companyRecord(made.uuid))?.disposition, 1, 'ended before anyone answered');
    const again = await dzvin(['calls', 'hangup', made.uuid], acmeEnv);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /\(HTTP 404\)\n$/);
  });

  test('makeCall refusals are exit 1 with the server’s reason', async () => {
    const r = await dzvin(['call', 'make', '999', '0671234567'], acmeEnv);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^dzvin: No employee with ext 999 \(HTTP 404\)\n$/);
  });
});

describe('dzvin sim', () => {
  test('an incoming call: sim call, sim answer, calls hangup round-trip to an answered record', async () => {
    const { uuid } = await json(['sim', 'call', '0505826633', TRUNK]);
    const [ringing] = await json(['calls', 'active']);
    assert.equal(ringing.uuid, uuid, 'a call to one employee is one call');
    assert.equal(ringing.parentUuid, null);
    assert.equal(ringing.lgDirection, 4);
    assert.equal(ringing.lastEvent, 'call.dial');

    assert.deepEqual(await json(['sim', 'answer', uuid, '--ext', '001']), {
      uuid,
      answered: true,
      ext: '001',
    });
    const [talking] = await json(['calls', 'active']);
    assert.equal(talking.lastEvent, 'call.bridge');
    await clock.advance(7000);
    await json(['calls', 'hangup', uuid]);
    assert.deepEqual(await json(['calls', 'active']), []);
    const record = await companyRecord(uuid);
    assert.equal(record?.disposition, 0);
    assert.equal(record?.billSecs, 7);
    assert.equal(record?.otherLegNum, '+380505826633');
  });

  test('reject, digit outside an IVR, transfer and sim hangup act on the call', async () => {
    const a = await json(['sim', 'call', '+380505826634', TRUNK]);
    assert.deepEqual(await json(['sim', 'reject', a.uuid]), { uuid: a.uuid, rejected: true, ext: null });
    // The only phone refused: the call was busy (4), as when an employee's phone is set to busy.
    assert.equal((await companyRecord(a.uuid))?.disposition, 4);

    const b = await json(['sim', 'call', '+380505826635', TRUNK]);
    const notIvr = await dzvin(['sim', 'digit', b.uuid, '1'], acmeEnv);
    assert.equal(notIvr.code, 1);
    assert.match(notIvr.stderr, /not in an IVR \(HTTP 409\)/);
    await json(['sim', 'answer', b.uuid]);
    assert.deepEqual(await json(['sim', 'transfer', b.uuid, '002']), { uuid: b.uuid, transferredTo: '002' });
    await clock.advance(3000); // 002 answers after the default 3 s
    const [moved] = await json(['calls', 'active']);
    assert.equal(moved.leg.ext, '002');
    assert.deepEqual(await json(['sim', 'hangup', b.uuid]), { uuid: b.uuid, hungUp: true });
    assert.equal((await companyRecord(b.uuid))?.transferHistory, '001 > 002');
  });

  test('pause/unpause, behaviour, external and talk change the simulated office', async () => {
    assert.deepEqual(await json(['sim', 'pause', '002']), { ext: '002', paused: true });
    const paused = (await acme.admin('GET', '/api/v1/employees')).json();
    assert.equal(paused.find((e: { ext: string }) => e.ext === '002').paused, true);
    assert.deepEqual(await json(['sim', 'unpause', '002']), { ext: '002', paused: false });

    assert.deepEqual(await json(['sim', 'behaviour', '001', 'busy']), {
      ext: '001',
      behaviour: { mode: 'busy' },
    });
    const busy = await json(['sim', 'call', '+380505826636', TRUNK]);
    await clock.advance(1000);
    assert.equal((await companyRecord(busy.uuid))?.disposition, 4);
    assert.deepEqual((await json(['sim', 'behaviour', '001', 'answer:2:1'])).behaviour, {
      mode: 'answer',
      answerAfterSec: 2,
      probability: 1,
    });
    assert.equal((await json(['sim', 'behaviour', '001', 'default'])).behaviour, null);

    assert.deepEqual(await json(['sim', 'external', '*', 'congestion']), {
      number: '*',
      behaviour: { mode: 'congestion' },
    });
    const out = await json(['call', 'make', '001', '0671234500']);
    await clock.advance(3500); // 001 answers after 3 s, the number is congested 0.2 s later
    assert.equal((await companyRecord(out.uuid))?.disposition, 2);
    await json(['sim', 'external', '*', 'default']);

    assert.deepEqual(await json(['sim', 'talk', '5', '10']), { talk: { minSec: 5, maxSec: 10 } });
    assert.deepEqual(await json(['sim', 'talk', 'default']), { talk: null });
    const human = await dzvin(['sim', 'talk', '30'], acmeEnv);
    assert.equal(human.code, 0, human.stderr);
    assert.equal(human.stdout, 'Calls will last 30 s.\n');
    await json(['sim', 'talk', 'default']);
    await drain();
  });

  test('traffic start / status / stop with --json, on the server clock', async () => {
    const idle = await json(['sim', 'traffic', 'status']);
    assert.equal(idle.running, false);
    const started = await json([
      'sim',
      'traffic',
      'start',
      '--rate',
      '2',
      '--duration',
      '60',
      '--answer-rate',
      '0.8',
      '--talk',
      '20-90',
      '--max-concurrent',
      '5',
    ]);
    assert.equal(started.running, true);
    assert.equal(started.ratePerSec, 2);
    assert.equal(started.durationSec, 60);
    assert.equal(started.maxConcurrent, 5);
    assert.equal(started.startedAt, clock.now());

    await clock.advance(20_000);
    const running = await json(['sim', 'traffic', 'status']);
    assert.equal(running.running, true);
    assert.ok(running.placed > 0, JSON.stringify(running));
    assert.ok(running.placed + running.dropped + running.failed > 10, JSON.stringify(running));

    const stopped = await json(['sim', 'traffic', 'stop']);
    assert.equal(stopped.running, false);
    assert.equal(stopped.stoppedAt, clock.now());
    assert.ok(stopped.placed >= running.placed);
    assert.deepEqual(await json(['sim', 'traffic', 'status']), stopped);

    const human = await dzvin(['sim', 'traffic', 'status'], acmeEnv);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /│ running +│ no +│/);
    assert.match(human.stdout, new RegExp(`│ placed +│ ${stopped.placed} +│`));

    // The employees answer with probability 0.8 from now on; back to the default phone.
    await json(['sim', 'behaviour', '001', 'default']);
    await json(['sim', 'behaviour', '002', 'default']);
    await drain();
  });

  test('bad usage is exit 2 and sends nothing', async () => {
    const before = await json(['sim', 'traffic', 'status']);
    const runs = await Promise.all(
      [
        ['call', 'make', '001'],
        ['call', 'make', 'abc', '0671234567'],
        ['sim', 'digit', 'abc', '12'],
        ['sim', 'answer', 'abc', '--ext', 'x'],
        ['sim', 'behaviour', '001', 'answer:soon'],
        ['sim', 'behaviour', '001', 'congestion'],
        ['sim', 'external', '*', 'sing'],
        ['sim', 'talk', '10', '5'],
        ['sim', 'pause', 'x1'],
        ['sim', 'traffic', 'start'],
        ['sim', 'traffic', 'start', '--rate', '0'],
        ['sim', 'traffic', 'start', '--rate', '2', '--talk', '90-20'],
        ['sim', 'traffic', 'start', '--rate', '2', '--answer-rate', '1.5'],
        ['sim', 'traffic', 'start', '--rate', '2', '--max-concurrent', '0'],
        ['sim', 'traffic', 'go'],
      ].map(async (args) => ({ args, r: await dzvin(args, acmeEnv) })),
    );
    for (const { args, r } of runs) {
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.notEqual(r.stderr, '');
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(await json(['sim', 'traffic', 'status']), before, 'no generator was started');
    const noKey = await dzvin(['calls', 'active'], { DZVIN_URL: server.baseUrl });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /^dzvin: no API key/);
  });
});
