// The browser phone in production shape (issue 18): wss:// at the console's own origin, TLS ended
// by Debian's nginx running deploy/nginx/dzvin.conf (`location = /sip`, a self-signed
// certificate made with openssl), proxied to Kamailio's WebSocket listener (dzvin.cfg with
// WITH_WEBSOCKET, WS_PROXY = nginx's address, WS_ORIGIN = the console's origin), Dzvin's B2BUA
// and rtpengine behind it. Chromium (--ignore-certificate-errors) runs the console's SIP phone on
// a page of that origin; SIP clients written out in Node (support/ws-sip.ts) play the others,
// each from its own loopback address (127.0.0.2, .3, …) so that nginx sees distinct clients.
//
// What is checked: Kamailio counts its limits (authfail, pike, its per-address WebSocket cap)
// against each browser's own address that nginx passes in X-Real-IP, never against nginx's, and
// believes that header only from nginx; a WebSocket flood through nginx is answered by nginx
// (429/503), one straight at Kamailio's port by Kamailio (at most WS_CONN_LIMIT upgraded, the rest
// 503, the flooder banned); and through all of it the registered browser still takes a call.
//
// Needs kamailio + kamailio-websocket-modules, rtpengine, nginx, openssl and Chromium; without
// them it skips loudly, unless DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildConsole } from '../../console/src/build.ts';
import { browserSkip } from '../../console/test/support/browser.ts';
import { isBrowserContact } from '../src/engine/sip/sip-engine.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import { freePort, type Kamailio, startKamailio, websocketSkipReason } from './support/kamailio.ts';
import { type Nginx, nginxTlsSkipReason, startNginx } from './support/nginx.ts';
import { buildPhoneBundle, launchPhoneChromium } from './support/phone-page.ts';
import { activeCalls, historyRecord } from './support/phonet-calls.ts';
import { type Rtpengine, rtpengineSkipReason, startRtpengine } from './support/rtpengine.ts';
import { untilRegistered } from './support/sip-stack.ts';
import { sleep, until } from './support/wait.ts';
import { openWs, type WsHandshake, wsRegister } from './support/ws-sip.ts';

const DOMAIN = 'sip.localhost';
const PASSWORD = 'browser-001-secret';
const TRUNK = '+380443334500';
/** dzvin.cfg's defaults, which this test does not override. */
const AUTH_FAIL_LIMIT = 10;
const WS_CONN_LIMIT = 50;
/** deploy/nginx/dzvin.conf's `limit_conn dzvin_sip_conns`. */
const NGINX_CONN_LIMIT = 30;
/** The clients, each its own loopback address (nginx's $remote_addr). The browser is 127.0.0.1. */
const WRONG_PASSWORD_CLIENT = '127.0.0.2';
const OTHER_CLIENT = '127.0.0.3';
const DIRECT_FORGER = '127.0.0.4';
const NGINX_FLOODER = '127.0.0.5';
const DIRECT_FLOODER = '127.0.0.6';

const skip = websocketSkipReason() || rtpengineSkipReason() || nginxTlsSkipReason() || browserSkip();

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

