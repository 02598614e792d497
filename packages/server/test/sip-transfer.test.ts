// Transfers over real SIP (issue 15): Dzvin with its SIP engine, Kamailio (deploy/kamailio/dzvin.cfg)
// and rtpengine, employees' phones as baresip softphones — and, for the attended transfer from
// the phone, a raw UDP user agent as 001 (baresip 1.0 has only a blind `/transfer`; its REFER
// never carries Replaces), registered with digest through Kamailio like any phone.
//
// - a REFER from the phone that PLACED the call (001 dials a number, then transfers to 003);
// - the API's attended transfer (consultation 001 ↔ 002 while the caller waits; complete, cancel);
// - a REFER with Replaces from the phone: 001 talks to a caller and has called 002; the caller
//   ends up with 002, the consultation call ends, 001 gets a BYE on both.
//
// Needs kamailio, rtpengine and baresip-core; without them it skips loudly, unless
// DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import type { Session, TestServer } from './support/harness.ts';
import { type Kamailio, kamailioSkipReason } from './support/kamailio.ts';
import {
  buildAckForFailure,
  buildRequest,
  buildResponse,
  digestAuthorization,
  header,
  headerValues,
  type SipMessage,
  sdpOffer,
  startUdpPeer,
  type UdpSipPeer,
} from './support/kamailio-sip.ts';
import { type Rtpengine, rtpengineSkipReason } from './support/rtpengine.ts';
import { startSipStack, untilRegistered } from './support/sip-stack.ts';
import { sleep, until } from './support/wait.ts';
import { parseWav, peakHz } from './support/wav.ts';

const DOMAIN = 'sip.localhost';
const TRUNK = '+380443334400';
const NUMBER = '+380501112233';
const PASSWORDS: Record<string, string> = {
  '001': 'softphone-001-secret',
  '002': 'softphone-002-secret',
  '003': 'softphone-003-secret',
};

const skip = kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason();

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

/** The names of a phone's decoded dumps now (one per call): what `heardSince` leaves out. */
const dumpNames = (phone: Baresip) =>
  new Set(fs.readdirSync(phone.dir).filter((f) => /^dump-.*-dec\.wav$/.test(f)));

/**
 * What a phone heard in its call since `before` (a `dumpNames` snapshot): the new dump, once
 * complete (baresip writes the WAV header as the call closes), as samples.
 */
async function heardSince(phone: Baresip, before: Set<string>, minSamples: number): Promise<Int16Array> {
  return until(
    () => {
      for (const f of dumpNames(phone)) {
        if (before.has(f)) continue;
        const dump = fs.readFileSync(path.join(phone.dir, f));
        const samples = dump.length > 44 ? parseWav(dump).samples : null;
        if (samples && samples.length >= minSamples) return samples;
      }
      return null;
    },
    `${phone.aor}'s dump of what it heard`,
    5000,
  ).catch((err) => {
    const files = fs.readdirSync(phone.dir).map((f) => `${f}:${fs.statSync(path.join(phone.dir, f)).size}`);
    throw new Error(`${err.message}; dumps: ${files.join(', ')}; ${phone.output().slice(-1500)}`);
  });
}

/** Samples from `fromSec` to `toSec` (negative: from the end). */
function slice(samples: Int16Array, fromSec: number, toSec: number): Int16Array {
  const at = (sec: number) => (sec < 0 ? samples.length + sec * 8000 : sec * 8000);
  return samples.subarray(Math.max(0, at(fromSec)), Math.min(samples.length, at(toSec)));
}

/** A dialog of the raw phone, as it sees it. */
interface Dialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Our From value in requests we send (with tag), and the To (with the other side's tag). */
  from: string;
  to: string;
  remoteTarget: string;
  routeSet: string[];
  cseq: number;
}

const tagOf = (value: string | undefined) => /;tag=([^;>\s]+)/.exec(value ?? '')?.[1] ?? '';
const uriOf = (value: string | undefined) => /<([^>]+)>/.exec(value ?? '')?.[1] ?? '';

/**
 * 001's phone as raw SIP over UDP: it registers with digest, answers Dzvin's INVITE, places a call
 * (answering Kamailio's 407), and sends in-dialog requests (REFER) — every line on the wire is ours.
 */
