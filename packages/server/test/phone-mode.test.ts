// The account's phone setting (issue 15, "Hybrid office"): `phones` = simulated | real | hybrid,
// set through the admin API (PATCH /api/v1/account) and applied by the call core when it picks a
// phone driver. hybrid: a registered phone rings over SIP, an employee without one is answered by
// a simulated phone; real: an employee without a registered phone is offline (a direct call ends
// no answer, a ring group skips them) — a real caller is never "answered" by a simulated phone;
// simulated: every phone is simulated, registered or not. The default is hybrid in
// DZVIN_MODE=local and real in DZVIN_MODE=production.
//
// The first suites run on SQLite and PostgreSQL with a manual clock and no SIP engine (no phone
// can register, so `real` makes every employee offline). The last one starts real Kamailio,
// rtpengine and a baresip softphone (skipped loudly without them, failing under
// DZVIN_REQUIRE_ALL=1) and checks which driver serves a registered employee in each mode.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { toAccountView } from '../src/domain/accounts/account-service.ts';
import { createManualClock } from '../src/domain/clock.ts';
import { createStore, openDatabase } from '../src/index.ts';
import { migrateUpTo } from '../src/store/migrations.ts';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import { createTestDatabaseUrl, DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason } from './support/kamailio.ts';
import { rtpengineSkipReason } from './support/rtpengine.ts';
import { type SipStack, startSipStack } from './support/sip-stack.ts';
import { sleep, until } from './support/wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

const T_002 = '+380443334402'; // → employee 002
const T_GROUP = '+380443334400'; // → ring-all group 100 (001, 002)
const CALLER = '+380501112233';

/** A small office: 001 (the API user), 002, group 100 of both, a trunk to 002 and one to the group. */
async function office(s: Session) {
  const emps = (await s.admin('GET', '/api/v1/employees')).json() as Json[];
  const e002 = (await s.admin('POST', '/api/v1/employees', { displayName: 'Андрій', ext: '002' })).json();
  const g = await s.admin('POST', '/api/v1/groups', {
    name: 'Офіс',
    ext: '100',
    strategy: 'simultaneous',
    ringTimeoutSec: 20,
    members: [emps[0].id, e002.id],
  });
  assert.equal(g.status, 201, g.text);
  for (const [number, destination, isDefault] of [
    [T_002, { type: 'employee', id: e002.id }, true],
    [T_GROUP, { type: 'group', id: g.json().id }, false],
  ] as const) {
    const t = await s.admin('POST', '/api/v1/trunks', { number, name: number, destination, isDefault });
    assert.equal(t.status, 201, t.text);
  }
}

