// Calls placed FROM a real phone (issue 15): a baresip softphone registered through Kamailio as
// employee 001 dials; Kamailio relays the INVITE to Dzvin's B2BUA with X-Dzvin-Auth, and the call
// core places an internal call (an ext) or an outgoing one (a number, simulated far end). What the
// CRM side sees is read over the Phonet REST API.
//
// Needs kamailio, rtpengine and baresip-core; without them it skips loudly, unless
// DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import type { Session, TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason } from './support/kamailio.ts';
import { type Rtpengine, rtpengineSkipReason } from './support/rtpengine.ts';
import { startSipStack } from './support/sip-stack.ts';
import { sleep, until } from './support/wait.ts';

const DOMAIN = 'sip.localhost';
const PASSWORD = 'softphone-001-secret';
const TRUNK = '+380443334400';
const NUMBER = '+380501112233';

const skip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason();

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

describe('a softphone places calls through Kamailio into the Dzvin call core', { skip }, () => {
  let rtp: Rtpengine;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let phone: Baresip;
  let accountId = 0;

  before(async () => {
    ({ rtp, kam, server } = await startSipStack());
    s = await server.account(DOMAIN);
    const account = (await server.built.store.accounts.byDomain(DOMAIN))!;
    accountId = account.id;
    const dir = server.built.services.directory;
    const e001 = (await server.built.store.directory.employees.byExt(account.id, '001'))!;
    await dir.employees.create(account, { displayName: 'Андрій', ext: '002' });
    await dir.trunks.create(account, {
      number: TRUNK,
      name: 'Main',
      destination: { type: 'employee', id: e001.id },
      isDefault: true,
    });
    assert.equal((await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 60, maxSec: 60 })).status, 204);
    // The softphone's password, as an operator sets it (Dzvin pushes its HA1 to Kamailio).
    const set = await s.admin('PUT', `/api/v1/employees/${e001.id}/sip-password`, { password: PASSWORD });
    assert.equal(set.status, 204, set.text);
    phone = await startBaresip({
      user: '001',
      domain: DOMAIN,
      password: PASSWORD,
      proxyPort: kam.sipPort,
      answermode: 'manual',
      toneHz: 1000,
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
    await server?.close();
    await kam?.stop();
    await rtp?.stop();
  });
  afterEach(async () => {
    for (const c of (await s.get('/rest/calls/active/v3')).json() as Json[])
      await s.get(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
    await server.built.simulator.engine.idle();
    await until(() => server.built.sip!.driver.originated().length === 0, 'no call of the phone left');
  });

  const active = async (): Promise<Json[]> => (await s.get('/rest/calls/active/v3')).json();
  const record = (uuid: string) =>
    until(async () => {
      const now = Date.now();
      const r = await s.get(
        `/rest/calls/company.api?timeFrom=${now - 600_000}&timeTo=${now + 60_000}&limit=50`,
      );
      return (r.json() as Json[]).find((c) => c.uuid === uuid);
    }, `the history record of ${uuid}`);
  const behaviour = async (path: string, body: unknown) =>
    assert.equal((await s.admin('PUT', `/api/v1/sim/behaviours/${path}`, body)).status, 204);

  test('001 dials 002 on the softphone: an internal call 001 → 002, bridged when 002 answers; 001 hangs up and the call ends answered', async () => {
    await behaviour('employees/002', { mode: 'answer', answerAfterSec: 1, probability: 1 });
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:002@${DOMAIN}`)).ok);
    const live = await until(
      async () => (await active()).find((c) => c.lgDirection === 1),
      'the internal call',
    );
    assert.equal(live.leg.ext, '001');
    assert.equal(live.leg2.ext, '002');
    assert.equal(live.lastEvent, 'call.dial');
    const { uuid } = live;
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established at the phone', {
      from,
      ms: 10_000,
    });
    await until(
      async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
      'the call bridged',
    );
    // The caller is off hook: a call to 001 now finds them busy.
    const busy = await s.admin('POST', '/api/v1/sim/internal', { fromExt: '002', toExt: '001' });
    assert.equal(busy.status, 201, busy.text);
    const busyRecord = await record(busy.json().uuid);
    assert.equal(busyRecord.disposition, 4, 'busy: 001 is on a call');
    await sleep(1200);
    assert.ok((await phone.command('hangup')).ok);
    await until(async () => !(await active()).some((c) => c.uuid === uuid), 'the call over');
    const c = await record(uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.lgDirection ?? c.direction, 1);
    assert.equal(c.leg.ext, '001');
    assert.equal(c.leg2.ext, '002');
    assert.ok(c.billSecs >= 1, `talked ${c.billSecs} s`);
  });

  test('001 dials an external number: an outgoing call on the default trunk, bridged when the number answers; a REST hangup sends BYE to the phone', async () => {
    await behaviour(`external/${encodeURIComponent(NUMBER)}`, {
      mode: 'answer',
      answerAfterSec: 1,
      probability: 1,
    });
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:0501112233@${DOMAIN}`)).ok);
    const live = await until(
      async () => (await active()).find((c) => c.lgDirection === 2),
      'the outgoing call',
    );
    assert.equal(live.leg.ext, '001');
    assert.equal(live.trunkNum, TRUNK);
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the call established at the phone', {
      from,
      ms: 10_000,
    });
    await until(
      async () => (await active()).some((c) => c.uuid === live.uuid && c.lastEvent === 'call.bridge'),
      'bridged',
    );
    const hung = phone.events.length;
    assert.equal((await s.get(`/rest/calls/active/${live.uuid}/hangup`)).status, 200);
    await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at the phone', {
      from: hung,
      ms: 10_000,
    });
    const c = await record(live.uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.leg.ext, '001');
    assert.equal(c.otherLegNum, NUMBER);
    assert.equal(c.lgDirection ?? c.direction, 2);
  });

  test('001 dials an ext nobody has: 404 at the phone, no call', async () => {
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:077@${DOMAIN}`)).ok);
    const closed = await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the call refused', {
      from,
      ms: 10_000,
    });
    assert.match(closed.param ?? '', /404/);
    assert.equal((await active()).length, 0);
  });

  test('002 is busy: 486 at the phone, the call ends busy', async () => {
    await behaviour('employees/002', { mode: 'busy' });
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:002@${DOMAIN}`)).ok);
    const closed = await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the call refused', {
      from,
      ms: 10_000,
    });
    assert.match(closed.param ?? '', /486/);
  });

  test('001 hangs up while 002 still rings: CANCEL, the call ends unanswered', async () => {
    await behaviour('employees/002', { mode: 'manual' });
    const from = phone.events.length;
    assert.ok((await phone.command('dial', `sip:002@${DOMAIN}`)).ok);
    const live = await until(
      async () => (await active()).find((c) => c.lgDirection === 1),
      'the internal call',
    );
    await phone.waitForEvent(
      (e) => e.type === 'CALL_RINGING' || e.type === 'CALL_PROGRESS',
      'ringback at the phone',
      {
        from,
        ms: 10_000,
      },
    );
    assert.ok((await phone.command('hangup')).ok);
    await until(async () => !(await active()).some((c) => c.uuid === live.uuid), 'the call over');
    const c = await record(live.uuid);
    assert.equal(c.disposition, 1, 'no answer');
    assert.equal(c.billSecs, 0);
  });
});
