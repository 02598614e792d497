// A phone that vanishes mid-call (issue 15, bad input): no BYE ever comes — a pulled cable, a
// crashed softphone. Its RTP stops; Dzvin's media watch ends the call after the media timeout
// (1.5 s here, 30 s by default), sends the BYE anyway and writes the history. baresip is killed
// with SIGKILL, so it sends nothing more, not even an un-REGISTER.
//
// Needs kamailio, rtpengine and baresip-core; without them it skips loudly, unless
// DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import type { Session } from './support/harness.ts';
import { kamailioSkipReason } from './support/kamailio.ts';
import { activeCalls, historyRecord } from './support/phonet-calls.ts';
import { rtpengineSkipReason } from './support/rtpengine.ts';
import { type SipStack, startSipStack } from './support/sip-stack.ts';
import { until } from './support/wait.ts';

const DOMAIN = 'sip.localhost';
const TRUNK = '+380443334400';
const NUMBER = '+380501112233';
const MEDIA_TIMEOUT_MS = 1500;

const skip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason();

describe('a phone that vanishes mid-call: its silent media ends the call, the history is written', {
  skip,
}, () => {
  let stack: SipStack;
  let s: Session;
  let accountId = 0;
  const phones: Baresip[] = [];

  before(async () => {
    stack = await startSipStack({ mediaTimeoutMs: MEDIA_TIMEOUT_MS });
    const { server } = stack;
    s = await server.account(DOMAIN);
    const account = (await server.built.store.accounts.byDomain(DOMAIN))!;
    accountId = account.id;
    const e001 = (await server.built.store.directory.employees.byExt(account.id, '001'))!;
    await server.built.services.directory.trunks.create(account, {
      number: TRUNK,
      name: 'Main',
      destination: { type: 'employee', id: e001.id },
      isDefault: true,
    });
    // Simulated parties talk for a minute: only the vanished phone can end these calls early.
    assert.equal((await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 60, maxSec: 60 })).status, 204);
    const set = await s.admin('PUT', `/api/v1/employees/${e001.id}/sip-password`, {
      password: 'vanishing-001',
    });
    assert.equal(set.status, 204, set.text);
  });
  after(async () => {
    for (const p of phones) await p.stop();
    await stack?.stop();
  });

  const active = () => activeCalls(s);
  const record = (uuid: string) => historyRecord(s, uuid);

  async function registeredPhone(answermode: 'auto' | 'manual'): Promise<Baresip> {
    const phone = await startBaresip({
      user: '001',
      domain: DOMAIN,
      password: 'vanishing-001',
      proxyPort: stack.kam.sipPort,
      answermode,
    });
    phones.push(phone);
    await phone.register();
    await until(
      async () => {
        await stack.server.built.sip?.refresh();
        return stack.server.built.sip?.registered().includes(`${accountId}:001`);
      },
      'Dzvin to see 001 registered',
      15_000,
    );
    return phone;
  }

  test('the employee answered a simulated caller, then the phone vanished: the call ends answered within the media timeout', async () => {
    const phone = await registeredPhone('auto');
    const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234567', trunk: TRUNK });
    assert.equal(placed.status, 201, placed.text);
    const { uuid } = placed.json();
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the phone to answer');
    await until(
      async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
      'the call bridged',
    );
    await until(() => (stack.server.built.sip!.driver.legs()[0]?.received ?? 0) >= 25, 'RTP from the phone');
    const vanishedAt = Date.now();
    await phone.vanish();
    await until(async () => !(await active()).some((c) => c.uuid === uuid), 'the call ended', 15_000);
    const endedAfter = Date.now() - vanishedAt;
    console.log(
      `# the call ended ${endedAfter} ms after the phone vanished (media timeout ${MEDIA_TIMEOUT_MS} ms)`,
    );
    assert.ok(endedAfter >= MEDIA_TIMEOUT_MS - 100, `not before the timeout: ${endedAfter} ms`);
    const c = await record(uuid);
    assert.equal(c.disposition, 0, 'answered: they talked');
    assert.equal(c.leg.ext, '001');
    assert.ok(c.billSecs >= 0);
    // Dzvin said BYE all the same (the phone never answers it: the transaction gives up after 32 s).
    const legs = stack.server.built.sip!.driver.legs();
    assert.ok(
      legs.length === 0 || legs[0].state === 'ending',
      `the leg is being hung up: ${JSON.stringify(legs)}`,
    );
  });

  test("the employee's own outgoing call, then the phone vanished: the call ends answered and its history is written", async () => {
    assert.equal(
      (
        await s.admin('PUT', `/api/v1/sim/behaviours/external/${encodeURIComponent(NUMBER)}`, {
          mode: 'answer',
          answerAfterSec: 0,
          probability: 1,
        })
      ).status,
      204,
    );
    const phone = await registeredPhone('manual');
    assert.ok((await phone.command('dial', `sip:${NUMBER}@${DOMAIN}`)).ok);
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the number answers');
    const live = await until(
      async () => (await active()).find((c) => c.lastEvent === 'call.bridge' && c.lgDirection === 2),
      'the outgoing call bridged',
    );
    await until(
      () => (stack.server.built.sip!.driver.originated()[0]?.received ?? 0) >= 25,
      'RTP from the phone',
    );
    await phone.vanish();
    await until(async () => !(await active()).some((c) => c.uuid === live.uuid), 'the call ended', 15_000);
    const c = await record(live.uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.leg.ext, '001');
    assert.equal(c.otherLegNum, NUMBER);
  });

  test('a phone puts its call on hold (re-INVITE sendonly) for longer than the media timeout and resumes: the call goes on', async () => {
    const phone = await registeredPhone('auto');
    const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234567', trunk: TRUNK });
    assert.equal(placed.status, 201, placed.text);
    const { uuid } = placed.json();
    await phone.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the phone to answer');
    await until(
      async () => (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
      'the call bridged',
    );
    const held = await phone.command('hold');
    assert.ok(held.ok, held.data);
    const leg = () => stack.server.built.sip!.driver.legs().find((l) => l.state === 'up');
    await until(() => leg()?.held === true, 'the re-INVITE (hold) answered');
    await new Promise((r) => setTimeout(r, MEDIA_TIMEOUT_MS * 2));
    assert.ok(
      (await active()).some((c) => c.uuid === uuid),
      'still live after twice the media timeout on hold',
    );
    const resumed = await phone.command('resume');
    assert.ok(resumed.ok, resumed.data);
    await until(() => leg()?.held === false, 'the re-INVITE (resume) answered');
    const hung = phone.events.length;
    assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
    await phone.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at the phone', { from: hung });
    const c = await record(uuid);
    assert.equal(c.disposition, 0);
    assert.ok(c.billSecs >= 2, `talked (and held) ${c.billSecs} s`);
    await phone.stop();
  });
});