describe('a browser phone over wss:// through nginx at the console’s origin', { skip }, () => {
  let rtp: Rtpengine;
  let kam: Kamailio;
  let server: TestServer;
  let proxy: Nginx;
  let s: Session;
  let accountId = 0;
  let browser: Browser;
  let page: Page;
  let origin = '';
  const opened: WsHandshake[] = [];
  const pageLog: string[] = [];

  /** Kamailio's htable `table` as name → value. */
  async function htable(table: string): Promise<Map<string, string>> {
    const r = await fetch(kam.rpcUrl, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'htable.dump', params: [table] }),
    });
    const out = new Map<string, string>();
    for (const e of ((await r.json()) as Json).result ?? [])
      for (const item of e.slot ?? []) out.set(String(item.name), String(item.value));
    return out;
  }
  const wss = () => `wss://127.0.0.1:${proxy.port}/sip`;
  /** A WebSocket through nginx as the console's page would open it (its Origin), from `from`. */
  const throughNginx = async (from: string, headers: Record<string, string> = {}) => {
    const h = await openWs({ url: wss(), localAddress: from, headers: { origin, ...headers } });
    opened.push(h);
    return h;
  };
  const direct = async (from: string, headers: Record<string, string> = {}) => {
    const h = await openWs({ url: `ws://127.0.0.1:${kam.wsPort}/`, localAddress: from, headers });
    opened.push(h);
    return h;
  };
  const register = (h: WsHandshake, password: string, o: { expires?: number; host?: string } = {}) => {
    assert.equal(h.status, 101, `the WebSocket opened: ${h.status} ${h.text}`);
    return wsRegister(h.ws!, { ext: '001', domain: DOMAIN, password, expires: 60, ...o });
  };

  before(async () => {
    rtp = await startRtpengine();
    const b2buaPort = await freePort();
    // The console's origin is nginx's: Kamailio is told it (WS_ORIGIN) before nginx listens there.
    const nginxPort = await freePort({ tcp: true });
    origin = `https://127.0.0.1:${nginxPort}`;
    kam = await startKamailio({
      b2buaPort,
      websocket: true,
      defines: { WS_PROXY: '127.0.0.1', WS_ORIGIN: `"${origin}"` },
    });
    server = await startServer('sqlite', {
      config: {
        sip: {
          listen: { address: '127.0.0.1', port: b2buaPort },
          edge: { address: '127.0.0.1', port: kam.edgePort },
          rtpengine: { address: '127.0.0.1', port: rtp.ngPort },
          kamailioRpcUrl: kam.rpcUrl,
          pollMs: 200,
        },
        // The console's Phone connects at its own origin (wss: on https).
        sipWsUrl: '/sip',
      },
    });
    proxy = await startNginx({
      upstreams: [`127.0.0.1:${server.port}`],
      sip: `127.0.0.1:${kam.wsPort}`,
      tls: true,
      port: nginxPort,
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
    await until(async () => (await htable('cred')).has(`001@${DOMAIN}`), 'Dzvin to push 001’s credential');

    await buildConsole();
    const { js } = await buildPhoneBundle();
    // nginx's certificate is self-signed.
    browser = await launchPhoneChromium({ ignoreCertificates: true });
    page = await browser.newPage();
    page.on('console', (m) => pageLog.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
    // A page of the console's origin, served by nginx (Dzvin's /healthz through `location /`), with
    // the phone's bundle added to it: the WebSocket it opens is same-origin, as the Phone page's.
    const res = await page.goto(`${origin}/healthz`);
    assert.equal(res?.status(), 200);
    await page.evaluate(`document.body.innerHTML = '<audio id="far" autoplay></audio>'`);
    await page.addScriptTag({ content: js.toString('utf8'), type: 'module' });
    await page.waitForFunction('typeof window.createSipPhone === "function"');
  });

  after(async () => {
    for (const h of opened) h.ws?.close();
    await page?.evaluate('window.phone && window.phone.stop()').catch(() => undefined);
    await browser?.close();
    await proxy?.stop();
    await server?.close();
    await kam?.stop();
    await rtp?.stop();
    if (process.env.DZVIN_SIP_TRACE === '1') process.stderr.write(`${pageLog.join('\n')}\n`);
  });

  /** What went on when a step failed: the page's console, Kamailio's and nginx's logs. */
  const explained = async (run: () => Promise<void>) => {
    try {
      await run();
    } catch (e) {
      const states = await page.evaluate('window.states').catch(() => undefined);
      process.stderr.write(
        `\n--- page states ${JSON.stringify(states)}\n--- page console\n${pageLog.slice(-40).join('\n')}\n--- kamailio\n${kam.log().slice(-5000)}\n--- nginx\n${proxy.errorLog().slice(-3000)}\n`,
      );
      throw e;
    }
  };
  const inPage = <T>(expr: string, ms = 10_000): Promise<T> =>
    Promise.race([
      page.evaluate(expr) as Promise<T>,
      sleep(ms).then(() => {
        throw new Error(`the page did not settle ${expr} within ${ms} ms`);
      }),
    ]);

  test('the page registers as 001 over wss:// through nginx; Kamailio knows the WebSocket as the browser’s own address, not only nginx’s', () =>
    explained(async () => {
      await page.evaluate(`(() => {
        window.states = []; window.calls = [];
        window.phone = window.createSipPhone({
          wsUrl: '${wss()}', ext: '001', domain: '${DOMAIN}', password: '${PASSWORD}',
          audio: document.getElementById('far'),
          onState: (st, why) => window.states.push(why ? st + ':' + why : st),
          onIncoming: (call) => window.calls.push(call),
        });
      })()`);
      await page.waitForFunction('window.states.includes("registered")', undefined, { timeout: 10_000 });
      await untilRegistered(server, accountId, '001');
      const mine = (await kam.control.registrations()).filter((r) => r.aor === `001@${DOMAIN}`);
      assert.equal(mine.length, 1, JSON.stringify(mine));
      assert.ok(isBrowserContact(mine[0]), `a WebSocket contact: ${JSON.stringify(mine[0])}`);
      // The connection Kamailio holds is nginx's (127.0.0.1:<port>); `wsclient` says whose it is.
      const conn = /^sip:(127\.0\.0\.1:\d+);transport=ws$/.exec(mine[0].received ?? '')?.[1];
      assert.ok(conn, `received over nginx's connection: ${mine[0].received}`);
      assert.equal((await htable('wsclient')).get(conn), '127.0.0.1', 'the browser’s address from X-Real-IP');
    }));

  test('Kamailio refuses a handshake through nginx from another origin (403), and from nginx’s address without X-Real-IP (400)', async () => {
    const foreign = await throughNginx(OTHER_CLIENT, { origin: 'https://evil.example' });
    assert.equal(foreign.status, 403, foreign.text);
    assert.match(foreign.text, /Origin not allowed/);
    // nginx's address reaching Kamailio directly (a proxy that forgot the header): refused, else
    // every such browser would share the proxy's one budget.
    const bare = await direct('127.0.0.1', { origin });
    assert.equal(bare.status, 400, bare.text);
    assert.match(bare.text, /X-Real-IP/);
  });

  test('a wrong-password loop through nginx locks out only that client’s address: another client through nginx and the browser still register', () =>
    explained(async () => {
      // The client also sends an X-Real-IP of its own: nginx replaces it with its real address.
      const bad = await throughNginx(WRONG_PASSWORD_CLIENT, { 'x-real-ip': OTHER_CLIENT });
      for (let i = 1; i <= AUTH_FAIL_LIMIT; i++) {
        const r = await register(bad, `wrong-${i}`);
        assert.deepEqual(r, { status: 403, reason: 'Forbidden' }, `attempt ${i}`);
      }
      // Locked out: even the right password is refused now, without a challenge.
      assert.deepEqual(await register(bad, PASSWORD), { status: 403, reason: 'Too Many Failed Attempts' });
      const fails = await htable('authfail');
      assert.deepEqual([...fails.keys()], [WRONG_PASSWORD_CLIENT], 'counted against the client, not nginx');
      assert.equal(fails.get(WRONG_PASSWORD_CLIENT), String(AUTH_FAIL_LIMIT));

      // Another client behind the same nginx, and a new WebSocket of the locked-out one from a
      // different address it forges directly at Kamailio: the forged header is ignored there.
      const other = await throughNginx(OTHER_CLIENT);
      const host = 'other-client.invalid';
      assert.deepEqual(await register(other, PASSWORD, { host }), { status: 200, reason: 'OK' });
      const contacts = async () =>
        (await kam.control.registrations()).filter((r) => r.aor === `001@${DOMAIN}`).map((r) => r.contact);
      assert.ok(
        (await contacts()).some((c) => c.includes(host)),
        'the other client’s binding',
      );
      // Unregistered again: the call at the end rings the browser alone.
      assert.deepEqual(await register(other, PASSWORD, { host, expires: 0 }), { status: 200, reason: 'OK' });
      assert.equal((await contacts()).length, 1, 'only the browser’s binding is left');
      const forger = await direct(DIRECT_FORGER, { 'x-real-ip': OTHER_CLIENT, origin });
      assert.deepEqual(await register(forger, 'wrong'), { status: 403, reason: 'Forbidden' });
      assert.equal((await htable('authfail')).get(DIRECT_FORGER), '1', 'the forger is its own address');
      assert.equal((await htable('authfail')).has(OTHER_CLIENT), false, 'the forged address is not charged');
      // The browser is still registered and Dzvin still sees it.
      assert.ok(await inPage<boolean>('window.phone.state() === "registered"'));
      await untilRegistered(server, accountId, '001');
      other.ws!.close();
      forger.ws!.close();
      bad.ws!.close();
    }));

  test('a client that registers through nginx and goes away without unregistering (its WebSocket closed) is dropped by Kamailio itself: ul.dump no longer lists its contact, the browser’s stays', () =>
    explained(async () => {
      const contacts = async () =>
        (await kam.control.registrations()).filter((r) => r.aor === `001@${DOMAIN}`).map((r) => r.contact);
      const gone = await throughNginx(OTHER_CLIENT);
      const host = 'gone-client.invalid';
      assert.deepEqual(await register(gone, PASSWORD, { host, expires: 600 }), { status: 200, reason: 'OK' });
      assert.ok(
        (await contacts()).some((c) => c.includes(host)),
        'its binding, for 600 s',
      );
      // No REGISTER with expires 0: the tab is closed (nginx closes its side of the connection
      // to Kamailio). usrloc's handle_lost_tcp expires the contact at its next timer run.
      gone.ws!.close();
      await until(
        async () => !(await contacts()).some((c) => c.includes(host)),
        'Kamailio to drop the contact of the closed WebSocket',
        30_000,
      );
      assert.equal((await contacts()).length, 1, 'only the browser’s binding is left');
      assert.ok(await inPage<boolean>('window.phone.state() === "registered"'));
    }));

  test('a WebSocket flood through nginx is answered by nginx itself (429 limit_req, 503 limit_conn): at most 30 reach Kamailio', () =>
    explained(async () => {
      const n = 100;
      const flood = await Promise.all(Array.from({ length: n }, () => throughNginx(NGINX_FLOODER)));
      const by = tally(flood);
      console.log(`# through nginx: ${JSON.stringify(by)}`);
      const upgraded = flood.filter((h) => h.status === 101).length;
      assert.ok(upgraded >= 1, `some handshakes passed: ${JSON.stringify(by)}`);
      assert.ok(upgraded <= NGINX_CONN_LIMIT, `at most ${NGINX_CONN_LIMIT} upgraded: ${JSON.stringify(by)}`);
      const refused = flood.filter((h) => h.status !== 101);
      assert.equal(refused.length, n - upgraded);
      for (const h of refused) {
        assert.ok(h.status === 429 || h.status === 503, `nginx's limits: ${h.status} ${h.text.slice(0, 80)}`);
        assert.match(h.text, /nginx/, 'answered by nginx, not by Kamailio');
      }
      assert.ok(by[429] >= 1, `limit_req answered: ${JSON.stringify(by)}`);
      // Kamailio counted the flooder's WebSockets by its own address; once they close, it forgets
      // them (websocket:closed runs a few seconds later).
      assert.equal((await htable('wsconn')).get(NGINX_FLOODER), String(upgraded));
      for (const h of flood) h.ws?.close();
      await until(async () => (await htable('wsconn')).get(NGINX_FLOODER) === '0', 'the slots freed', 15_000);
      assert.equal((await htable('ipban')).has('127.0.0.1'), false, 'nginx’s address is never banned');
    }));

  test('a WebSocket flood straight at Kamailio’s port: at most WS_CONN_LIMIT upgraded, the rest 503, the flooder banned (its SIP goes unanswered)', () =>
    explained(async () => {
      const n = 120;
      const flood = await Promise.all(Array.from({ length: n }, () => direct(DIRECT_FLOODER, { origin })));
      const by = tally(flood);
      console.log(`# straight at Kamailio: ${JSON.stringify(by)}`);
      const upgraded = flood.filter((h) => h.status === 101);
      assert.ok(upgraded.length >= 1 && upgraded.length <= WS_CONN_LIMIT, JSON.stringify(by));
      for (const h of flood.filter((f) => f.status !== 101)) {
        assert.equal(h.status, 503, h.text);
        assert.match(h.text, /Too many|Banned/, h.text);
      }
      // More than PIKE_DENSITY handshakes within PIKE_UNIT: banned, like a SIP flooder.
      await until(async () => (await htable('ipban')).has(DIRECT_FLOODER), 'the flooder banned');
      const again = await direct(DIRECT_FLOODER, { origin });
      assert.equal(again.status, 503, again.text);
      assert.match(String(again.headers['retry-after']), /^120$/);
      // Even on a WebSocket it already holds, its SIP gets no answer while banned.
      const held = upgraded[0].ws!;
      const silent = await Promise.race([
        wsRegister(held, { ext: '001', domain: DOMAIN, password: PASSWORD }).then(
          (r) => `answered ${r.status}`,
        ),
        sleep(2000).then(() => 'silence'),
      ]).catch(() => 'silence');
      assert.equal(silent, 'silence');
      for (const h of flood) h.ws?.close();
      assert.equal((await htable('ipban')).has('127.0.0.1'), false, 'the browser’s address is not banned');
    }));

  test('through both floods the browser stays registered: a call to 001’s trunk rings it, it answers with media both ways, and hangs up', () =>
    explained(async () => {
      assert.ok(await inPage<boolean>('window.phone.state() === "registered"'));
      const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '0501234567', trunk: TRUNK });
      assert.equal(placed.status, 201, placed.text);
      const { uuid } = placed.json();
      await page.waitForFunction('window.calls.length === 1', undefined, { timeout: 10_000 });
      await inPage('window.calls[0].answer()');
      await until(
        async () =>
          (await activeCalls(s)).some((c: Json) => c.uuid === uuid && c.lastEvent === 'call.bridge'),
        'the call bridged',
      );
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
      await inPage('window.calls[0].hangup()');
      await inPage<string>('window.calls[0].ended');
      await until(async () => !(await activeCalls(s)).some((c: Json) => c.uuid === uuid), 'the call over');
      const c = await historyRecord(s, uuid);
      assert.equal(c.disposition, 0, 'answered');
      assert.equal(c.leg.ext, '001');
    }));

  test('the console itself through nginx: an employee signs in at https://<origin>/ and the Phone registers over wss://<origin>/sip (DZVIN_SIP_WS_URL=/sip)', () =>
    explained(async () => {
      const tab = await (await browser.newContext({ locale: 'uk-UA' })).newPage();
      try {
        await tab.goto(`${origin}/`);
        await tab.locator('input[name=as]').nth(1).check();
        await tab.fill('input[name=domain]', DOMAIN);
        await tab.fill('input[name=ext]', '001');
        await tab.fill('input[name=password]', PASSWORD);
        await tab.click('button[type=submit]');
        await tab.locator('[data-testid=phone-state][data-state=registered]').waitFor({ timeout: 20_000 });
        // Its WebSocket was same-origin through nginx: Kamailio holds a second contact of 001 on
        // one of nginx's connections, known as the browser's address.
        const mine = await until(async () => {
          const r = (await kam.control.registrations()).filter((x) => x.aor === `001@${DOMAIN}`);
          return r.length === 2 ? r : undefined;
        }, 'the console’s contact next to the page’s');
        const conns = await htable('wsclient');
        for (const c of mine) {
          const conn = /^sip:(127\.0\.0\.1:\d+);transport=ws$/.exec(c.received ?? '')?.[1];
          assert.ok(conn && conns.get(conn) === '127.0.0.1', `over nginx: ${JSON.stringify(c)}`);
        }
        await tab.getByRole('button', { name: 'Вийти' }).click();
        await until(
          async () =>
            (await kam.control.registrations()).filter((x) => x.aor === `001@${DOMAIN}`).length === 1,
          'the console’s contact gone after sign-out',
        );
      } finally {
        await tab.close();
      }
    }));
});

function tally(hs: WsHandshake[]): Record<number, number> {
  const by: Record<number, number> = {};
  for (const h of hs) by[h.status] = (by[h.status] ?? 0) + 1;
  return by;
}
