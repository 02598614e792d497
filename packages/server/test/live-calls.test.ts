// The calls in progress kept in the database (domain/calls/live-ledger.ts, migration 0017): a
// process that dies with calls up leaves rows that the next process closes — hangup event and
// history written once, ended when the dead process was last alive.
//
// In-process (both dialects): a call engine that is simply abandoned (nothing more reaches the
// database: what a SIGKILL leaves) and a second engine over the same database that recovers.
// Across processes (SQLite file): a real Dzvin child process SIGKILLed with a call up, started
// again over the same file, and a CRM receiving the webhooks over loopback.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createCallBus } from '../src/domain/calls/call-engine.ts';
import type { FinishedCall } from '../src/domain/calls/call-model.ts';
import { createManualClock } from '../src/domain/clock.ts';
import { createDirectoryService } from '../src/domain/directory/directory-service.ts';
import type { AccountRecord, Store } from '../src/domain/ports.ts';
import { createFileRecorder } from '../src/engine/recording/file-recorder.ts';
import { createSimulator } from '../src/engine/simulator/simulator.ts';
import { createCallEventCapture } from '../src/integrations/outbox/capture.ts';
import { createOutbox } from '../src/integrations/outbox/outbox.ts';
import { createStore } from '../src/store/create-store.ts';
import { openDatabase } from '../src/store/db.ts';
import { spawnAppChild } from './support/app-child-process.ts';
import { startCrmReceiver } from './support/crm-receiver.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { createTestOffice, type TestOffice } from './support/office.ts';
import { until } from './support/wait.ts';