for (const dialect of DIALECTS) {
  describe(`the account's phones: simulated | real | hybrid [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    const clock = createManualClock(Date.UTC(2026, 11, 2, 9));
    let server: TestServer;
    let s: Session;

    before(async () => {
      server = await startServer(dialect, { clock });
      s = await server.account('phones.localhost');
      await office(s);
      await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 10, maxSec: 10 });
    });
    after(() => server.close());
    afterEach(async () => {
      await clock.advance(120_000);
      await server.built.simulator.engine.idle();
    });

    const setPhones = async (phones: string | null) => {
      const r = await s.admin('PATCH', '/api/v1/account', { phones });
      assert.equal(r.status, 200, r.text);
      return r.json();
    };
    const since = () => clock.now() - 3_600_000;
    const history = async (kind: 'company' | 'users'): Promise<Json[]> => {
      const r = await s.get(`/rest/calls/${kind}.api?timeFrom=${since()}&timeTo=${clock.now()}&limit=50`);
      assert.equal(r.status, 200, r.text);
      return r.json();
    };
    /** An external caller on `trunk`; the call's company.api record once it has ended (1 min later). */
    async function callAndEnd(trunk: string) {
      const placed = await s.admin('POST', '/api/v1/sim/calls', { from: CALLER, trunk });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json();
      // Simulated phones answer after 3 s and talk for a while; a minute ends any call.
      await clock.advance(60_000);
      await server.built.simulator.engine.idle();
      const record = (await history('company')).find((c) => c.uuid === uuid);
      assert.ok(record, `company.api has ${uuid}`);
      return { uuid, record, legs: (await history('users')).filter((l) => l.parentUuid === uuid) };
    }

    test('local mode: the default is hybrid (no SIP engine: every phone simulated, calls answered)', async () => {
      const a = (await s.admin('GET', '/api/v1/account')).json();
      assert.equal(a.phones, 'hybrid');
      assert.equal(a.phonesDefault, true);
      const { record } = await callAndEnd(T_002);
      assert.equal(record.disposition, 0, 'answered by 002’s simulated phone');
      assert.ok(record.billSecs > 0);
    });

    test('real: a direct call to an employee with no registered phone ends no answer (1); no simulated phone answers it', async () => {
      const a = await setPhones('real');
      assert.equal(a.phones, 'real');
      assert.equal(a.phonesDefault, false);
      assert.equal((await s.admin('GET', '/api/v1/account')).json().phones, 'real', 'stored');
      const { record } = await callAndEnd(T_002);
      assert.equal(record.disposition, 1);
      assert.equal(record.billSecs, 0);
      assert.equal(record.bridgeAt ?? null, null, 'never bridged: nobody answered');
      // Click-to-call from the employee's phone: refused up front, with the reason.
      const mc = await s.post('/rest/user/makeCall', { legExt: '002', otherLegNum: '+380993034330' });
      assert.equal(mc.status, 409, mc.text);
      assert.match(String(mc.headers['content-type']), /^text\/plain/);
      assert.match(mc.text, /002.*no phone registered.*real/);
      // The simulation API's "employee dials out" has no phone to dial from either.
      const out = await s.admin('POST', '/api/v1/sim/outgoing', { fromExt: '002', number: '+380993034330' });
      assert.equal(out.status, 409, out.text);
      assert.match(out.text, /no phone/);
      // And back to hybrid: the same call is answered by the simulated phone (the setting decides).
      await setPhones('hybrid');
      assert.equal((await callAndEnd(T_002)).record.disposition, 0);
    });

    test('real: a ring group skips the employees without a registered phone (nobody rung: no answer)', async () => {
      await setPhones('hybrid');
      const ringing = await callAndEnd(T_GROUP);
      assert.equal(ringing.record.disposition, 0, 'hybrid: a simulated member answers');
      assert.equal(ringing.legs.length, 2, 'hybrid: both members rung');
      await setPhones('real');
      const skipped = await callAndEnd(T_GROUP);
      assert.equal(skipped.record.disposition, 1);
      assert.equal(skipped.legs.length, 0, 'real: no member was rung');
    });

    test('simulated: every employee is answered by a simulated phone (no SIP engine here either way)', async () => {
      await setPhones('simulated');
      assert.equal((await callAndEnd(T_002)).record.disposition, 0);
      const group = await callAndEnd(T_GROUP);
      assert.equal(group.record.disposition, 0);
      assert.equal(group.legs.length, 2);
    });

    test('null goes back to the server default; bad values are a 400 with a plain-text reason', async () => {
      await setPhones('real');
      const reset = await setPhones(null);
      assert.equal(reset.phones, 'hybrid');
      assert.equal(reset.phonesDefault, true);
      for (const phones of ['virtual', 'REAL', '', 1, true, ['real'], { mode: 'real' }]) {
        const r = await s.admin('PATCH', '/api/v1/account', { phones });
        assert.equal(r.status, 400, `${JSON.stringify(phones)}: ${r.text}`);
        assert.match(String(r.headers['content-type']), /^text\/plain/);
        assert.match(r.text, /phones/, r.text);
      }
      assert.equal((await s.admin('GET', '/api/v1/account')).json().phonesDefault, true, 'unchanged');
    });

    test('without a SIP engine the employees show phone: null', async () => {
      const list = (await s.admin('GET', '/api/v1/employees')).json() as Json[];
      assert.ok(list.length >= 2);
      for (const e of list) assert.equal(e.phone, null);
      const one = (await s.admin('GET', `/api/v1/employees/${list[0].id}`)).json();
      assert.equal(one.phone, null);
    });
  });

  test(`migration 0013: an account stored before it has no choice (the server's default) and can choose [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, async () => {
    const tdb = await createTestDatabaseUrl(dialect);
    try {
      const old =
        dialect === 'sqlite'
          ? new Kysely<unknown>({
              dialect: new SqliteDialect({ database: new SQLite(tdb.url.replace(/^sqlite:/, '')) }),
            })
          : new Kysely<unknown>({
              dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: tdb.url }) }),
            });
      await migrateUpTo(old, dialect, '0012_sip_credentials');
      await sql`insert into accounts (domain, name, api_key_hash, default_country, created_at)
        values ('old.localhost', 'old', 'h', 'UA', 1)`.execute(old);
      await old.destroy();
      const db = await openDatabase(tdb.url);
      try {
        const store = createStore(db.db);
        const a = (await store.accounts.byDomain('old.localhost'))!;
        assert.equal(a.phones, null);
        assert.deepEqual(
          [toAccountView(a, 'real').phones, toAccountView(a, 'real').phonesDefault],
          ['real', true],
        );
        assert.equal(toAccountView(a, 'hybrid').phones, 'hybrid');
        await store.accounts.update(a.id, { phones: 'simulated' });
        const chosen = (await store.accounts.byId(a.id))!;
        assert.deepEqual(
          [toAccountView(chosen, 'real').phones, toAccountView(chosen, 'real').phonesDefault],
          ['simulated', false],
        );
      } finally {
        await db.close();
      }
    } finally {
      await tdb.drop();
    }
  });

  describe(`DZVIN_MODE=production: simulation is off unless the account turns it on [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    const clock = createManualClock(Date.UTC(2026, 11, 2, 9));
    let server: TestServer;
    let s: Session;
    before(async () => {
      server = await startServer(dialect, {
        clock,
        config: { mode: 'production', outgoing: { allowPrivate: false } },
      });
      s = await server.account('prod.localhost');
      await office(s);
      await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 10, maxSec: 10 });
    });
    after(() => server.close());

    test('the default is real: a caller is never answered by a simulated phone; phones: simulated turns it on', async () => {
      const a = (await s.admin('GET', '/api/v1/account')).json();
      assert.equal(a.phones, 'real');
      assert.equal(a.phonesDefault, true);
      const call = async () => {
        const { uuid } = (await s.admin('POST', '/api/v1/sim/calls', { from: CALLER, trunk: T_002 })).json();
        await clock.advance(60_000);
        await server.built.simulator.engine.idle();
        const now = clock.now();
        const rows = (
          await s.get(`/rest/calls/company.api?timeFrom=${now - 3_600_000}&timeTo=${now}`)
        ).json();
        return (rows as Json[]).find((c) => c.uuid === uuid);
      };
      assert.equal((await call()).disposition, 1, 'offline: nobody answered');
      const on = await s.admin('PATCH', '/api/v1/account', { phones: 'simulated' });
      assert.equal(on.json().phones, 'simulated');
      assert.equal((await call()).disposition, 0, 'the sandbox answers');
      const off = await s.admin('PATCH', '/api/v1/account', { phones: null });
      assert.equal(off.json().phones, 'real');
      assert.equal((await call()).disposition, 1);
    });
  });
}

const sipSkip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason();

describe('which driver serves a registered softphone in each mode (Kamailio, rtpengine, baresip)', {
  skip: sipSkip,
}, () => {
  const DOMAIN = 'phonemode.localhost';
  const PASSWORD = 'phone-mode-001-secret';
  let stack: SipStack;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let phone: Baresip;
  let accountId = 0;

  before(async () => {
    stack = await startSipStack();
    ({ kam, server } = stack);
    s = await server.account(DOMAIN);
    accountId = (await server.built.store.accounts.byDomain(DOMAIN))!.id;
    await office(s);
    // 002 (never registered) rings until told; simulated conversations last a minute.
    await s.admin('PUT', '/api/v1/sim/behaviours/employees/002', { mode: 'manual' });
    await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 60, maxSec: 60 });
    const e001 = (await s.admin('GET', '/api/v1/employees')).json()[0];
    assert.equal(e001.ext, '001');
    const set = await s.admin('PUT', `/api/v1/employees/${e001.id}/sip-password`, { password: PASSWORD });
    assert.equal(set.status, 204, set.text);
    phone = await startBaresip({
      user: '001',
      domain: DOMAIN,
      password: PASSWORD,
      proxyPort: kam.sipPort,
      answermode: 'auto',
    });
    await phone.register();
    await until(
      async () => {
        await server.built.sip?.refresh();
        return server.built.sip?.registered().includes(`${accountId}:001`);
      },
      'Dzvin to see 001 registered',
      15_000,
    );
  });
  after(async () => {
    await phone?.stop();
    await stack?.stop();
  });
  afterEach(async () => {
    for (const c of (await s.get('/rest/calls/active/v3')).json() as Json[])
      await s.get(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
    await server.built.simulator.engine.idle();
    await until(() => server.built.sip!.driver.legs().length === 0, 'no SIP leg left');
  });

  const setPhones = async (phones: string) =>
    assert.equal((await s.admin('PATCH', '/api/v1/account', { phones })).status, 200);
  const active = async (): Promise<Json[]> => (await s.get('/rest/calls/active/v3')).json();
  const incomingAt = (from: number) =>
    phone.events.slice(from).filter((e) => e.type === 'CALL_INCOMING' || e.type === 'CALL_ESTABLISHED');

  test('the employee view shows 001 registered (1 contact) and 002 not', async () => {
    const list = (await s.admin('GET', '/api/v1/employees')).json() as Json[];
    const byExt = new Map(list.map((e) => [e.ext, e]));
    assert.deepEqual(byExt.get('001').phone, { registered: true, contacts: 1 });
    assert.deepEqual(byExt.get('002').phone, { registered: false, contacts: 0 });
    // The Phonet-documented /rest/users is unchanged: no `phone` there.
    const users = (await s.get('/rest/users')).json() as Json[];
    assert.ok(users.length >= 2);
    for (const u of users) assert.equal('phone' in u, false);
  });

  test('hybrid: the registered 001 rings over SIP (the softphone answers)', async () => {
    await setPhones('hybrid');
    const from = phone.events.length;
    const { uuid } = (await s.admin('POST', '/api/v1/sim/calls', { from: CALLER, trunk: T_GROUP })).json();
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the softphone to answer', {
      from,
      ms: 10_000,
    });
    await until(async () => (await active()).some((c) => c.lastEvent === 'call.bridge'), 'bridged');
    assert.equal(server.built.sip!.driver.legs().length, 1, 'one SIP leg: 001');
    const answered = (await active()).find((c) => c.parentUuid === uuid && c.lastEvent === 'call.bridge');
    assert.equal(answered?.leg.ext, '001');
  });

  test('real: a group call rings the registered 001 over SIP and skips the unregistered 002', async () => {
    await setPhones('real');
    const from = phone.events.length;
    const { uuid } = (await s.admin('POST', '/api/v1/sim/calls', { from: CALLER, trunk: T_GROUP })).json();
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the softphone to answer', {
      from,
      ms: 10_000,
    });
    await until(async () => (await active()).some((c) => c.lastEvent === 'call.bridge'), 'bridged');
    const legs = (await active()).filter((c) => c.parentUuid === uuid);
    assert.deepEqual(
      legs.map((l) => l.leg.ext),
      ['001'],
      'only 001 was rung',
    );
    // A direct call to 002 (no phone) ends no answer at once; nothing rings anywhere.
    const before = phone.events.length;
    const direct = (
      await s.admin('POST', '/api/v1/sim/calls', { from: '+380501112234', trunk: T_002 })
    ).json();
    await until(async () => !(await active()).some((c) => c.uuid === direct.uuid), 'the call to 002 ended');
    assert.equal(incomingAt(before).length, 0);
  });

  test('simulated: the registered 001 is served by the simulator, never by SIP (the softphone never rings)', async () => {
    await setPhones('simulated');
    // 001's simulated phone rings until told (a registered phone would have answered at once).
    await s.admin('PUT', '/api/v1/sim/behaviours/employees/001', { mode: 'manual' });
    const from = phone.events.length;
    const { uuid } = (await s.admin('POST', '/api/v1/sim/calls', { from: CALLER, trunk: T_GROUP })).json();
    await until(
      async () => (await active()).filter((c) => c.parentUuid === uuid).length === 2,
      'both ringing',
    );
    await sleep(1500);
    assert.equal(server.built.sip!.driver.legs().length, 0, 'no SIP leg');
    assert.equal(incomingAt(from).length, 0, 'the softphone heard nothing');
    // The simulator's own control answers 001's phone: it is a simulated leg.
    const ans = await s.admin('POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '001' });
    assert.equal(ans.status, 204, ans.text);
    await until(async () => (await active()).some((c) => c.lastEvent === 'call.bridge'), 'bridged');
    assert.equal(server.built.sip!.driver.legs().length, 0);
    // A call placed from the registered softphone is refused too (480): the sandbox does not use it.
    const dialled = phone.events.length;
    assert.ok((await phone.command('dial', `sip:002@${DOMAIN}`)).ok);
    const closed = await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the call refused', {
      from: dialled,
      ms: 10_000,
    });
    assert.match(closed.param ?? '', /480/);
    await s.admin('PUT', '/api/v1/sim/behaviours/employees/001', null);
  });
});
