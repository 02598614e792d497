// A browser as an employee's phone (issue 18, first slice): Debian's Chromium with fake media
// runs the console's SIP phone (packages/console/web/phone/sip-phone.ts, JsSIP) on a page this
// test serves on 127.0.0.1. It registers as 001 over ws:// at Kamailio (dzvin.cfg with
// WITH_WEBSOCKET), a caller dials 001's trunk, Dzvin's B2BUA sends the INVITE through Kamailio down
// the browser's WebSocket with a WebRTC offer (rtpengine: ICE, DTLS-SRTP, rtcp-mux), the page
// answers, the browser's tone (from the fake microphone) is recorded on the employee's track and
// Dzvin's on the caller's, and the page hangs up.
//
// Needs kamailio + kamailio-websocket-modules, rtpengine, Chromium and sox; without them it skips
// loudly, unless DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { browserSkip, chromiumPath } from '../../console/test/support/browser.ts';
import { isBrowserContact } from '../src/engine/sip/sip-engine.ts';
import { type Baresip, baresipSkipReason, startBaresip } from './support/baresip.ts';
import { type CrmReceiver, startCrmReceiver } from './support/crm-receiver.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import {
  freePort,
  type Kamailio,
  skipOrFail,
  startKamailio,
  websocketSkipReason,
} from './support/kamailio.ts';
import { buildPhoneBundle, launchPhoneChromium, phonePageHtml } from './support/phone-page.ts';
import { activeCalls, historyRecord } from './support/phonet-calls.ts';
import { type Rtpengine, rtpengineSkipReason, startRtpengine } from './support/rtpengine.ts';
import { untilRegistered } from './support/sip-stack.ts';
import { sleep, until } from './support/wait.ts';
import { goertzel, parseWav, peakHz } from './support/wav.ts';

const DOMAIN = 'sip.localhost';
const PASSWORD = 'browser-001-secret';
const TRUNK = '+380443334500';
/** The browser's fake microphone plays this; Dzvin's simulated caller sends 400 Hz. */
const BROWSER_HZ = 700;
/** 002's desk phone (baresip) sends this. */
const DESK_HZ = 1000;
const DESK_PASSWORD = 'desk-002-secret';
/** → ring group 100 (ring-all): 001 on the browser, 002 on the desk phone, 003 simulated. */
const GROUP_TRUNK = '+380443334510';

const soxSkip = () =>
  fs.existsSync('/usr/bin/sox') ? false : skipOrFail('WebRTC', ['/usr/bin/sox (apt-get install sox)']);
const skip =
  websocketSkipReason() || rtpengineSkipReason() || baresipSkipReason() || browserSkip() || soxSkip();

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

