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
import { goertzel, parseWav } from './support/wav.ts';

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

/** The frequency (5 Hz steps, 200–2000 Hz) with the most energy: what a heard tone measures. */
function peakHz(samples: Int16Array): number {
  let best = 0;
  let bestAmp = -1;
  for (let f = 200; f <= 2000; f += 5) {
    const a = goertzel(samples, 8000, f);
    if (a > bestAmp) [best, bestAmp] = [f, a];
  }
  return best;
}

/** The newest complete dump of what a phone heard (its call closed), as samples. */
async function lastHeard(phone: Baresip, minSamples: number): Promise<Int16Array> {
  return until(
    () => {
      const dumps = phone.heard();
      const dump = dumps[dumps.length - 1];
      const samples = dump && dump.length > 44 ? parseWav(dump).samples : null;
      return samples && samples.length >= minSamples ? samples : null;
    },
    `${phone.aor}'s dump of what it heard`,
    5000,
  );
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

    const uuid = await dialOut();
    const rang = p3.events.length;
    const closed = p1.events.length;
    assert.ok((await p1.command('transfer', `sip:003@${DOMAIN}`)).ok);
    await p3.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '003 answers the transfer', { from: rang });
    await p1.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 001', { from: closed });
    await bridged(uuid, '003');
    await sleep(2000);
    const hung = p3.events.length;
    assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
    await p3.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 003', { from: hung });
    const c = await record(uuid);
    assert.equal(c.disposition, 0);
    assert.equal(c.leg.ext, '003');
    assert.equal(c.transferHistory, '001 > 003');
    const hz = peakHz(await lastHeard(p3, 8000));
    assert.ok(Math.abs(hz - 400) <= 20, `003 hears the far end (Dzvin's 400 Hz): ${hz} Hz`);
  });
});
