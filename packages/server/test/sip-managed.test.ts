// DZVIN_SIP=on: a real `dzvin serve` (what `npm start` runs) starts Kamailio and rtpengine itself
// in its working directory, says where phones register, a softphone's digest REGISTER to that port
// is accepted, and SIGTERM leaves neither daemon running. Without the binaries, start-up fails
// with the packages to install and a non-zero exit — those tests need no SIP package at all.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { processesMentioning } from '../src/engine/sip/edge/daemons.ts';
import { request } from './support/harness.ts';
import { freePort, kamailioSkipReason, websocketSkipReason } from './support/kamailio.ts';
import { buildRequest, digestAuthorization, header, startUdpPeer } from './support/kamailio-sip.ts';
import { rtpengineSkipReason } from './support/rtpengine.ts';
import { sleep, until } from './support/wait.ts';
import { openWs, type WsHandshake } from './support/ws-sip.ts';

const BIN = fileURLToPath(new URL('../../cli/bin/dzvin.js', import.meta.url));
const DEMO_KEY = 'sip-managed-demo-key-0123456789';
const DOMAIN = 'demo.localhost';

interface Served {
  child: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
}

/** `dzvin serve` in `dir` with `env` over a clean environment's basics. */
function serve(dir: string, env: Record<string, string>): Served {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: dir,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      DATABASE_URL: `sqlite:${path.join(dir, 'dzvin.sqlite')}`,
      DZVIN_RECORDINGS_DIR: path.join(dir, 'recordings'),
      DZVIN_DEMO_API_KEY: DEMO_KEY,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

/** Resolves with the output once the banner is complete; rejects if the process exits first. */
async function banner(s: Served): Promise<string> {
  let exited: number | null | undefined;
  void s.exit.then((c) => {
    exited = c;
  });
  await until(
    () => {
      if (exited !== undefined) throw new Error(`dzvin serve exited with ${exited}:\n${s.out()}`);
      return (
        /Phones:/.test(s.out()) &&
        /Demo account/.test(s.out()) &&
        /\n\n/.test(s.out().split('Demo account')[1] ?? '')
      );
    },
    'the banner of dzvin serve',
    40_000,
  );
  return s.out();
}

/**
 * Whether `pid` still runs. A zombie does not: a daemon orphaned by a SIGKILLed Dzvin is
 * reparented to PID 1, which in a container may reap it late (or never), and kill(pid, 0)
 * succeeds on a zombie.
 */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-sip-managed-'));
const dirs: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('DZVIN_SIP=on: dzvin serve runs its own Kamailio and rtpengine', {
  skip: kamailioSkipReason() || rtpengineSkipReason(),
}, () => {
  interface Place {
    dir: string;
    sipDir: string;
    sipPort: number;
    rtpMin: number;
  }

  /** A new directory and ports for a managed Dzvin. */
  async function newPlace(): Promise<Place> {
    const dir = tmpDir();
    dirs.push(dir);
    // The daemons run as nobody when we are root: they must reach their directory under it.
    fs.chmodSync(dir, 0o755);
    // Even-aligned RTP range away from the ephemeral ports, as support/rtpengine.ts picks it.
    const rtpMin = 10_000 + 2 * Math.floor(Math.random() * 10_000);
    return { dir, sipDir: path.join(dir, 'sip-work'), sipPort: await freePort(), rtpMin };
  }

  function serveManaged(p: Place, extra: Record<string, string> = {}): Served {
    const s = serve(p.dir, {
      ...extra,
      DZVIN_SIP: 'on',
      DZVIN_SIP_DIR: p.sipDir,
      DZVIN_SIP_PORT: String(p.sipPort),
      // 0: free ports picked at start (the defaults 5062/5070/5071/2223 could be taken here).
      DZVIN_SIP_EDGE_PORT: '0',
      DZVIN_SIP_B2BUA_PORT: '0',
      DZVIN_KAMAILIO_RPC_PORT: '0',
      DZVIN_RTPENGINE_NG_PORT: '0',
      DZVIN_RTP_PORTS: `${p.rtpMin}-${p.rtpMin + 99}`,
      // Debian installs Kamailio in /usr/sbin, not on every user's PATH.
      PATH: `${process.env.PATH ?? ''}:/usr/sbin`,
    });
    children.push(s.child);
    return s;
  }

  /** `dzvin serve` with DZVIN_SIP=on (in a new place by default); resolves once its banner is out. */
  async function startManaged(place?: Place, extra?: Record<string, string>) {
    const p = place ?? (await newPlace());
    const s = serveManaged(p, extra);
    const out = await banner(s);
    const kamPid = Number(/Kamailio pid (\d+)/.exec(out)?.[1]);
    const rtpPid = Number(/rtpengine pid (\d+)/.exec(out)?.[1]);
    return { ...p, s, out, kamPid, rtpPid };
  }

  test('it says where phones register, a softphone registers with digest there, SIGTERM stops both daemons', async () => {
    const { s, out, sipDir, sipPort, rtpMin, kamPid, rtpPid } = await startManaged();
    const phones = new RegExp(
      `Phones: +SIP on \\(DZVIN_SIP=on\\): phones register to 127\\.0\\.0\\.1:${sipPort} \\(UDP or TCP; user = ext`,
    );
    assert.match(out, phones, out);
    assert.ok(alive(kamPid) && alive(rtpPid), `both daemons run (${kamPid}, ${rtpPid})`);
    assert.match(out, new RegExp(`RTP ${rtpMin}-${rtpMin + 99}`));
    assert.ok(
      fs.existsSync(path.join(sipDir, 'kamailio', 'kamailio.pid')),
      'Kamailio works in DZVIN_SIP_DIR',
    );
    assert.equal(
      Number(fs.readFileSync(path.join(sipDir, 'kamailio', 'kamailio.pid'), 'utf8').trim()),
      kamPid,
    );

    // The operator gives 001 a SIP password; Dzvin pushes it to its Kamailio.
    const base = `http://127.0.0.1:${/Dzvin is listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]}`;
    const admin = (method: string, p: string, body?: unknown) =>
      request(base, method, `/api/v1${p}`, {
        host: DOMAIN,
        headers: { authorization: `Bearer ${DEMO_KEY}` },
        body,
      });
    const list = await admin('GET', '/employees');
    assert.equal(list.status, 200, list.text);
    const e001 = list.json().find((e: { ext: string }) => e.ext === '001');
    const password = 'managed-001-secret';
    const put = await admin('PUT', `/employees/${e001.id}/sip-password`, { password });
    assert.equal(put.status, 204, put.text);

    // A softphone: REGISTER, challenged (401), answered with the digest → 200; a wrong one is refused.
    const phone = await startUdpPeer();
    try {
      const register = async (pw: string) => {
        const uri = `sip:${DOMAIN}`;
        const aor = `sip:001@${DOMAIN}`;
        const spec = {
          method: 'REGISTER',
          uri,
          via: { address: phone.address, port: phone.port },
          from: aor,
          to: aor,
          callId: `managed-${Math.random()}`,
        };
        const exchange = async (text: string) => {
          const from = phone.received.length;
          phone.send(text, sipPort);
          return phone.waitFor((m) => (m.status ?? 0) >= 200, 'an answer to REGISTER', { from });
        };
        const first = await exchange(buildRequest({ ...spec, headers: ['Expires: 300'] }));
        assert.equal(first.status, 401, first.raw);
        const authorization = digestAuthorization({
          challenge: header(first, 'WWW-Authenticate') ?? '',
          method: 'REGISTER',
          uri,
          user: '001',
          password: pw,
        });
        const second = await exchange(
          buildRequest({ ...spec, cseq: 2, headers: ['Expires: 300', `Authorization: ${authorization}`] }),
        );
        return second.status;
      };
      assert.notEqual(await register('not-the-password'), 200, 'a wrong password does not register');
      assert.equal(await register(password), 200, 'the right password registers');
    } finally {
      await phone.close();
    }

    // SIGTERM: Dzvin shuts down (0) and neither daemon — nor any of Kamailio's children — is left.
    s.child.kill('SIGTERM');
    assert.equal(await s.exit, 0, s.out());
    await until(() => !alive(kamPid) && !alive(rtpPid), 'both daemons gone', 5000);
    await sleep(100);
    assert.deepEqual(processesMentioning(sipDir), [], 'no process of the SIP working directory is left');
  });

  test('with DZVIN_SIP_WS_PORT its Kamailio serves SIP over WebSocket: the banner says where browsers connect, the handshake for `sip` is answered 101, any other request on that port 426', {
    skip: websocketSkipReason(),
  }, async () => {
    const { s, out } = await startManaged(undefined, { DZVIN_SIP_WS_PORT: '0' });
    const m = /browsers on ws:\/\/127\.0\.0\.1:(\d+)\/ \(docs\/webrtc\.md\)/.exec(out);
    assert.ok(m, out);
    const wsPort = Number(m[1]);
    const plain = await request(`http://127.0.0.1:${wsPort}`, 'GET', '/');
    assert.equal(plain.status, 426, plain.text);
    assert.match(plain.text, /SIP over WebSocket only/);
    const upgraded = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: wsPort,
        path: '/',
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Protocol': 'sip',
        },
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res);
      });
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    assert.equal(upgraded.statusCode, 101);
    assert.equal(upgraded.headers['sec-websocket-protocol'], 'sip');
    assert.equal(upgraded.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    s.child.kill('SIGTERM');
    assert.equal(await s.exit, 0, s.out());
  });

  test('with DZVIN_SIP_WS_ORIGIN and DZVIN_SIP_WS_PROXY its Kamailio checks both: another Origin (or none) 403, the proxy without X-Real-IP 400, the console’s origin 101 with the client from X-Real-IP', {
    skip: websocketSkipReason(),
  }, async () => {
    const origin = 'https://pbx.example.test';
    const { s, out } = await startManaged(undefined, {
      DZVIN_SIP_WS_PORT: '0',
      // Given as an operator might write it; Kamailio compares with what browsers send.
      DZVIN_SIP_WS_ORIGIN: 'https://PBX.example.test/',
      DZVIN_SIP_WS_PROXY: '127.0.0.1',
    });
    const wsPort = Number(/browsers on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1]);
    assert.ok(wsPort > 0, out);
    const rpcUrl = /JSON-RPC (http:\/\/127\.0\.0\.1:\d+\/RPC)/.exec(out)?.[1];
    assert.ok(rpcUrl, out);
    const url = `ws://127.0.0.1:${wsPort}/`;
    // 127.0.0.1 plays nginx (DZVIN_SIP_WS_PROXY): it passes the browser's address in X-Real-IP.
    const browser = { 'x-real-ip': '198.51.100.7' };
    const opened: WsHandshake[] = [];
    try {
      const foreign = await openWs({ url, headers: { ...browser, origin: 'https://evil.example' } });
      assert.equal(foreign.status, 403, foreign.text);
      assert.match(foreign.text, /Origin not allowed/);
      const noOrigin = await openWs({ url, headers: browser });
      assert.equal(noOrigin.status, 403, noOrigin.text);
      const bare = await openWs({ url, headers: { origin } });
      assert.equal(bare.status, 400, bare.text);
      assert.match(bare.text, /X-Real-IP/);

      const right = await openWs({ url, headers: { ...browser, origin } });
      opened.push(right);
      assert.equal(right.status, 101, right.text);
      // Kamailio keeps the connection's client (`wsclient`, dzvin-websocket.cfg): the browser's
      // address, not the proxy's.
      const r = await fetch(rpcUrl, {
        method: 'POST',
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'htable.dump', params: ['wsclient'] }),
      });
      const clients = ((await r.json()) as { result?: { slot?: { value: unknown }[] }[] }).result ?? [];
      assert.deepEqual(
        clients.flatMap((e) => e.slot ?? []).map((i) => String(i.value)),
        ['198.51.100.7'],
      );
      // Another address is not the proxy: its own client, its X-Real-IP not needed (nor believed).
      const direct = await openWs({ url, localAddress: '127.0.0.2', headers: { origin } });
      opened.push(direct);
      assert.equal(direct.status, 101, direct.text);
    } finally {
      for (const h of opened) h.ws?.close();
    }
    s.child.kill('SIGTERM');
    assert.equal(await s.exit, 0, s.out());
  });

  test('a daemon that dies while Dzvin runs is logged as an error naming it; shutdown still stops the other', async () => {
    const { s, sipDir, kamPid, rtpPid } = await startManaged();
    process.kill(kamPid, 'SIGKILL');
    await until(
      () =>
        new RegExp(`DZVIN_SIP=on: Kamailio \\(pid ${kamPid}\\) exited unexpectedly \\(SIGKILL\\)`).test(
          s.out(),
        ),
      'the crash logged',
      5000,
    );
    assert.match(s.out(), /"level":50/, 'logged as an error');
    assert.ok(alive(rtpPid), 'rtpengine still runs');
    s.child.kill('SIGTERM');
    assert.equal(await s.exit, 0, s.out());
    await until(() => !alive(rtpPid), 'rtpengine gone', 5000);
    // Kamailio's own children notice their parent is gone and exit too.
    await until(
      () => processesMentioning(sipDir).length === 0,
      'no process of the SIP working directory left',
      10_000,
    );
  });

  test('a second Dzvin on the same DZVIN_SIP_DIR is refused; after a SIGKILL the next start stops the orphans and starts', async () => {
    const first = await startManaged();
    const second = serveManaged(first);
    assert.equal(await second.exit, 2, second.out());
    assert.match(second.out(), new RegExp(`is in use by another Dzvin \\(pid ${first.s.child.pid}`));
    assert.ok(alive(first.kamPid) && alive(first.rtpPid), "the first one's daemons are untouched");
    // Killed outright: no shutdown, its daemons (own process groups) are orphans holding the ports.
    first.s.child.kill('SIGKILL');
    await first.s.exit;
    assert.ok(alive(first.kamPid) && alive(first.rtpPid), 'orphans left by the SIGKILL');
    const { dir, sipDir, sipPort, rtpMin } = first;
    const third = await startManaged({ dir, sipDir, sipPort, rtpMin });
    assert.match(third.out, new RegExp(`phones register to 127\\.0\\.0\\.1:${first.sipPort} `));
    assert.ok(!alive(first.kamPid) && !alive(first.rtpPid), 'the orphans were stopped');
    assert.ok(alive(third.kamPid) && alive(third.rtpPid));
    third.s.child.kill('SIGTERM');
    assert.equal(await third.s.exit, 0, third.s.out());
    await until(
      () => processesMentioning(first.sipDir).length === 0,
      'no process of the SIP working directory left',
      10_000,
    );
    assert.equal(fs.existsSync(path.join(first.sipDir, 'dzvin.pid')), false, 'the directory is released');
  });
});