class RawPhone {
  constructor(
    readonly peer: UdpSipPeer,
    readonly kamPort: number,
    readonly ext: string,
  ) {}
  get contact() {
    return `<sip:${this.ext}@${this.peer.address}:${this.peer.port}>`;
  }
  get aor() {
    return `sip:${this.ext}@${DOMAIN}`;
  }
  private exchange(text: string, match: (m: SipMessage) => boolean, what: string) {
    const from = this.peer.received.length;
    this.peer.send(text, this.kamPort);
    return this.peer.waitFor(match, what, { from, ms: 10_000 });
  }
  async register() {
    const uri = `sip:${DOMAIN}`;
    const spec = {
      method: 'REGISTER',
      uri,
      via: { address: this.peer.address, port: this.peer.port },
      from: this.aor,
      to: this.aor,
      callId: `reg-${randomBytes(6).toString('hex')}`,
    };
    const isFinal = (m: SipMessage) => (m.status ?? 0) >= 200 && /REGISTER/.test(header(m, 'CSeq') ?? '');
    const contact = `Contact: ${this.contact}`;
    const first = await this.exchange(
      buildRequest({ ...spec, headers: ['Expires: 300'] }).replace(/^Contact: .*$/m, contact),
      isFinal,
      'an answer to REGISTER',
    );
    assert.equal(first.status, 401, first.raw);
    const authorization = digestAuthorization({
      challenge: header(first, 'WWW-Authenticate') ?? '',
      method: 'REGISTER',
      uri,
      user: this.ext,
      password: PASSWORDS[this.ext],
    });
    const second = await this.exchange(
      buildRequest({
        ...spec,
        cseq: 2,
        headers: ['Expires: 300', `Authorization: ${authorization}`],
      }).replace(/^Contact: .*$/m, contact),
      isFinal,
      'an answer to the REGISTER with credentials',
    );
    assert.equal(second.status, 200, second.raw);
  }
  /** Answers the next INVITE Dzvin sends (200 with SDP); the dialog once Dzvin's ACK came. */
  async answer(from: number): Promise<Dialog> {
    const invite = await this.peer.waitFor((m) => m.method === 'INVITE', 'an INVITE for 001', {
      from,
      ms: 10_000,
    });
    const localTag = randomBytes(4).toString('hex');
    const acked = this.peer.received.length;
    this.peer.send(
      buildResponse(invite, 200, 'OK', {
        toTag: localTag,
        headers: [`Contact: ${this.contact}`],
        body: sdpOffer('127.0.0.1', 40_000 + Math.floor(Math.random() * 1000) * 2),
      }),
      invite.source.port,
    );
    await this.peer.waitFor(
      (m) => m.method === 'ACK' && header(m, 'Call-ID') === header(invite, 'Call-ID'),
      'the ACK to our 200',
      { from: acked },
    );
    return {
      callId: header(invite, 'Call-ID')!,
      localTag,
      remoteTag: tagOf(header(invite, 'From')),
      from: `${header(invite, 'To')};tag=${localTag}`,
      to: header(invite, 'From')!,
      remoteTarget: uriOf(header(invite, 'Contact')),
      // §12.1.1: a UAS's route set is Record-Route in the order received.
      routeSet: headerValues(invite, 'Record-Route'),
      cseq: 1,
    };
  }
  /** Calls `ext` (Kamailio challenges: 407, then with Proxy-Authorization); the dialog once answered and ACKed. */
  async call(ext: string): Promise<Dialog> {
    const callId = `raw-${randomBytes(6).toString('hex')}`;
    const uri = `sip:${ext}@${DOMAIN}`;
    const spec = {
      method: 'INVITE',
      uri,
      via: { address: this.peer.address, port: this.peer.port },
      from: this.aor,
      to: uri,
      callId,
      body: sdpOffer('127.0.0.1', 41_000 + Math.floor(Math.random() * 1000) * 2),
    };
    const isFinal = (m: SipMessage) =>
      (m.status ?? 0) >= 200 && header(m, 'Call-ID') === callId && /INVITE/.test(header(m, 'CSeq') ?? '');
    const first = buildRequest(spec).replace(/^Contact: .*$/m, `Contact: ${this.contact}`);
    const challenged = await this.exchange(first, isFinal, 'an answer to the INVITE');
    assert.equal(challenged.status, 407, challenged.raw);
    this.peer.send(buildAckForFailure(first, challenged), this.kamPort);
    const auth = digestAuthorization({
      challenge: header(challenged, 'Proxy-Authenticate') ?? '',
      method: 'INVITE',
      uri,
      user: this.ext,
      password: PASSWORDS[this.ext],
    });
    const second = buildRequest({ ...spec, cseq: 2, headers: [`Proxy-Authorization: ${auth}`] }).replace(
      /^Contact: .*$/m,
      `Contact: ${this.contact}`,
    );
    const ok = await this.exchange(second, isFinal, `${ext}'s answer`);
    assert.equal(ok.status, 200, ok.raw);
    const fromHeader = /^From: (.*)$/m.exec(second)![1].trim();
    const d: Dialog = {
      callId,
      localTag: tagOf(fromHeader),
      remoteTag: tagOf(header(ok, 'To')),
      from: fromHeader,
      to: header(ok, 'To')!,
      remoteTarget: uriOf(header(ok, 'Contact')),
      // §12.1.2: a UAC's route set is the 2xx's Record-Route reversed.
      routeSet: headerValues(ok, 'Record-Route').reverse(),
      cseq: 2,
    };
    this.peer.send(this.inDialog(d, 'ACK', [], 2), this.kamPort);
    return d;
  }
  inDialog(d: Dialog, method: string, headers: string[], cseq?: number): string {
    if (cseq === undefined) d.cseq += 1;
    return [
      `${method} ${d.remoteTarget} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.peer.address}:${this.peer.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      ...d.routeSet.map((r) => `Route: ${r}`),
      `From: ${d.from}`,
      `To: ${d.to}`,
      `Call-ID: ${d.callId}`,
      `CSeq: ${cseq ?? d.cseq} ${method}`,
      `Contact: ${this.contact}`,
      ...headers,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  }
  /** Sends a request in the dialog; its final response. */
  request(d: Dialog, method: string, headers: string[]): Promise<SipMessage> {
    const text = this.inDialog(d, method, headers);
    const cseq = `${d.cseq} ${method}`;
    return this.exchange(
      text,
      (m) => (m.status ?? 0) >= 200 && header(m, 'Call-ID') === d.callId && header(m, 'CSeq') === cseq,
      `the answer to ${method}`,
    );
  }
  /** The next request `method` in the dialog (answered 200). */
  async expect(d: Dialog, method: string, from: number): Promise<SipMessage> {
    const m = await this.peer.waitFor(
      (r) => r.method === method && header(r, 'Call-ID') === d.callId,
      `${method} in ${d.callId}`,
      { from, ms: 10_000 },
    );
    this.peer.send(buildResponse(m, 200, 'OK'), m.source.port);
    return m;
  }
}

describe('transfers over real SIP: REFER from a phone that placed the call, the API attended transfer, REFER with Replaces', {
  skip,
}, () => {
  let rtp: Rtpengine;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let accountId = 0;
  const phones: Record<string, Baresip> = {};

  before(async () => {
    ({ rtp, kam, server } = await startSipStack());
    s = await server.account(DOMAIN);
    const account = (await server.built.store.accounts.byDomain(DOMAIN))!;
    accountId = account.id;
    const dir = server.built.services.directory;
    const e001 = (await server.built.store.directory.employees.byExt(account.id, '001'))!;
    const ids: Record<string, number> = { '001': e001.id };
    ids['002'] = (await dir.employees.create(account, { displayName: 'Андрій', ext: '002' })).id;
    ids['003'] = (await dir.employees.create(account, { displayName: 'Олена', ext: '003' })).id;
    await dir.trunks.create(account, {
      number: TRUNK,
      name: 'Main',
      destination: { type: 'employee', id: e001.id },
      isDefault: true,
    });
    assert.equal((await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 90, maxSec: 90 })).status, 204);
    const tones: Record<string, number> = { '001': 1000, '002': 880, '003': 660 };
    for (const ext of ['001', '002', '003']) {
      const set = await s.admin('PUT', `/api/v1/employees/${ids[ext]}/sip-password`, {
        password: PASSWORDS[ext],
      });
      assert.equal(set.status, 204, set.text);
      phones[ext] = await startBaresip({
        user: ext,
        domain: DOMAIN,
        password: PASSWORDS[ext],
        proxyPort: kam.sipPort,
        answermode: 'auto',
        toneHz: tones[ext],
        dumpAudio: true,
        lifetimeSec: 240,
      });
      await phones[ext].register();
      await untilRegistered(server, accountId, ext);
    }
  });
  after(async () => {
    for (const p of Object.values(phones)) await p.stop();
    await server?.close();
    await kam?.stop();
    await rtp?.stop();
  });
  afterEach(async () => {
    for (const c of (await s.get('/rest/calls/active/v3')).json() as Json[])
      await s.get(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
    await server.built.simulator.engine.idle();
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
  const bridged = (uuid: string, ext: string) =>
    until(
      async () =>
        (await active()).some((c) => c.uuid === uuid && c.lastEvent === 'call.bridge' && c.leg?.ext === ext),
      `the call bridged with ${ext}`,
    );

  test('the phone that placed the call transfers it (REFER): 404 for an ext nobody has, 403 to itself; to 003: 202, 003 rings and answers, hears the far end, 001 gets BYE, transferHistory 001 > 003', async () => {
    const p1 = phones['001'];
    const p3 = phones['003'];
    assert.equal(
      (
        await s.admin('PUT', `/api/v1/sim/behaviours/external/${encodeURIComponent(NUMBER)}`, {
          mode: 'answer',
          answerAfterSec: 1,
          probability: 1,
        })
      ).status,
      204,
    );
    const dialOut = async () => {
      const from = p1.events.length;
      assert.ok((await p1.command('dial', `sip:0501112233@${DOMAIN}`)).ok);
      await p1.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', "001's call answered", { from });
      const live = await until(
        async () => (await active()).find((c) => c.lgDirection === 2 && c.lastEvent === 'call.bridge'),
        'the outgoing call bridged',
      );
      return live.uuid as string;
    };
    // An ext nobody has: 404 (baresip then hangs up by itself), the call stayed 001's.
    const first = await dialOut();
    assert.ok((await p1.command('transfer', `sip:077@${DOMAIN}`)).ok);
    await until(() => /transfer failed: 404 Not Found/.test(p1.output()), 'the 404 at the phone');
    const r1 = await record(first);
    assert.equal(r1.leg.ext, '001');
    assert.equal(r1.transferHistory, '001');
    // To itself: the core refuses (the call is already with 001) → 403.
    const second = await dialOut();
    assert.ok((await p1.command('transfer', `sip:001@${DOMAIN}`)).ok);
    await until(() => /transfer failed: 403 /.test(p1.output()), 'the 403 at the phone');
    const r2 = await record(second);
    assert.equal(r2.transferHistory, '001');

    const dumps1 = dumpNames(p1);
    const dumps3 = dumpNames(p3);
    const uuid = await dialOut();
    await sleep(1000);
    const rang = p3.events.length;
    const closed = p1.events.length;
    assert.ok((await p1.command('transfer', `sip:003@${DOMAIN}`)).ok);
    await p3.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '003 answers the transfer', { from: rang });
    await p1.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from: closed });
    await bridged(uuid, '003');
    const heard1 = peakHz(await heardSince(p1, dumps1, 4000));
    assert.ok(Math.abs(heard1 - 400) <= 20, `001 heard the far end before: ${heard1} Hz`);
    await sleep(2000);
    const hung = p3.events.length;
    assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
    await p3.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 003', { from: hung });
    const c = await record(uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.leg.ext, '003');
    assert.equal(c.transferHistory, '001 > 003');
    const hz = peakHz(await heardSince(p3, dumps3, 8000));
    assert.ok(Math.abs(hz - 400) <= 20, `003 hears the far end (Dzvin's 400 Hz): ${hz} Hz`);
  });

  test("the API's attended transfer: 002's phone rings for a consultation; when it answers 001 and 002 hear each other while the caller waits; complete → the caller talks to 002, 001 gets BYE; cancel → 002 gets BYE and 001 is back with the caller", async () => {
    const p1 = phones['001'];
    const p2 = phones['002'];
    let dumps1 = dumpNames(p1);
    let dumps2 = dumpNames(p2);
    const talking = async (caller: string) => {
      dumps1 = dumpNames(p1);
      dumps2 = dumpNames(p2);
      const from = p1.events.length;
      const placed = await s.admin('POST', '/api/v1/sim/calls', { from: caller, trunk: TRUNK });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json();
      await p1.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '001 answers', { from });
      await bridged(uuid, '001');
      return uuid as string;
    };
    const joint = (uuid: string) => server.built.sip!.driver.joints().find((j) => j.uuid === uuid);
    const consult = async (uuid: string) => {
      const rang = p2.events.length;
      const asked = await s.admin('POST', `/api/v1/sim/calls/${uuid}/attended-transfer`, { toExt: '002' });
      assert.equal(asked.status, 204, asked.text);
      await p2.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '002 answers the consultation', {
        from: rang,
      });
      // 001 and 002 hear each other: the joint relays both ways, and nothing is sent to 001 any more.
      const before = await until(() => {
        const j = joint(uuid);
        return j && j.aToB >= 25 && j.bToA >= 25 ? j : null;
      }, 'half a second of RTP both ways between 001 and 002');
      const leg1 = server.built.sip!.driver.legs().find((l) => l.state === 'up' && l.sent > 0);
      await sleep(1500);
      const after = joint(uuid)!;
      assert.ok(after.aToB - before.aToB >= 50 && after.bToA - before.bToA >= 50, JSON.stringify(after));
      const again = server.built.sip!.driver.legs().find((l) => l.legUuid === leg1?.legUuid);
      if (leg1 && again)
        assert.ok(
          again.sent - leg1.sent <= 5,
          `001 no longer gets the caller's tone: ${again.sent - leg1.sent}`,
        );
    };

    // Complete: the caller and 002 talk; 001 hangs up (BYE).
    const uuid = await talking('0501234581');
    await consult(uuid);
    const closed1 = p1.events.length;
    const done = await s.admin('POST', `/api/v1/sim/calls/${uuid}/transfer/complete`, {});
    assert.equal(done.status, 204, done.text);
    await p1.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from: closed1 });
    await bridged(uuid, '002');
    await sleep(2000);
    const hung2 = p2.events.length;
    assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
    await p2.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 002', { from: hung2 });
    const c = await record(uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.leg.ext, '002');
    assert.equal(c.transferHistory, '001 > 002');
    // 002 heard 001 (1000 Hz) in the consultation, then the caller (Dzvin's 400 Hz).
    const heard2 = await heardSince(p2, dumps2, 3 * 8000);
    const early = peakHz(slice(heard2, 0.3, 1.3));
    const late = peakHz(slice(heard2, -1.2, -0.2));
    assert.ok(Math.abs(early - 1000) <= 20, `002 hears 001 in the consultation: ${early} Hz`);
    assert.ok(Math.abs(late - 400) <= 20, `002 hears the caller after the transfer: ${late} Hz`);
    const heard1 = await heardSince(p1, dumps1, 8000);
    const last1 = peakHz(slice(heard1, -0.8, -0.1));
    assert.ok(Math.abs(last1 - 880) <= 20, `001 heard 002 last (the consultation): ${last1} Hz`);

    // Cancel: 002 gets BYE, 001 hears the caller again.
    const back = await talking('0501234582');
    await consult(back);
    const closed2 = p2.events.length;
    const cancelled = await s.admin('POST', `/api/v1/sim/calls/${back}/transfer/cancel`, {});
    assert.equal(cancelled.status, 204, cancelled.text);
    await p2.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 002', { from: closed2 });
    await sleep(2000);
    assert.equal(joint(back), undefined, 'no relay left once 002 is gone');
    const hung1 = p1.events.length;
    assert.equal((await s.get(`/rest/calls/active/${back}/hangup`)).status, 200);
    await p1.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from: hung1 });
    const b = await record(back);
    assert.equal(b.disposition, 0);
    assert.equal(b.leg.ext, '001');
    assert.equal(b.transferHistory, '001');
    const heardBack = await heardSince(p1, dumps1, 3 * 8000);
    const lastBack = peakHz(slice(heardBack, -1.2, -0.2));
    assert.ok(Math.abs(lastBack - 400) <= 20, `001 hears the caller again after the cancel: ${lastBack} Hz`);
  });

  // Last: 001's baresip gives way to the raw phone.
  test('an attended transfer from the phone (REFER with Replaces): 001 talks to a caller and has called 002; the caller ends up with 002 (001 > 002), the consultation ends answered, 001 gets a BYE on both; a Replaces naming no dialog of the phone: 202 + NOTIFY 481, the call stays', async () => {
    const p2 = phones['002'];
    await phones['001'].unregister();
    await untilRegistered(server, accountId, '001', false);
    const peer = await startUdpPeer();
    const raw = new RawPhone(peer, kam.sipPort, '001');
    try {
      await raw.register();
      await untilRegistered(server, accountId, '001');
      const talking = async (caller: string) => {
        const from = peer.received.length;
        const placed = await s.admin('POST', '/api/v1/sim/calls', { from: caller, trunk: TRUNK });
        assert.equal(placed.status, 201, placed.text);
        const uuid = placed.json().uuid as string;
        const d = await raw.answer(from);
        await bridged(uuid, '001');
        return { uuid, d };
      };
      const referred = `Referred-By: <${raw.aor}>`;

      // A Replaces that names no dialog of this phone: the REFER is accepted, its NOTIFY says 481.
      const lone = await talking('0501234591');
      const at0 = peer.received.length;
      const bogus = await raw.request(lone.d, 'REFER', [
        `Refer-To: <sip:002@${DOMAIN}?Replaces=no-such-call%3Bto-tag%3Dab12%3Bfrom-tag%3Dcd34>`,
        referred,
      ]);
      assert.equal(bogus.status, 202, bogus.raw);
      const n481 = await raw.expect(lone.d, 'NOTIFY', at0);
      assert.match(n481.body, /^SIP\/2\.0 481 /, n481.raw);
      assert.match(header(n481, 'Event') ?? '', /^refer/);
      assert.match(header(n481, 'Subscription-State') ?? '', /^terminated/);
      await sleep(500);
      assert.ok(
        (await active()).some((c) => c.uuid === lone.uuid && c.leg?.ext === '001'),
        'the call stays with 001',
      );
      assert.ok(!peer.received.slice(at0).some((m) => m.method === 'BYE'), 'no BYE to 001');
      assert.equal((await s.get(`/rest/calls/active/${lone.uuid}/hangup`)).status, 200);
      await raw.expect(lone.d, 'BYE', at0);

      // The real one: call 1 with a caller, call 2 placed by 001 to 002 (answered), then REFER on call 1.
      const call1 = await talking('0501234592');
      const dumps2 = dumpNames(p2);
      const rang = p2.events.length;
      const call2 = await raw.call('002');
      await p2.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '002 answers 001', { from: rang });
      const consult = await until(
        async () =>
          (await active()).find(
            (c) =>
              c.lgDirection === 1 &&
              c.leg?.ext === '001' &&
              c.leg2?.ext === '002' &&
              c.lastEvent === 'call.bridge',
          ),
        "001's call to 002 bridged",
      );
      await sleep(500);
      const at = peer.received.length;
      const replaces = encodeURIComponent(
        `${call2.callId};to-tag=${call2.remoteTag};from-tag=${call2.localTag}`,
      );
      const accepted = await raw.request(call1.d, 'REFER', [
        `Refer-To: <sip:002@${DOMAIN}?Replaces=${replaces}>`,
        referred,
      ]);
      assert.equal(accepted.status, 202, accepted.raw);
      await raw.expect(call1.d, 'BYE', at);
      await raw.expect(call2, 'BYE', at);
      const n200 = await raw.expect(call1.d, 'NOTIFY', at);
      assert.match(n200.body, /^SIP\/2\.0 200 /, n200.raw);
      await bridged(call1.uuid, '002');
      assert.ok(!(await active()).some((c) => c.uuid === consult.uuid), 'the consultation call is over');
      assert.ok(
        !p2.events.slice(rang).some((e) => e.type === 'CALL_CLOSED'),
        "002's phone stays in its call (moved, not hung up)",
      );
      await sleep(2000);
      const hung = p2.events.length;
      assert.equal((await s.get(`/rest/calls/active/${call1.uuid}/hangup`)).status, 200);
      await p2.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 002', { from: hung });
      const c1 = await record(call1.uuid);
      assert.equal(c1.disposition, 0);
      assert.equal(c1.leg.ext, '002');
      assert.equal(c1.transferHistory, '001 > 002');
      const c2 = await record(consult.uuid);
      assert.equal(c2.disposition, 0, 'the consultation ended answered');
      // 002 heard nothing from the raw phone (it sends no RTP: baresip's dump holds only what it
      // decoded), then the caller's 400 Hz for the 2 s before the hangup.
      const heard = await heardSince(p2, dumps2, 1.5 * 8000);
      const late = peakHz(slice(heard, -1.2, -0.2));
      assert.ok(Math.abs(late - 400) <= 20, `002 hears the caller after the transfer: ${late} Hz`);
    } finally {
      await peer.close();
    }
  });
});
