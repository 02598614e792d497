// A carrier's call over real SIP into an IVR (issue 15's "incoming call → IVR (greeting played,
// digit chosen) → ring group → the first phone to answer"), with real peers on loopback:
// rtpengine, Kamailio (deploy/kamailio/dzvin.cfg), a SIP-enabled Dzvin (support/sip-stack.ts),
// two baresip softphones registered as employees 001 and 002, and a third baresip as the
// carrier: it registers nowhere and sends its INVITE for the trunk's number (the DID) through
// Kamailio, which relays it unmarked with the address it came from; the trunk allows that
// address (`sipPeers`, IP-authenticated peering).
//
// What is checked is what the parties hear (baresip's sndfile dumps) and what a CRM sees (the
// Phonet REST API: active calls, company.api, the recording's tracks).
//
// Needs kamailio, rtpengine and baresip-core; without them it skips loudly, unless
// DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { IVR_PROMPT_HZ } from '../src/engine/sip/phone-originated.ts';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import type { Session, TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason } from './support/kamailio.ts';
import { activeCalls, historyRecord } from './support/phonet-calls.ts';
import { rtpengineSkipReason } from './support/rtpengine.ts';
import { type SipStack, startSipStack, untilRegistered } from './support/sip-stack.ts';
import { sleep, until } from './support/wait.ts';
import { dominantOf, goertzel, parseWav, toneWav } from './support/wav.ts';

const DOMAIN = 'ivr.localhost';
const DID = '+380441112233';
/** A number of the account whose trunk allows no carrier address. */
const CLOSED_DID = '+380441112234';
const CALLER = '+380671234567';
const PASSWORDS: Record<string, string> = { '001': 'ivr-001-secret', '002': 'ivr-002-secret' };
/** The tones each party sends: the caller, 001, 002. */
const CALLER_HZ = 880;
const HZ: Record<string, number> = { '001': 1000, '002': 1200 };
const CANDIDATES = [400, 425, IVR_PROMPT_HZ, CALLER_HZ, 1000, 1200];
/** The recorded greeting's tone. */
const GREETING_HZ = 520;

const skip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason();

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