/** The page: the console's SIP phone bundled as it will be (esbuild, ES2022), exposed to the test. */
async function servePage(): Promise<{ url: string; close(): Promise<void>; jsGzip: number }> {
  const { js, gzipBytes } = await buildPhoneBundle();
  const html = phonePageHtml('/phone.js');
  const server = http.createServer((req, res) => {
    if (req.url === '/phone.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    jsGzip: gzipBytes,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('a browser registered over SIP-over-WebSocket is employee 001’s phone', { skip }, () => {
  let rtp: Rtpengine;
  let kam: Kamailio;
  let server: TestServer;
  let s: Session;
  let accountId = 0;
  let browser: Browser;
  let page: Page;
  let site: Awaited<ReturnType<typeof servePage>>;
  let dir = '';
  let desk: Baresip;
  let crm: CrmReceiver;
  const ids: Record<string, number> = {};
  const pageLog: string[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-webrtc-'));
    const tone = path.join(dir, 'tone.wav');
    execFileSync('/usr/bin/sox', [
      '-n',
      '-r',
      '48000',
      '-c',
      '1',
      '-b',
      '16',
      tone,
      'synth',
      '60',
      'sine',
      String(BROWSER_HZ),
      'vol',
      '0.5',
    ]);
    rtp = await startRtpengine();
    const b2buaPort = await freePort();
    kam = await startKamailio({ b2buaPort, websocket: true });
    server = await startServer('sqlite', {
      config: {
        sip: {
          listen: { address: '127.0.0.1', port: b2buaPort },
          edge: { address: '127.0.0.1', port: kam.edgePort },
          rtpengine: { address: '127.0.0.1', port: rtp.ngPort },
          kamailioRpcUrl: kam.rpcUrl,
          pollMs: 200,
        },
      },
    });
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
    assert.equal((await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 60, maxSec: 60 })).status, 204);
    const set = await s.admin('PUT', `/api/v1/employees/${e001.id}/sip-password`, { password: PASSWORD });
    assert.equal(set.status, 204, set.text);
    // 002 is a desk phone (baresip over UDP) in the same office: a hybrid office (issue 18).
    const e002 = await server.built.services.directory.employees.create(account, {
      displayName: 'Андрій',
      ext: '002',
    });
    const set2 = await s.admin('PUT', `/api/v1/employees/${e002.id}/sip-password`, {
      password: DESK_PASSWORD,
    });
    assert.equal(set2.status, 204, set2.text);
    desk = await startBaresip({
      user: '002',
      domain: DOMAIN,
      password: DESK_PASSWORD,
      proxyPort: kam.sipPort,
      answermode: 'manual',
      toneHz: DESK_HZ,
      dumpAudio: true,
    });
    await desk.register();
    await untilRegistered(server, accountId, '002');
    // 003 has no phone: in this (hybrid) account the simulator's phone is theirs. It answers only
    // when told (sim answer), so a test decides who of the group picks up.
    const e003 = await server.built.services.directory.employees.create(account, {
      displayName: 'Марія',
      ext: '003',
    });
    Object.assign(ids, { '001': e001.id, '002': e002.id, '003': e003.id });
    const manual = await s.admin('PUT', '/api/v1/sim/behaviours/employees/003', { mode: 'manual' });
    assert.equal(manual.status, 204, manual.text);
    const group = await s.admin('POST', '/api/v1/groups', {
      name: 'Офіс',
      ext: '100',
      strategy: 'simultaneous',
      ringTimeoutSec: 30,
      members: [e001.id, e002.id, e003.id],
    });
    assert.equal(group.status, 201, group.text);
    const t = await s.admin('POST', '/api/v1/trunks', {
      number: GROUP_TRUNK,
      name: 'Офіс',
      destination: { type: 'group', id: group.json().id },
    });
    assert.equal(t.status, 201, t.text);
    crm = await startCrmReceiver('/events');
    const c = await s.admin('POST', '/api/v1/crm-connections', { name: 'CRM', eventsUrl: crm.url });
    assert.equal(c.status, 201, c.text);
    site = await servePage();
    browser = await launchPhoneChromium({ tone });
    page = await browser.newPage();
    page.on('console', (m) => pageLog.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
    await page.goto(site.url);
    if (process.env.DZVIN_SIP_TRACE === '1') {
      // JsSIP's own log (the `debug` package) into the page's console, printed after the run.
      await page.evaluate("localStorage.debug = 'JsSIP:*'");
      await page.reload();
    }
    await page.waitForFunction('typeof window.createSipPhone === "function"');
  });
  after(async () => {
    await page?.evaluate('window.phone && window.phone.stop()').catch(() => undefined);
    await browser?.close();
    await desk?.stop();
    await site?.close();
    await server?.close();
    await crm?.close();
    await kam?.stop();
    await rtp?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (process.env.DZVIN_SIP_TRACE === '1') process.stderr.write(`${pageLog.join('\n')}\n`);
  });

  /** What went on when a step failed: the page's console and Kamailio's log. */
  const explained = async (run: () => Promise<void>) => {
    try {
      await run();
    } catch (e) {
      const states = await page.evaluate('window.states').catch(() => undefined);
      process.stderr.write(
        `\n--- page states ${JSON.stringify(states)}\n--- page console\n${pageLog.slice(-60).join('\n')}\n--- kamailio\n${kam.log().slice(-6000)}\n`,
      );
      throw e;
    }
  };
  /** A page expression's value, or a failure after `ms` (a promise the page never settles). */
  const inPage = <T>(expr: string, ms = 10_000): Promise<T> =>
    Promise.race([
      page.evaluate(expr) as Promise<T>,
      sleep(ms).then(() => {
        throw new Error(`the page did not settle ${expr} within ${ms} ms`);
      }),
    ]);

  test('the page registers as 001 over ws://, rings on a call to 001, answers with WebRTC media bridged to RTP both ways, holds and resumes, hangs up: both legs end and the history and recording are the call', () =>
    explained(async () => {
      console.log(
        `# the page's bundle (JsSIP + sip-phone.ts), gzipped: ${(site.jsGzip / 1024).toFixed(1)} KB`,
      );
      await page.evaluate(`(() => {
      window.states = []; window.calls = [];
      window.phone = window.createSipPhone({
        wsUrl: 'ws://127.0.0.1:${kam.wsPort}/', ext: '001', domain: '${DOMAIN}', password: '${PASSWORD}',
        audio: document.getElementById('far'),
        onState: (st, why) => window.states.push(why ? st + ':' + why : st),
        onIncoming: (call) => window.calls.push(call),
      });
    })()`);
      await page.waitForFunction('window.states.includes("registered")', undefined, { timeout: 10_000 });
      await untilRegistered(server, accountId, '001');
      const regs = await kam.control.registrations();
      const mine = regs.filter((r) => r.aor === `001@${DOMAIN}`);
      assert.equal(mine.length, 1, JSON.stringify(regs));
      assert.ok(isBrowserContact(mine[0]), `a WebSocket contact: ${JSON.stringify(mine[0])}`);

      const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234567', trunk: TRUNK });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json();
      await page.waitForFunction('window.calls.length === 1', undefined, { timeout: 10_000 });
      await until(
        async () => (await activeCalls(s)).some((c: Json) => c.uuid === uuid && c.leg?.ext === '001'),
        'the call ringing 001',
      );
      await inPage('window.calls[0].answer()');
      await until(
        async () =>
          (await activeCalls(s)).some((c: Json) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
        'the call bridged',
      );
      // Audio both ways: the browser's RTP (SRTP decrypted by rtpengine) reaches Dzvin, Dzvin's
      // reaches the browser's peer connection.
      await until(
        () => {
          const [leg] = server.built.sip!.driver.legs();
          return leg && leg.received >= 50 && leg.sent >= 50;
        },
        'RTP both ways at Dzvin',
        20_000,
      );
      await until(
        async () => {
          const p = await inPage<{ sent: number; received: number }>('window.calls[0].packets()');
          return p.received >= 50 && p.sent >= 50;
        },
        'RTP both ways in the browser',
        20_000,
      );
      await sleep(1500);
      const [leg] = server.built.sip!.driver.legs();
      const ng = rtp.client();
      try {
        const q = await ng.query({ 'call-id': leg.callId });
        assert.equal(q.result, 'ok');
        // The browser's side of rtpengine's call speaks SRTP over DTLS with ICE.
        assert.match(JSON.stringify(q), /UDP\/TLS\/RTP\/SAVPF/, 'the browser side is UDP/TLS/RTP/SAVPF');
      } finally {
        await ng.close();
      }

      // Hold from the page (a sendonly re-INVITE answered by Dzvin), and back: media flows again.
      await inPage('window.calls[0].hold(true)');
      await until(() => server.built.sip!.driver.legs()[0]?.held === true, 'Dzvin sees the leg held');
      await inPage('window.calls[0].hold(false)');
      await until(() => server.built.sip!.driver.legs()[0]?.held === false, 'Dzvin sees the leg resumed');
      const resumed = await inPage<{ sent: number; received: number }>('window.calls[0].packets()');
      await until(async () => {
        const p = await inPage<{ sent: number; received: number }>('window.calls[0].packets()');
        return p.received >= resumed.received + 25 && p.sent >= resumed.sent + 25;
      }, 'RTP both ways again after the hold');
      await inPage('window.calls[0].hangup()');
      const cause = await inPage<string>('window.calls[0].ended');
      assert.ok(cause, `the page's call ended (${cause})`);
      await until(async () => !(await activeCalls(s)).some((c: Json) => c.uuid === uuid), 'the call over');
      await until(() => server.built.sip!.driver.legs().length === 0, 'the SIP leg gone');
      const c = await historyRecord(s, uuid);
      assert.equal(c.disposition, 0, 'answered');
      assert.equal(c.leg.ext, '001');
      assert.ok(c.billSecs >= 1, `talked ${c.billSecs} s`);

      // The recording: tx is what the browser sent (its fake microphone's tone), rx what Dzvin sent it.
      const track = async (suffix: string) => {
        const r = await fetch(`${server.baseUrl}/rest/public/calls/${uuid}${suffix}/audio`);
        assert.equal(r.status, 200, `${suffix || 'mixed'} track`);
        return parseWav(Buffer.from(await r.arrayBuffer())).samples;
      };
      const [rx, tx] = [await track('-rx'), await track('-tx')];
      assert.ok(tx.length >= 8000, `at least a second recorded: ${tx.length} samples`);
      const measured = { rx: peakHz(rx), tx: peakHz(tx) };
      console.log(`# recorded: rx ${measured.rx} Hz, tx ${measured.tx} Hz, ${tx.length / 8000} s`);
      assert.ok(
        Math.abs(measured.tx - BROWSER_HZ) <= 20,
        `tx is the browser's ${BROWSER_HZ} Hz: ${measured.tx} Hz`,
      );
      assert.ok(Math.abs(measured.rx - 400) <= 20, `rx is Dzvin's 400 Hz: ${measured.rx} Hz`);
      assert.ok(goertzel(tx, 8000, BROWSER_HZ) > 10 * goertzel(tx, 8000, 400), 'tx: not the caller');
    }));

  /** 002's dump of what it heard (the last call) carries the browser's tone. */
  async function deskHeardBrowser() {
    const heard = await until(
      () => {
        const dump = desk.heard().at(-1);
        const samples = dump && dump.length > 44 ? parseWav(dump).samples : null;
        return samples && samples.length >= 8000 ? samples : null;
      },
      "002's dump of what it heard",
      5000,
    );
    const hz = peakHz(heard);
    assert.ok(Math.abs(hz - BROWSER_HZ) <= 20, `002 hears the browser's ${BROWSER_HZ} Hz: ${hz} Hz`);
  }

  test('the desk phone of 002 dials 001: the browser rings, answers, each hears the other (RTP through rtpengine both ways, 002 hears the browser’s tone), the page hangs up and 002 gets the BYE', () =>
    explained(async () => {
      const n = await inPage<number>('window.calls.length');
      const from = desk.events.length;
      assert.ok((await desk.command('dial', `sip:001@${DOMAIN}`)).ok);
      await page.waitForFunction(`window.calls.length === ${n + 1}`, undefined, { timeout: 10_000 });
      const live = await until(
        async () => (await activeCalls(s)).find((c: Json) => c.lgDirection === 1),
        'the internal call',
      );
      assert.equal(live.leg.ext, '002');
      assert.equal(live.leg2.ext, '001');
      await inPage(`window.calls[${n}].answer()`);
      await desk.waitForEvent((e) => e.type === 'CALL_ESTABLISHED', '002 talks', { from });
      await until(
        async () =>
          (await activeCalls(s)).some((c: Json) => c.uuid === live.uuid && c.lastEvent === 'call.bridge'),
        'the call bridged',
      );
      await until(
        async () => {
          const p = await inPage<{ sent: number; received: number }>(`window.calls[${n}].packets()`);
          return p.received >= 100 && p.sent >= 100;
        },
        'two seconds of RTP both ways in the browser',
        20_000,
      );
      await sleep(500);
      const hung = desk.events.length;
      await inPage(`window.calls[${n}].hangup()`);
      await inPage(`window.calls[${n}].ended`);
      await desk.waitForEvent((e) => e.type === 'CALL_CLOSED', 'the BYE at 002', { from: hung });
      await until(
        async () => !(await activeCalls(s)).some((c: Json) => c.uuid === live.uuid),
        'the call over',
      );
      await until(
        () =>
          server.built.sip!.driver.legs().length === 0 && server.built.sip!.driver.originated().length === 0,
        'both SIP legs gone',
      );
      const c = await historyRecord(s, live.uuid);
      assert.equal(c.disposition, 0, 'answered');
      assert.equal(c.leg.ext, '002');
      assert.equal(c.leg2.ext, '001');
      assert.ok(c.billSecs >= 1, `talked ${c.billSecs} s`);
      await deskHeardBrowser();
    }));

  test('click-to-call from the page: the browser dials 002, the desk phone rings and answers, each hears the other, 002 hangs up and the page’s call ends; history 001 → 002 answered', () =>
    explained(async () => {
      const from = desk.events.length;
      await inPage(`window.out = window.phone.call('002'); undefined`);
      await desk.waitForEvent((e) => e.type === 'CALL_INCOMING', '002 rings', { from });
      const live = await until(
        async () => (await activeCalls(s)).find((c: Json) => c.lgDirection === 1),
        'the internal call',
      );
      assert.equal(live.leg.ext, '001');
      assert.equal(live.leg2.ext, '002');
      assert.ok((await desk.command('accept')).ok);
      await inPage('window.out.confirmed');
      await until(
        async () =>
          (await activeCalls(s)).some((c: Json) => c.uuid === live.uuid && c.lastEvent === 'call.bridge'),
        'the call bridged',
      );
      let seen = { sent: 0, received: 0 };
      await until(
        async () => {
          seen = await inPage<{ sent: number; received: number }>('window.out.packets()');
          return seen.received >= 100 && seen.sent >= 100;
        },
        'two seconds of RTP both ways in the browser',
        20_000,
      ).catch((e) => {
        process.stderr.write(`--- rtpengine\n${rtp.log().slice(-10000)}\n`);
        throw new Error(
          `${e.message}: the browser's counters ${JSON.stringify(seen)}, Dzvin's ${JSON.stringify(server.built.sip!.driver.originated())}`,
        );
      });
      const ng = rtp.client();
      try {
        const q = await ng.query({ 'call-id': server.built.sip!.driver.originated()[0]?.callId ?? '' });
        assert.match(JSON.stringify(q), /UDP\/TLS\/RTP\/SAVPF/, 'the browser side is UDP/TLS/RTP/SAVPF');
      } finally {
        await ng.close();
      }
      const hung = desk.events.length;
      assert.ok((await desk.command('hangup')).ok);
      await desk.waitForEvent((e) => e.type === 'CALL_CLOSED', '002 hung up', { from: hung });
      await inPage('window.out.ended');
      await until(
        async () => !(await activeCalls(s)).some((c: Json) => c.uuid === live.uuid),
        'the call over',
      );
      const c = await historyRecord(s, live.uuid);
      assert.equal(c.disposition, 0, 'answered');
      assert.equal(c.leg.ext, '001');
      assert.equal(c.leg2.ext, '002');
      assert.ok(c.billSecs >= 1, `talked ${c.billSecs} s`);
      await deskHeardBrowser();
    }));

  test('a second tab of 001 registers a second contact: a call rings both tabs, the second answers, the first stops ringing (CANCEL) and the call is the second’s', () =>
    explained(async () => {
      const tab = await browser.newPage();
      try {
        await tab.goto(site.url);
        await tab.waitForFunction('typeof window.createSipPhone === "function"');
        await tab.evaluate(`(() => {
          window.states = []; window.calls = [];
          window.phone = window.createSipPhone({
            wsUrl: 'ws://127.0.0.1:${kam.wsPort}/', ext: '001', domain: '${DOMAIN}', password: '${PASSWORD}',
            onState: (st, why) => window.states.push(why ? st + ':' + why : st),
            onIncoming: (call) => window.calls.push(call),
          });
        })()`);
        await tab.waitForFunction('window.states.includes("registered")', undefined, { timeout: 10_000 });
        await until(
          async () =>
            (await kam.control.registrations()).filter((r) => r.aor === `001@${DOMAIN}`).length === 2,
          'two contacts of 001',
        );
        await server.built.sip!.refresh();
        const n = await inPage<number>('window.calls.length');
        const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234568', trunk: TRUNK });
        assert.equal(placed.status, 201, placed.text);
        const { uuid } = placed.json();
        await page.waitForFunction(`window.calls.length === ${n + 1}`, undefined, { timeout: 10_000 });
        await tab.waitForFunction('window.calls.length === 1', undefined, { timeout: 10_000 });
        await tab.evaluate('window.calls[0].answer()');
        const cause = await inPage<string>(`window.calls[${n}].ended`);
        console.log(`# the first tab's ringing call ended: ${cause}`);
        assert.match(cause, /Canceled|answered elsewhere/i, 'the first tab stops ringing');
        await until(
          async () =>
            (await activeCalls(s)).some((c: Json) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
          'the call bridged with the second tab',
        );
        await tab.evaluate('window.calls[0].hangup()');
        await until(async () => !(await activeCalls(s)).some((c: Json) => c.uuid === uuid), 'the call over');
        const c = await historyRecord(s, uuid);
        assert.equal(c.disposition, 0);
        assert.equal(c.leg.ext, '001');
        await tab.evaluate('window.phone.stop()');
        await until(
          async () =>
            (await kam.control.registrations()).filter((r) => r.aor === `001@${DOMAIN}`).length === 1,
          'the closed tab unregistered',
        );
      } finally {
        await tab.close();
      }
    }));

  test('a page with a wrong password is refused (the page says failed) and registers nothing', () =>
    explained(async () => {
      const before = (await kam.control.registrations()).filter((r) => r.aor === `001@${DOMAIN}`).length;
      const other = await browser.newPage();
      try {
        await other.goto(site.url);
        await other.waitForFunction('typeof window.createSipPhone === "function"');
        await other.evaluate(`(() => {
          window.states = [];
          window.phone = window.createSipPhone({
            wsUrl: 'ws://127.0.0.1:${kam.wsPort}/', ext: '001', domain: '${DOMAIN}', password: 'not-the-password',
            onState: (st, why) => window.states.push(why ? st + ':' + why : st),
          });
        })()`);
        await other.waitForFunction('window.states.some((s) => s.startsWith("failed"))', undefined, {
          timeout: 10_000,
        });
        const states = (await other.evaluate('window.states')) as string[];
        assert.ok(!states.includes('registered'), `never registered: ${states}`);
        console.log(`# the wrong password's page: ${states.join(', ')}`);
        const mine = (await kam.control.registrations()).filter((r) => r.aor === `001@${DOMAIN}`);
        assert.equal(mine.length, before, 'the wrong password registered nothing');
        await other.evaluate('window.phone.stop()');
      } finally {
        await other.close();
      }
    }));

  /** The CRM's events of `uuid` (the call's own: parent or direct) and of its children (one per member rung). */
  const eventsOf = (uuid: string): Json[] =>
    crm.requests.filter((r) => r.json?.uuid === uuid).map((r) => r.json);
  const childEventsOf = (uuid: string): Json[] =>
    crm.requests.filter((r) => r.json?.parentUuid === uuid).map((r) => r.json);

  /**
   * A call to the group's trunk: returns once all three members ring — the page (a WebRTC INVITE),
   * the desk phone (a plain one) and the simulated 003 — and Dzvin lists the three children.
   */
  async function ringGroup(from: string) {
    const n = await inPage<number>('window.calls.length');
    const deskFrom = desk.events.length;
    const placed = await s.admin('POST', '/api/v1/sim/calls', { from, trunk: GROUP_TRUNK });
    assert.equal(placed.status, 201, placed.text);
    const { uuid } = placed.json() as { uuid: string };
    await page.waitForFunction(`window.calls.length === ${n + 1}`, undefined, { timeout: 10_000 });
    const rings = await desk.waitForEvent((e) => e.type === 'CALL_INCOMING', '002 rings', { from: deskFrom });
    // Each phone is shown the caller (Dzvin's From: the number as the user), not "Dzvin".
    const e164 = `+380${from.slice(1)}`;
    assert.equal(rings.peeruri, `sip:${e164}@${DOMAIN}`);
    assert.equal(await inPage<string>(`window.calls[${n}].from.user`), e164);
    const ringing = await until(async () => {
      const kids = (await activeCalls(s)).filter((c: Json) => c.parentUuid === uuid);
      return kids.length === 3 ? kids : null;
    }, 'the group’s three members ringing');
    assert.deepEqual(ringing.map((c: Json) => c.leg.ext).sort(), ['001', '002', '003']);
    return { uuid, call: n, deskFrom };
  }

  /** The call's events as the CRM got them: the parent's dial/bridge/hangup, one child per member. */
  async function assertGroupEvents(uuid: string, answeredBy: string) {
    await until(
      () => eventsOf(uuid).some((e) => e.event === 'call.hangup'),
      'the parent’s hangup at the CRM',
    );
    await until(
      () => childEventsOf(uuid).filter((e) => e.event === 'call.hangup').length === 3,
      'the three children’s hangups at the CRM',
    );
    await sleep(300);
    assert.deepEqual(
      eventsOf(uuid).map((e) => [e.event, e.leg.ext]),
      [
        ['call.dial', '100'],
        ['call.bridge', answeredBy],
        ['call.hangup', answeredBy],
      ],
    );
    const kids = childEventsOf(uuid);
    for (const ext of ['001', '002', '003'])
      assert.deepEqual(
        kids.filter((e) => e.leg.ext === ext).map((e) => e.event),
        ext === answeredBy ? ['call.dial', 'call.bridge', 'call.hangup'] : ['call.dial', 'call.hangup'],
        `${ext}'s events`,
      );
    assert.equal(new Set(kids.map((e) => e.uuid)).size, 3, 'one child uuid per member rung');
    const c = await historyRecord(s, uuid);
    assert.equal(c.disposition, 0, 'answered');
    assert.equal(c.leg.ext, answeredBy, `history: answered by ${answeredBy}`);
    assert.equal(c.leg.id, ids[answeredBy]);
    const hangup = eventsOf(uuid).find((e) => e.event === 'call.hangup');
    assert.equal(hangup.leg.id, c.leg.id, 'the CRM and history agree on who answered');
    assert.equal(typeof hangup.bridgeAt, 'number', 'the hangup says when it was answered');
    assert.ok(
      Math.abs(c.billSecs - Math.round((c.endAt - hangup.bridgeAt) / 1000)) <= 1,
      `history's ${c.billSecs} s talked is the CRM's bridge to history's end`,
    );
  }

  test('a hybrid ring group (001 on the browser, 002 on the desk phone, 003 simulated) rings all three; the browser answers: 002 and 003 stop ringing, the caller and the browser hear each other, history and the CRM’s events say 001', () =>
    explained(async () => {
      const { uuid, call, deskFrom } = await ringGroup('0501234570');
      await inPage(`window.calls[${call}].answer()`);
      await desk.waitForEvent((e) => e.type === 'CALL_CLOSED', '002 stops ringing (CANCEL)', {
        from: deskFrom,
      });
      await until(async () => {
        const mine = (await activeCalls(s)).filter((c: Json) => c.uuid === uuid || c.parentUuid === uuid);
        return (
          mine.length > 0 &&
          mine.every((c: Json) => c.leg.ext === '001') &&
          mine.some((c: Json) => c.lastEvent === 'call.bridge')
        );
      }, 'only 001 left on the call, bridged');
      await until(
        () => {
          const legs = server.built.sip!.driver.legs();
          return legs.length === 1 && legs[0].state === 'up' && legs[0].received >= 50 && legs[0].sent >= 50;
        },
        'one SIP leg (the browser’s), RTP both ways at Dzvin',
        20_000,
      );
      await until(
        async () => {
          const p = await inPage<{ sent: number; received: number }>(`window.calls[${call}].packets()`);
          return p.received >= 50 && p.sent >= 50;
        },
        'RTP both ways in the browser',
        20_000,
      );
      await sleep(1500);
      await inPage(`window.calls[${call}].hangup()`);
      await inPage(`window.calls[${call}].ended`);
      await until(
        async () => !(await activeCalls(s)).some((c: Json) => c.uuid === uuid || c.parentUuid === uuid),
        'the call over',
      );
      await until(() => server.built.sip!.driver.legs().length === 0, 'the SIP leg gone');
      await assertGroupEvents(uuid, '001');
      // What the caller's side heard: the call's recording has the browser's tone on 001's track.
      const r = await fetch(`${server.baseUrl}/rest/public/calls/${uuid}-tx/audio`);
      assert.equal(r.status, 200, 'the call’s tx track');
      const tx = parseWav(Buffer.from(await r.arrayBuffer())).samples;
      assert.ok(tx.length >= 8000, `at least a second recorded: ${tx.length} samples`);
      const hz = peakHz(tx);
      console.log(`# the group call's tx track: ${hz} Hz, ${tx.length / 8000} s`);
      assert.ok(Math.abs(hz - BROWSER_HZ) <= 20, `the caller heard the browser's ${BROWSER_HZ} Hz: ${hz} Hz`);
    }));

  test('the same group; the simulated 003 answers: the browser’s and the desk phone’s ringing end (CANCEL), history and the CRM’s events say 003', () =>
    explained(async () => {
      const { uuid, call, deskFrom } = await ringGroup('0501234571');
      const answered = await s.admin('POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '003' });
      assert.equal(answered.status, 204, answered.text);
      const cause = await inPage<string>(`window.calls[${call}].ended`);
      console.log(`# the browser's ringing call ended: ${cause}`);
      assert.match(cause, /Canceled|answered elsewhere/i, 'the browser stops ringing');
      await desk.waitForEvent((e) => e.type === 'CALL_CLOSED', '002 stops ringing (CANCEL)', {
        from: deskFrom,
      });
      await until(async () => {
        const mine = (await activeCalls(s)).filter((c: Json) => c.uuid === uuid || c.parentUuid === uuid);
        return (
          mine.length > 0 &&
          mine.every((c: Json) => c.leg.ext === '003') &&
          mine.some((c: Json) => c.lastEvent === 'call.bridge')
        );
      }, 'only 003 left on the call, bridged');
      await until(() => server.built.sip!.driver.legs().length === 0, 'no SIP leg left');
      await sleep(1000);
      const hung = await s.get(`/rest/calls/active/${uuid}/hangup`);
      assert.equal(hung.status, 200, hung.text);
      await until(
        async () => !(await activeCalls(s)).some((c: Json) => c.uuid === uuid || c.parentUuid === uuid),
        'the call over',
      );
      await assertGroupEvents(uuid, '003');
    }));

  test('an ICE restart from the page (a re-INVITE with new ICE credentials, as after a network change) during a call to 001: the answer restarts ICE too (rtpengine’s new credentials) and RTP flows both ways after it', () =>
    explained(async () => {
      const n = await inPage<number>('window.calls.length');
      const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234572', trunk: TRUNK });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json();
      await page.waitForFunction(`window.calls.length === ${n + 1}`, undefined, { timeout: 10_000 });
      await inPage(`window.calls[${n}].answer()`);
      const both = async (what: string, base = { sent: 0, received: 0 }) => {
        let seen = base;
        await until(
          async () => {
            seen = await inPage<{ sent: number; received: number }>(`window.calls[${n}].packets()`);
            const [leg] = server.built.sip!.driver.legs();
            return seen.received >= base.received + 50 && seen.sent >= base.sent + 50 && leg?.received >= 50;
          },
          what,
          20_000,
        ).catch((e) => {
          throw new Error(`${e.message}: the browser's counters ${JSON.stringify(seen)}`);
        });
        return seen;
      };
      await both('RTP both ways before the restart');
      const ufrags = () => inPage<{ local: string; remote: string }>(`window.calls[${n}].iceUfrags()`);
      const before = await ufrags();
      const atDzvin = server.built.sip!.driver.legs()[0].received;
      await inPage(`window.calls[${n}].restartIce()`);
      const after = await ufrags();
      console.log(`# ICE restart: ufrags ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
      assert.notEqual(after.local, before.local, 'the browser has new ICE credentials');
      // RFC 8839 §4.4.1.1.1: the answer to an ICE restart restarts it too (rtpengine's new
      // credentials, not the SDP of the call's start).
      assert.notEqual(after.remote, before.remote, 'the answer has new ICE credentials');
      const restarted = await inPage<{ sent: number; received: number }>(`window.calls[${n}].packets()`);
      await both('RTP both ways in the browser after the restart', restarted);
      await until(
        () => (server.built.sip!.driver.legs()[0]?.received ?? 0) >= atDzvin + 100,
        'Dzvin still hears the browser after the restart',
      );
      await inPage(`window.calls[${n}].hangup()`);
      await inPage(`window.calls[${n}].ended`);
      await until(async () => !(await activeCalls(s)).some((c: Json) => c.uuid === uuid), 'the call over');
      const c = await historyRecord(s, uuid);
      assert.equal(c.disposition, 0);
    }));

  test('an ICE restart from the page on a call it placed (to 002’s desk phone): the answer restarts ICE too, RTP flows both ways after it and 002 still hears the browser', () =>
    explained(async () => {
      const from = desk.events.length;
      await inPage(`window.out2 = window.phone.call('002'); undefined`);
      await desk.waitForEvent((e) => e.type === 'CALL_INCOMING', '002 rings', { from });
      assert.ok((await desk.command('accept')).ok);
      await inPage('window.out2.confirmed');
      const packets = () => inPage<{ sent: number; received: number }>('window.out2.packets()');
      await until(async () => {
        const p = await packets();
        return p.received >= 50 && p.sent >= 50;
      }, 'RTP both ways before the restart');
      const ufrags = () => inPage<{ local: string; remote: string }>('window.out2.iceUfrags()');
      const before = await ufrags();
      await inPage('window.out2.restartIce()');
      const after = await ufrags();
      console.log(
        `# ICE restart (placed call): ufrags ${JSON.stringify(before)} -> ${JSON.stringify(after)}`,
      );
      assert.notEqual(after.local, before.local, 'the browser has new ICE credentials');
      assert.notEqual(after.remote, before.remote, 'the answer has new ICE credentials');
      const base = await packets();
      await until(
        async () => {
          const p = await packets();
          return p.received >= base.received + 100 && p.sent >= base.sent + 100;
        },
        'two seconds of RTP both ways after the restart',
        20_000,
      );
      const hung = desk.events.length;
      assert.ok((await desk.command('hangup')).ok);
      await desk.waitForEvent((e) => e.type === 'CALL_CLOSED', '002 hung up', { from: hung });
      await inPage('window.out2.ended');
      await deskHeardBrowser();
    }));

  // Last but one: it stops the page's phone that the tests above share.
  test('presence follows the registration: the registered page shows 001’s phone registered, stop() (REGISTER expires 0) takes it off, and a page closed without stop() goes offline once its WebSocket is gone', () =>
    explained(async () => {
      const employee = async (ext: string): Promise<Json> => {
        const r = await s.admin('GET', '/api/v1/employees');
        assert.equal(r.status, 200, r.text);
        return (r.json() as Json[]).find((e) => e.ext === ext);
      };
      const registered = (ext: string, contacts: number) =>
        until(
          async () => {
            const e = await employee(ext);
            return e.phone?.contacts === contacts ? e : null;
          },
          `${ext} with ${contacts} contact(s) registered`,
          contacts === 0 ? 10_000 : 15_000,
        );
      let e = await registered('001', 1);
      assert.deepEqual(e.phone, { registered: true, contacts: 1 });
      assert.equal(e.presence, 'online');
      await inPage('window.phone.stop()');
      e = await registered('001', 0);
      assert.deepEqual(e.phone, { registered: false, contacts: 0 }, 'stop() unregistered the page');
      assert.deepEqual(
        (await kam.control.registrations()).filter((r) => r.aor === `001@${DOMAIN}`),
        [],
        'Kamailio has no contact of 001 left',
      );

      // A page in a browser context of its own, closed like a browser window: no REGISTER with
      // expires 0 goes out, only the WebSocket closes.
      const ctx = await browser.newContext();
      const tab = await ctx.newPage();
      tab.on('console', (m) => pageLog.push(`closed tab ${m.type()}: ${m.text()}`));
      await tab.goto(site.url);
      await tab.waitForFunction('typeof window.createSipPhone === "function"');
      await tab.evaluate(`(() => {
        window.states = [];
        window.phone = window.createSipPhone({
          wsUrl: 'ws://127.0.0.1:${kam.wsPort}/', ext: '001', domain: '${DOMAIN}', password: '${PASSWORD}',
          onState: (st, why) => window.states.push(why ? st + ':' + why : st),
        });
      })()`);
      await tab.waitForFunction('window.states.includes("registered")', undefined, { timeout: 10_000 });
      e = await registered('001', 1);
      assert.deepEqual(e.phone, { registered: true, contacts: 1 });
      const closedAt = Date.now();
      await ctx.close();
      // Kamailio keeps the binding (nathelper's keep-alive OPTIONS are for UDP contacts only, and
      // it expires in 10 min); Dzvin leaves a browser's binding out once Kamailio no longer holds
      // its WebSocket (core.tcp_list): here the socket closes with the page. A page that vanishes
      // without closing it (a network gone) loses it when the websocket module's Ping gets no Pong
      // for 30 s: the generous bound below covers that too, no speed is asserted.
      e = await until(
        async () => {
          const now = await employee('001');
          return now.phone?.registered === false ? now : null;
        },
        'the closed page’s contact gone: 001 offline',
        60_000,
      ).catch(async (err) => {
        const r = await fetch(kam.rpcUrl, {
          method: 'POST',
          body: JSON.stringify({ jsonrpc: '2.0', method: 'ul.dump', id: 1 }),
        });
        throw new Error(`${err.message}; ul.dump: ${await r.text()}`);
      });
      console.log(
        `# the page closed without stop() was offline ${((Date.now() - closedAt) / 1000).toFixed(1)} s later`,
      );
      assert.deepEqual(e.phone, { registered: false, contacts: 0 });
    }));

  test('a browser that freezes on a call-free page (its WebSocket open, nothing answered: a laptop lid shut, a network gone) goes offline once Kamailio’s websocket module gives up on it (a Ping after 30 s idle, no Pong for 30 s more)', () =>
    explained(async () => {
      // A Chromium of its own, found by a marker in its command line, stopped by PID (SIGSTOP: its
      // sockets stay open, its kernel still ACKs, nothing answers), killed by PID at the end.
      const marker = `--dzvin-freeze-${process.pid}-${Date.now()}`;
      const frozen = await chromium.launch({
        executablePath: chromiumPath()!,
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage', marker],
      });
      const pids = () =>
        fs
          .readdirSync('/proc')
          .filter((d) => /^\d+$/.test(d))
          .filter((d) => {
            try {
              return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker);
            } catch {
              return false;
            }
          })
          .map(Number);
      let stopped: number[] = [];
      try {
        const tab = await frozen.newPage();
        await tab.goto(site.url);
        await tab.waitForFunction('typeof window.createSipPhone === "function"');
        await tab.evaluate(`(() => {
          window.states = [];
          window.phone = window.createSipPhone({
            wsUrl: 'ws://127.0.0.1:${kam.wsPort}/', ext: '001', domain: '${DOMAIN}', password: '${PASSWORD}',
            onState: (st, why) => window.states.push(why ? st + ':' + why : st),
          });
        })()`);
        await tab.waitForFunction('window.states.includes("registered")', undefined, { timeout: 10_000 });
        await until(
          async () =>
            (await s.admin('GET', '/api/v1/employees')).json().find((e: Json) => e.ext === '001')?.phone
              ?.registered === true,
          '001 registered from the browser that will freeze',
        );
        // The marker is on the browser process's command line; its renderer and network service
        // (which holds the WebSocket) are its descendants: all of them are stopped.
        const roots = pids();
        assert.ok(roots.length > 0, 'the frozen browser’s processes found');
        const all = new Set(roots);
        for (let grew = true; grew; ) {
          grew = false;
          for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
            try {
              const ppid = Number(fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
              if (all.has(ppid) && !all.has(Number(d))) {
                all.add(Number(d));
                grew = true;
              }
            } catch {
              /* gone */
            }
          }
        }
        stopped = [...all];
        for (const pid of stopped) process.kill(pid, 'SIGSTOP');
        const frozenAt = Date.now();
        const e = await until(
          async () => {
            const now = (await s.admin('GET', '/api/v1/employees')).json().find((x: Json) => x.ext === '001');
            return now.phone?.registered === false ? now : null;
          },
          'the frozen browser’s contact left out: 001 offline',
          150_000,
        );
        console.log(
          `# the frozen browser was offline ${((Date.now() - frozenAt) / 1000).toFixed(1)} s later`,
        );
        assert.deepEqual(e.phone, { registered: false, contacts: 0 });
        assert.match(kam.log(), /WebSocket from .* closed/);
      } finally {
        for (const pid of stopped) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        await Promise.race([frozen.close().catch(() => undefined), sleep(5000)]);
      }
    }));
});