describe('DZVIN_SIP=on without the SIP packages fails loudly; off stays simulated', () => {
  test('PATH without kamailio: a clear start-up error naming the package, non-zero exit, nothing left running', async () => {
    const dir = tmpDir();
    dirs.push(dir);
    // Only node's own directory (/usr/bin here: rtpengine may be there, Kamailio is in /usr/sbin).
    const s = serve(dir, {
      DZVIN_SIP: 'on',
      DZVIN_SIP_DIR: path.join(dir, 'sip'),
      PATH: path.dirname(process.execPath),
    });
    children.push(s.child);
    const code = await s.exit;
    assert.equal(code, 2, s.out());
    assert.match(
      s.out(),
      /^dzvin: DZVIN_SIP=on starts Kamailio and rtpengine itself, but: 'kamailio' on PATH not found — package kamailio/m,
    );
    assert.match(s.out(), /DZVIN_SIP=off/);
    assert.doesNotMatch(s.out(), /Dzvin is listening/);
    assert.deepEqual(processesMentioning(path.join(dir, 'sip')), []);
  });

  test('missing binaries: the apt-get line names kamailio and rtpengine-daemon', async () => {
    const dir = tmpDir();
    dirs.push(dir);
    const s = serve(dir, {
      DZVIN_SIP: 'on',
      DZVIN_SIP_DIR: path.join(dir, 'sip'),
      DZVIN_KAMAILIO_BIN: path.join(dir, 'no-such', 'kamailio'),
      DZVIN_RTPENGINE_BIN: path.join(dir, 'no-such', 'rtpengine'),
    });
    children.push(s.child);
    assert.equal(await s.exit, 2, s.out());
    assert.match(s.out(), /no-such\/kamailio not found — package kamailio/);
    assert.match(s.out(), /no-such\/rtpengine not found — package rtpengine-daemon/);
    assert.match(
      s.out(),
      /Install with: sudo apt-get install kamailio kamailio-extra-modules kamailio-json-modules rtpengine-daemon\./,
    );
  });

  test('DZVIN_SIP unset on a PATH without any SIP package: all simulated, as the README promises', async () => {
    const dir = tmpDir();
    dirs.push(dir);
    const s = serve(dir, { PATH: path.dirname(process.execPath) });
    children.push(s.child);
    const out = await banner(s);
    assert.match(out, /Phones: +all simulated \(/);
    s.child.kill('SIGTERM');
    assert.equal(await s.exit, 0, s.out());
  });
});