for (const dialect of DIALECTS) {
  describe(`calls in progress survive their process [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    let office: TestOffice;
    let store: Store;
    let account: AccountRecord;
    let connectionId: number;
    const start = Date.UTC(2026, 11, 3, 9);
    const clock = createManualClock(start);

    before(async () => {
      office = await createTestOffice(dialect, clock, { domain: 'live.localhost', ivrTimeoutSec: 8 });
      ({ store, account } = office);
      // A CRM that takes call events: the outbox rows are what it would be sent.
      connectionId = (
        await createDirectoryService({ store, clock }).crm.create(account, {
          name: 'crm',
          eventsUrl: 'http://127.0.0.1:9/events',
        })
      ).id;
    });
    after(async () => office.close());

    /**
     * One process's call engine over the office's database, wired as the server wires it, on a
     * clock of its own: a "dead" engine's clock is simply never moved again (its timers never run).
     */
    function engine(
      nodeId: string,
      at: number,
      onError: (err: unknown) => void = (err) => assert.fail(String(err)),
    ) {
      const clock = createManualClock(at);
      const bus = createCallBus();
      const saved: FinishedCall[] = [];
      bus.on((e) => {
        if (e.type === 'call.saved') saved.push(e.record);
      });
      const capture = createCallEventCapture({
        store,
        outbox: createOutbox({ clock }),
        bus,
        clock,
        onError,
      });
      const recorder = createFileRecorder({ dir: office.recordingsDir, timers: clock, clock });
      const sim = createSimulator({
        store,
        clock,
        timers: clock,
        recorder,
        bus,
        random: () => 0.5,
        liveCalls: { nodeId, drainedByEvents: true },
        saveHook: {
          before: () => capture.beforeSave(),
          inTransaction: (tx, records) => capture.inSave(tx, records),
        },
      });
      const live = sim.liveCalls;
      assert.ok(live);
      capture.join((tx) => live.drain(tx));
      for (const ext of ['001', '002', '003'])
        sim.sim.setEmployeeBehaviour(account.id, ext, { mode: 'manual' });
      sim.sim.setTalkTime(account.id, { minSec: 3600, maxSec: 3600 });
      return { sim, live, saved, capture, clock };
    }

    const events = async (uuid: string) =>
      (await store.outbox.list(account.id, { connectionId, limit: 1000 }))
        .map((d) => JSON.parse(d.payload) as { event: string; uuid: string; parentUuid: string | null })
        .filter((p) => p.uuid === uuid || p.parentUuid === uuid)
        .map((p) => `${p.uuid === uuid ? 'call' : 'leg'}:${p.event}`)
        .sort();

    test('an answered call of a dead process gets its hangup and history, ended when it was last alive', async () => {
      const a = engine('node-a', start);
      const { uuid } = await a.sim.sim.incoming(account, '0505826633', '+380800218500');
      await a.clock.advance(4000);
      await a.sim.sim.answer(account.id, uuid, '002');
      await a.capture.flush();
      assert.equal((await a.sim.engine.active(account.id)).length, 1, 'the call is up, 002 talking');
      await a.clock.advance(10_000);
      await a.live.touch();
      const seenAt = a.clock.now();
      // node-a dies here: nothing more of it reaches the database.
      assert.equal(await store.calls.byUuid(uuid), null, 'no history while it is in progress');
      const before = await events(uuid);
      assert.ok(
        before.includes('call:call.dial') && before.includes('leg:call.bridge'),
        `the CRM saw it start: ${before}`,
      );
      assert.ok(!before.some((e) => e.endsWith('hangup') && e.startsWith('call:')), 'and never end');

      const b = engine('node-b', seenAt + 30_000);
      // node-a is still "alive" for this caller: nothing is closed.
      assert.equal(await b.live.recover(['node-a', 'node-b'], b.clock.now()), 0);
      assert.equal(await b.live.recover(['node-b'], b.clock.now()), 1, 'node-b closes the call of node-a');
      const rec = await store.calls.byUuid(uuid);
      assert.ok(rec, 'the company record is written');
      assert.equal(rec.kind, 'company');
      assert.equal(rec.disposition, 0, 'answered before the cut');
      assert.equal(rec.endAt, seenAt, 'ended when node-a was last alive');
      assert.equal(rec.billSecs, 10);
      assert.equal(rec.duration, 14);
      assert.equal(rec.leg?.ext, '002');
      // 001 and 003 stopped ringing when 002 answered (saved by node-a); 002's leg by node-b.
      const legs = [...a.saved, ...b.saved].filter((r) => r.kind === 'user' && r.parentUuid === uuid);
      assert.deepEqual(
        legs.map((r) => [r.leg?.ext, r.disposition]).sort(),
        [
          ['001', 1],
          ['002', 0],
          ['003', 1],
        ],
        'every leg has one record: the one talking answered, the ones that rang no answer',
      );
      assert.deepEqual(
        b.saved.map((r) => r.leg?.ext),
        ['002', '002'],
        'node-b wrote only what was still in progress',
      );
      const got = await events(uuid);
      assert.equal(got.filter((e) => e === 'call:call.hangup').length, 1, 'one company hangup');
      assert.equal(got.filter((e) => e === 'leg:call.hangup').length, 3, 'a hangup per leg');
      // Nothing left to close; another recoverer finds nothing.
      assert.equal(await engine('node-c', seenAt + 90_000).live.recover(['node-c'], seenAt + 90_000), 0);
    });

    test('a call not answered yet is a failure; legs already saved are not written twice', async () => {
      const a = engine('node-d', start + 3_600_000);
      const { uuid } = await a.sim.sim.incoming(account, '0505826634', '+380800218500');
      await a.clock.advance(2000);
      // 003 refuses while the others ring: its leg is saved now, the call goes on.
      await a.sim.sim.reject(account.id, uuid, '003');
      await a.capture.flush();
      assert.equal(a.saved.filter((r) => r.leg?.ext === '003').length, 1);
      await a.clock.advance(3000);
      await a.live.touch();
      const b = engine('node-e', a.clock.now() + 60_000);
      // Not seen for 15 s yet: left alone; then closed.
      assert.equal(await b.live.recover(['node-e'], a.clock.now() - 1), 0);
      assert.equal(await b.live.recover(['node-e'], b.clock.now() - 15_000), 1);
      const rec = await store.calls.byUuid(uuid);
      assert.equal(rec?.disposition, 3, 'cut before anyone answered: a failure');
      assert.equal(rec?.billSecs, 0);
      assert.equal(rec?.duration, 5);
      assert.deepEqual(
        b.saved.map((r) => (r.kind === 'company' ? 'call' : r.leg?.ext)).sort(),
        ['001', '002', 'call'],
        'the refused leg is not saved again',
      );
      assert.equal(
        (await events(uuid)).filter((e) => e === 'leg:call.hangup').length,
        3,
        "003's hangup once, then 001's and 002's",
      );
    });

    test('a call that ends normally leaves no row; two recoverers at once close an orphan once', async () => {
      const t0 = start + 7_200_000;
      const a = engine('node-f', t0);
      const { uuid } = await a.sim.sim.incoming(account, '0505826635', '+380443334455');
      await a.clock.advance(1000);
      await a.sim.sim.answer(account.id, uuid, '001');
      await a.capture.flush();
      await a.sim.engine.hangup(account.id, uuid);
      await a.sim.engine.idle();
      assert.equal((await store.calls.byUuid(uuid))?.disposition, 0);
      assert.equal(
        await engine('node-g', t0 + 60_000).live.recover(['node-g'], t0 + 60_000),
        0,
        'nothing to close',
      );

      const dead = engine('node-h', t0 + 120_000);
      const second = await dead.sim.sim.incoming(account, '0505826636', '+380443334455');
      await dead.clock.advance(1000);
      await dead.sim.sim.answer(account.id, second.uuid, '001');
      await dead.capture.flush();
      await dead.live.touch();
      const later = dead.clock.now() + 20_000;
      const [x, y] = [engine('node-i', later), engine('node-j', later)];
      const closed = await Promise.all([
        x.live.recover(['node-i'], later),
        y.live.recover(['node-j'], later),
      ]);
      assert.equal(closed[0] + closed[1], 1, `closed once in all (${closed})`);
      assert.equal(
        (await events(second.uuid)).filter((e) => e === 'call:call.hangup').length,
        1,
        'one hangup event',
      );
      // The dead processes are forgotten once old and without calls; a live one with a call is not.
      const live = engine('node-k', later);
      const third = await live.sim.sim.incoming(account, '0505826637', '+380443334455');
      await live.capture.flush();
      await live.live.touch();
      assert.ok((await store.liveCalls.prune(later + 1)) >= 2, 'node-f… node-h forgotten');
      assert.equal(await store.liveCalls.prune(later + 1), 0);
      assert.deepEqual(
        await store.liveCalls.orphans([], later + 1, 10),
        [third.uuid],
        'node-k keeps its call',
      );
      await live.sim.engine.hangup(account.id, third.uuid);
      await live.sim.engine.idle();
      assert.deepEqual(await store.liveCalls.orphans([], later + 1, 10), [], 'ended: its row is gone');
    });

    test("a dial event's transaction that fails at commit is retried with the call's row", async () => {
      // The database refuses the commit of the first transaction that writes a row of
      // live_calls (a deferred check); the capture retries it, and the retry must carry the row
      // as well as the event: the call changes no more, so nothing else would write it.
      if (dialect === 'sqlite') {
        await sql`create table live_fail_parent (id integer primary key)`.execute(office.db);
        await sql`create table live_fail_child (id integer references live_fail_parent (id) deferrable initially deferred)`.execute(
          office.db,
        );
        await sql`create trigger live_fail after insert on live_calls begin insert into live_fail_child values (1); end`.execute(
          office.db,
        );
      } else {
        await sql`create function live_fail() returns trigger language plpgsql as $$ begin raise exception 'refused at commit'; end $$`.execute(
          office.db,
        );
        await sql`create constraint trigger live_fail after insert on live_calls deferrable initially deferred for each row execute function live_fail()`.execute(
          office.db,
        );
      }
      const errors: unknown[] = [];
      const a = engine('node-m', start + 10_800_000, (err) => {
        errors.push(err);
        // Only the first one: the retry (100 ms later) commits.
        if (errors.length === 1)
          void sql`drop trigger live_fail${sql.raw(dialect === 'sqlite' ? '' : ' on live_calls')}`.execute(
            office.db,
          );
      });
      const { uuid } = await a.sim.sim.incoming(account, '0505826638', '+380443334455');
      await a.capture.flush();
      assert.ok(errors.length >= 1, 'the first transaction did not commit');
      assert.ok((await events(uuid)).includes('call:call.dial'), 'the dial event is written by the retry');
      assert.ok(
        (await store.liveCalls.orphans([], Number.MAX_SAFE_INTEGER, 100)).includes(uuid),
        "and so is the call's row",
      );
      await a.sim.engine.hangup(account.id, uuid);
      await a.sim.engine.idle();
      assert.ok(!(await store.liveCalls.orphans([], Number.MAX_SAFE_INTEGER, 100)).includes(uuid));
    });
  });
}

describe('a Dzvin process SIGKILLed with a call up', () => {
  let dir: string;
  let file: string;
  let crm: Awaited<ReturnType<typeof startCrmReceiver>>;
  let accountId: number;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-live-kill-'));
    file = path.join(dir, 'dzvin.sqlite');
    crm = await startCrmReceiver('/events');
    const clock = { now: () => Date.now() };
    // The office and a CRM connection, written before the server starts.
    const db = await openDatabase(`sqlite:${file}`);
    const store = createStore(db.db);
    const { createAccountService } = await import('../src/domain/accounts/account-service.ts');
    const account = (await createAccountService({ store, clock }).create({ domain: 'kill.localhost' }))
      .account;
    accountId = account.id;
    const directory = createDirectoryService({ store, clock });
    const e = await directory.employees.create(account, { displayName: 'Олена', ext: '001' });
    await directory.trunks.create(account, {
      number: '+380443334455',
      name: 'Олена',
      destination: { type: 'employee', id: e.id },
      isDefault: true,
    });
    await directory.crm.create(account, { name: 'crm', eventsUrl: crm.url });
    await db.close();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await crm.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function child(call: boolean) {
    const c = spawnAppChild({
      DZVIN_CHILD_DB: file,
      DZVIN_CHILD_REC: path.join(dir, 'recordings'),
      ...(call ? { DZVIN_CHILD_CALL: String(accountId) } : {}),
    });
    children.push(c.p);
    return c;
  }

  test('on restart the call gets its hangup and its history record; nothing is left in progress', async (t) => {
    const first = child(true);
    await until(
      () => first.lines.some((l) => l.startsWith('up ')),
      'the call is up in the first process',
      60_000,
    );
    const uuid = first.lines.find((l) => l.startsWith('up '))!.slice(3);
    const seen = () => crm.requests.filter((h) => h.json.uuid === uuid).map((h) => h.json.event as string);
    await until(() => seen().includes('call.bridge'), 'the CRM saw the call answered', 20_000);
    // Past a few touches of its process, then killed: no shutdown, nothing more written.
    await new Promise((r) => setTimeout(r, 8000));
    first.p.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();
    assert.ok(!seen().includes('call.hangup'), 'no hangup before the restart');
    // Restarted more than 5 s after the dead process was last seen: its calls are closed at start
    // (sooner, they would be closed by the first tick 15 s after it was last seen).
    await new Promise((r) => setTimeout(r, 5500));

    const second = child(false);
    // `ready` and the metric line are two writes: the second may arrive in a later chunk.
    await until(
      () => second.lines.some((l) => l.startsWith('metric ')),
      'the second process started and printed its metric',
      60_000,
    );
    assert.ok(
      second.lines.includes('metric dzvin_calls_closed_after_crash_total 1'),
      `the restarted process counts the call it closed: ${second.lines.filter((l) => l.startsWith('metric'))}`,
    );
    await until(() => seen().includes('call.hangup'), 'the hangup reached the CRM', 30_000).catch(
      async (err) => {
        // What the database says, for a failure's report.
        const db = await openDatabase(`sqlite:${file}`);
        try {
          const rows = await db.db.selectFrom('outbox').select(['status', 'payload', 'attempts']).execute();
          const mine = rows
            .filter((r) => r.payload.includes(uuid))
            .map((r) => `${JSON.parse(r.payload).event}:${r.status}:${r.attempts}`);
          const live = await db.db.selectFrom('live_calls').select(['uuid', 'node_id']).execute();
          const rec = await createStore(db.db).calls.byUuid(uuid);
          throw new Error(
            `${err.message}; the CRM got ${seen()}; outbox ${mine}; live_calls ${JSON.stringify(live)}; history ${rec ? `disposition ${rec.disposition}` : 'none'}`,
          );
        } finally {
          await db.close();
        }
      },
    );
    const hangup = crm.requests.find((h) => h.json.uuid === uuid && h.json.event === 'call.hangup')!.json;
    assert.equal(hangup.uuid, uuid);
    assert.equal(typeof hangup.bridgeAt, 'number', 'answered: bridgeAt set');
    const db = await openDatabase(`sqlite:${file}`);
    try {
      const store = createStore(db.db);
      const rec = await store.calls.byUuid(uuid);
      assert.ok(rec, 'the history record is written');
      assert.equal(rec.disposition, 0);
      assert.ok(
        rec.endAt <= killedAt && rec.endAt >= killedAt - 5000,
        `ended within a couple of touches of the kill, long after the answer (${killedAt - rec.endAt} ms before)`,
      );
      // Touched every 2 s: the cut is the last touch, at most one interval before the kill.
      assert.equal(rec.bridgeAt, hangup.bridgeAt, 'answered when the CRM was told');
      assert.equal(
        rec.billSecs,
        Math.round((rec.endAt - (rec.bridgeAt ?? 0)) / 1000),
        'billed up to the cut',
      );
      // The ~8 s recorded before the kill are kept (up to the last second's flush): three WAV
      // files whose headers match their sizes, as a finished recording's.
      assert.ok(rec.recordingUuid, 'the recording is kept');
      const recDir = path.join(dir, 'recordings');
      assert.deepEqual(
        fs.readdirSync(recDir).filter((f) => f.endsWith('.part')),
        [],
        'no .part file is left',
      );
      for (const name of [
        `${rec.recordingUuid}.wav`,
        `${rec.recordingUuid}-rx.wav`,
        `${rec.recordingUuid}-tx.wav`,
      ]) {
        const wav = fs.readFileSync(path.join(recDir, name));
        assert.equal(wav.toString('ascii', 0, 4), 'RIFF', name);
        assert.equal(wav.readUInt32LE(4), wav.length - 8, `${name}: RIFF size`);
        assert.equal(wav.readUInt32LE(40), wav.length - 44, `${name}: data size`);
        const seconds = (wav.length - 44) / 16_000;
        assert.ok(seconds >= 5 && seconds <= 10, `${name}: ${seconds} s of the ~8 s before the kill`);
      }
      t.diagnostic(
        `closed by the restarted process: ended ${killedAt - rec.endAt} ms before the kill, billSecs ${rec.billSecs}`,
      );
    } finally {
      await db.close();
    }
    assert.equal(seen().filter((e) => e === 'call.hangup').length, 1, 'one hangup');
    second.p.kill('SIGTERM');
    await second.exited;
    assert.equal(second.p.exitCode, 0);
  });
});