describe('a carrier calls a trunk over SIP: the IVR answers and plays its prompt, a DTMF digit picks the group, a softphone answers', {
  skip,
}, () => {
  let stack: SipStack;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let accountId = 0;
  let phones: Baresip[] = [];

  before(async () => {
    stack = await startSipStack({ kamailioDefines: { NATPING_INTERVAL: 0 } });
    ({ kam, server } = stack);
    s = await server.account(DOMAIN);
    accountId = (await server.built.store.accounts.byDomain(DOMAIN))!.id;
    const ids: number[] = [];
    for (const ext of ['001', '002']) {
      const existing = (await s.admin('GET', '/api/v1/employees')).json().find((e: Json) => e.ext === ext);
      const e =
        existing ?? (await s.admin('POST', '/api/v1/employees', { displayName: `Phone ${ext}`, ext })).json();
      ids.push(e.id);
      const set = await s.admin('PUT', `/api/v1/employees/${e.id}/sip-password`, {
        password: PASSWORDS[ext],
      });
      assert.equal(set.status, 204, set.text);
    }
    const group = await s.admin('POST', '/api/v1/groups', {
      name: 'Support',
      ext: '200',
      strategy: 'simultaneous',
      ringTimeoutSec: 30,
      members: ids,
    });
    assert.equal(group.status, 201, group.text);
    const ivr = await s.admin('POST', '/api/v1/ivr', {
      name: 'Main menu',
      greeting: 'Press 2 for support',
      timeoutSec: 20,
      options: [{ digit: '2', target: { type: 'group', id: group.json().id } }],
    });
    assert.equal(ivr.status, 201, ivr.text);
    // The carrier's address, written as an operator might (brackets, case) for IPv6: normalized.
    const trunk = await s.admin('POST', '/api/v1/trunks', {
      number: DID,
      name: 'Carrier',
      destination: { type: 'ivr', id: ivr.json().id },
      sipPeers: ['127.0.0.1', '[::1]'],
    });
    assert.equal(trunk.status, 201, trunk.text);
    assert.deepEqual(trunk.json().sipPeers, ['127.0.0.1', '::1']);
    const closed = await s.admin('POST', '/api/v1/trunks', {
      number: CLOSED_DID,
      name: 'Not peered',
      destination: { type: 'ivr', id: ivr.json().id },
    });
    assert.equal(closed.status, 201, closed.text);
    assert.deepEqual(closed.json().sipPeers, []);
    // A peer that is no IP address is refused with its reason.
    const bad = await s.admin('PATCH', `/api/v1/trunks/${closed.json().id}`, {
      sipPeers: ['carrier.example'],
    });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /sipPeers: 'carrier\.example' is not an IP address/);
  });
  after(async () => {
    await stack?.stop();
  });
  afterEach(async () => {
    const mine = phones;
    phones = [];
    for (const c of (await active()) as Json[]) await s.get(`/rest/calls/active/${c.uuid}/hangup`);
    await Promise.all(mine.map((p) => p.stop()));
    for (const ext of ['001', '002']) await kam.control.unregister({ ext, domain: DOMAIN });
    await until(() => server.built.sip!.driver.legs().length === 0, 'no SIP leg left', 10_000);
    await until(() => server.built.sip!.driver.originated().length === 0, 'no caller left', 10_000);
  });

  const active = () => activeCalls(s);
  const record = (uuid: string) => historyRecord(s, uuid);

  async function softphone(ext: string): Promise<Baresip> {
    const phone = await startBaresip({
      user: ext,
      domain: DOMAIN,
      password: PASSWORDS[ext],
      proxyPort: kam.sipPort,
      toneHz: HZ[ext],
      dumpAudio: true,
      lifetimeSec: 120,
    });
    phones.push(phone);
    await phone.register();
    const ev = await phone.waitForEvent((e) => e.type.startsWith('REGISTER_'), 'a register result');
    assert.equal(ev.type, 'REGISTER_OK', `${ext} registered: ${ev.param}`);
    await untilRegistered(server, accountId, ext);
    return phone;
  }

  /** The carrier: a UA that registers nowhere, its From the caller's number. */
  async function carrier(): Promise<Baresip> {
    const c = await startBaresip({
      user: CALLER,
      domain: '127.0.0.1',
      password: 'unused',
      proxyPort: kam.sipPort,
      regint: 0,
      toneHz: CALLER_HZ,
      dumpAudio: true,
      lifetimeSec: 120,
    });
    phones.push(c);
    await c.register();
    return c;
  }

  /** What `phone` heard in its last call, once its dump is complete. */
  const heard = (phone: Baresip, what: string) =>
    until(
      () => {
        const dumps = phone.heard();
        const last = dumps[dumps.length - 1];
        const samples = last && last.length > 44 ? parseWav(last).samples : null;
        return samples && samples.length >= 8000 ? samples : null;
      },
      what,
      5000,
    );

  test('the caller hears the prompt, presses 9 (no such option: still the IVR) then 2; both phones ring, 001 answers, 002 is cancelled; caller and 001 hear each other; the recording is theirs', async () => {
    const [p1, p2] = [await softphone('001'), await softphone('002')];
    const c = await carrier();
    const from = c.events.length;
    assert.ok((await c.command('dial', `sip:${DID}@127.0.0.1:${kam.sipPort}`)).ok);
    // The IVR answers the INVITE: the caller's call is established before any phone rings.
    await c.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the IVR answering', { from });
    const [call] = await until(async () => {
      const calls = await active();
      return calls.length ? calls : null;
    }, 'the call in active/v3');
    assert.equal(call.lgDirection, 4, 'incoming');
    assert.equal(call.trunkNum, DID, 'the trunk the carrier delivered it to');
    assert.deepEqual(
      call.leg,
      { id: 0, ext: '', displayName: 'Main menu' },
      'in the IVR: no employee has it',
    );
    await sleep(1500);
    // A key with no option changes nothing.
    assert.ok((await c.command('sndcode', '9')).ok);
    await sleep(700);
    assert.equal(p1.events.filter((e) => e.type === 'CALL_INCOMING').length, 0, 'nobody rings after 9');
    const [r1, r2] = [p1.events.length, p2.events.length];
    assert.ok((await c.command('sndcode', '2')).ok);
    await p1.waitForEvent((e) => e.type === 'CALL_INCOMING', '001 rings after 2', { from: r1 });
    await p2.waitForEvent((e) => e.type === 'CALL_INCOMING', '002 rings after 2', { from: r2 });
    await sleep(1200); // the caller hears ringback meanwhile
    assert.ok((await p1.command('accept')).ok);
    await p1.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '001 talking', { from: r1 });
    await p2.waitForEvent((e) => e.type === 'CALL_CLOSED', '002 cancelled', { from: r2 });
    await until(async () => (await active())[0]?.leg?.ext === '001', 'the call with 001 in active/v3');
    await sleep(2500);
    const hung = p1.events.length;
    assert.ok((await c.command('hangup')).ok);
    await p1.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from: hung });

    const h = await record(call.uuid);
    assert.equal(h.disposition, 0, 'answered');
    assert.equal(h.lgDirection, 4, 'incoming');
    assert.equal(h.leg.ext, '001');
    assert.equal(h.otherLegNum, CALLER);
    assert.equal(h.trunk, `i=${DID.replace(/^\+/, '')};`);
    assert.ok(h.billSecs >= 2, `talk time ${h.billSecs} s`);

    // The caller heard the prompt first, 001 last; 001 heard the caller.
    const callerHeard = await heard(c, "the carrier's dump");
    const prompt = callerHeard.subarray(0, 8000);
    const talk = callerHeard.subarray(callerHeard.length - 12_000, callerHeard.length - 2000);
    const atPrompt = dominantOf(prompt, 8000, CANDIDATES);
    const atTalk = dominantOf(talk, 8000, CANDIDATES);
    console.log(`# the caller heard ${atPrompt} Hz in the IVR, ${atTalk} Hz when talking to 001`);
    assert.equal(atPrompt, IVR_PROMPT_HZ, 'the IVR prompt');
    assert.equal(atTalk, HZ['001'], "001's voice");
    const heardBy001 = await heard(p1, "001's dump");
    assert.equal(dominantOf(heardBy001.subarray(0, heardBy001.length - 2000), 8000, CANDIDATES), CALLER_HZ);

    // The recording: rx the caller (880 Hz), tx the employee (1000 Hz).
    const track = async (suffix: string) => {
      const r = await fetch(`${server.baseUrl}/rest/public/calls/${call.uuid}${suffix}/audio`);
      assert.equal(r.status, 200, `${suffix} track`);
      return parseWav(Buffer.from(await r.arrayBuffer())).samples;
    };
    const [rx, tx] = [await track('-rx'), await track('-tx')];
    assert.ok(rx.length >= 16_000, `at least 2 s recorded: ${rx.length / 8000} s`);
    assert.equal(dominantOf(rx, 8000, CANDIDATES), CALLER_HZ, 'rx: the caller');
    assert.equal(dominantOf(tx, 8000, CANDIDATES), HZ['001'], 'tx: the employee');
    assert.ok(goertzel(rx, 8000, CALLER_HZ) > 10 * goertzel(rx, 8000, IVR_PROMPT_HZ), 'no prompt in rx');
  });

  test('with a recorded greeting the caller hears it instead of the prompt; hanging up in the IVR ends the call unanswered, history written', async () => {
    const ivr = (await s.admin('GET', '/api/v1/ivr')).json()[0];
    const put = await server.request('PUT', `/api/v1/ivr/${ivr.id}/greeting-audio`, {
      host: s.host,
      headers: { authorization: `Bearer ${s.apiKey}` },
      raw: toneWav(GREETING_HZ, 3),
      contentType: 'audio/wav',
    });
    assert.equal(put.status, 200, put.text);
    try {
      const c = await carrier();
      const from = c.events.length;
      assert.ok((await c.command('dial', `sip:${DID}@127.0.0.1:${kam.sipPort}`)).ok);
      await c.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', 'the IVR answering', { from });
      const [call] = await until(async () => {
        const calls = await active();
        return calls.length ? calls : null;
      }, 'the call in active/v3');
      await sleep(2500);
      assert.ok((await c.command('hangup')).ok);
      const h = await record(call.uuid);
      assert.equal(h.disposition, 1, 'nobody answered: no answer');
      assert.equal(h.lgDirection, 4);
      assert.equal(h.otherLegNum, CALLER);
      const callerHeard = await heard(c, "the carrier's dump");
      const hz = dominantOf(callerHeard, 8000, [...CANDIDATES, GREETING_HZ]);
      console.log(`# with a greeting recorded, the caller heard ${hz} Hz`);
      assert.equal(hz, GREETING_HZ, 'the recorded greeting');
      assert.ok(goertzel(callerHeard, 8000, GREETING_HZ) > 10 * goertzel(callerHeard, 8000, IVR_PROMPT_HZ));
    } finally {
      assert.equal((await s.admin('DELETE', `/api/v1/ivr/${ivr.id}/greeting-audio`)).status, 204);
    }
  });

  test('INVITEs no trunk allows never reach routing: a number whose trunk has no peers, a number nobody has (403); no call is made', async () => {
    const c = await carrier();
    for (const did of [CLOSED_DID, '+380449999999']) {
      const from = c.events.length;
      assert.ok((await c.command('dial', `sip:${did}@127.0.0.1:${kam.sipPort}`)).ok);
      const closed = await c.waitForEvent((e) => e.type === 'CALL_CLOSED', `the INVITE for ${did} refused`, {
        from,
      });
      assert.match(closed.param ?? '', /403/, `${did}: ${closed.param}`);
    }
    assert.deepEqual(await active(), []);
    const now = Date.now();
    const calls = (
      await s.get(`/rest/calls/company.api?timeFrom=${now - 60_000}&timeTo=${now + 60_000}&limit=50`)
    ).json() as Json[];
    assert.ok(
      !calls.some((x) => String(x.trunk).includes(CLOSED_DID.slice(1))),
      'no history for the refused calls',
    );
  });
});
