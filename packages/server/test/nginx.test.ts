// The sample nginx config (deploy/nginx/dzvin.conf) in front of two real `dzvin serve` processes
// over one throwaway PostgreSQL database, driven through Debian's nginx. The test only puts its
// own upstream addresses and listen port into the file; everything else is used as shipped.
//
// Needs PostgreSQL (DZVIN_TEST_PG_URL, set by `npm test`) and nginx (DZVIN_TEST_NGINX, or
// /usr/sbin/nginx); without either it skips loudly, unless DZVIN_REQUIRE_ALL=1 makes that a failure.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createTestDatabaseUrl, dialectSkipReason, type TestDatabase } from './support/dialects.ts';
import { type RequestOptions, type Response, request } from './support/harness.ts';
import { type Nginx, nginxPath, startNginx } from './support/nginx.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DEFAULT_NGINX = '/usr/sbin/nginx';
const DOMAIN = 'nginx.localhost';
const API_KEY = 'nginx-test-key-0123456789abcdef';
/** The client's own address (nginx reaches the processes from 127.0.0.1). */
const CLIENT_IP = '127.0.0.7';

/** Every process this file started and that still runs: killed if the test process exits first. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Spawns a child that is tracked in `running` until it exits. */
function track(child: ChildProcess): Promise<number | null> {
  running.add(child);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => Promise<T | undefined | false>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** `skip` for node:test; throws under DZVIN_REQUIRE_ALL=1 when something is missing. */
function skipReason(): false | string {
  const missing = [
    dialectSkipReason('postgres'),
    nginxPath()
      ? undefined
      : `nginx not found (${process.env.DZVIN_TEST_NGINX ?? DEFAULT_NGINX}); install it with \`apt-get install nginx-light\``,
  ].filter(Boolean);
  if (missing.length === 0) return false;
  const reason = `reverse-proxy tests skipped: ${missing.join('; ')}`;
  if (process.env.DZVIN_REQUIRE_ALL === '1')
    throw new Error(`${reason} — but DZVIN_REQUIRE_ALL=1 requires them`);
  process.stderr.write(`\n!!! ${reason.toUpperCase()}\n\n`);
  return reason;
}

// ---------------------------------------------------------------------------------------------
// Dzvin processes

interface Dzvin {
  name: string;
  port: number;
  base: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  output(): string;
  /** Requests answered on `route` (any method and status), read from this process's own /metrics. */
  count(route: string, method?: string): Promise<number>;
}

async function startDzvin(name: string, databaseUrl: string, dir: string): Promise<Dzvin> {
  const child = spawn(process.execPath, [path.join(ROOT, 'packages/cli/bin/dzvin.js'), 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: databaseUrl,
      DZVIN_TRUST_PROXY: 'true',
      DZVIN_DEMO_DOMAIN: DOMAIN,
      DZVIN_DEMO_API_KEY: API_KEY,
      DZVIN_RECORDINGS_DIR: path.join(dir, `rec-${name}`),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    out += c;
  });
  const exited = track(child);
  const base = await until(
    async () =>
      child.exitCode === null ? /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] : 'exited',
    `Dzvin ${name} to listen`,
    60_000,
  );
  if (base === 'exited') throw new Error(`Dzvin ${name} exited: ${out}`);
  await until(async () => (await request(base, 'GET', '/readyz')).status === 200, `Dzvin ${name} ready`);
  const counts = async (route: string, method?: string) => {
    const text = (await request(base, 'GET', '/metrics')).text;
    let n = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('dzvin_http_requests_total{')) continue;
      if (!line.includes(`route="${route}"`)) continue;
      if (method && !line.includes(`method="${method}"`)) continue;
      n += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return n;
  };
  return { name, port: Number(new URL(base).port), base, child, exited, output: () => out, count: counts };
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>, signal: NodeJS.Signals = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * A process that accepts a connection, reads the request head and closes the connection without
 * answering (as a process that crashes in the middle of a request looks to nginx).
 */
async function startDropper() {
  const methods: string[] = [];
  const server = net.createServer((socket) => {
    let head = '';
    socket.on('data', (c) => {
      head += c.toString('latin1');
      while (head.includes('\r\n\r\n')) {
        methods.push(head.slice(0, head.indexOf(' ')));
        socket.destroy();
        head = '';
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    methods,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

// ---------------------------------------------------------------------------------------------

const skip = skipReason();

describe('two Dzvin processes over PostgreSQL behind the sample nginx config', { skip }, () => {
  let dir: string;
  let db: TestDatabase;
  let a: Dzvin;
  let b: Dzvin;
  let proxy: Nginx;
  const cleanups: (() => Promise<unknown>)[] = [];
  let cookie = '';
  let callUuid = '';

  /** A request through nginx as the demo account's client (from CLIENT_IP). */
  const via = (n: Nginx, method: string, p: string, o: RequestOptions = {}): Promise<Response> =>
    request(n.base, method, p, { host: `${DOMAIN}:${n.port}`, localAddress: CLIENT_IP, ...o });
  const admin = (n: Nginx, method: string, p: string, body?: unknown) =>
    via(n, method, p, { headers: { authorization: `Bearer ${API_KEY}` }, body });

  async function sql<T>(text: string, params: unknown[] = []): Promise<T[]> {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return (await c.query(text, params)).rows as T[];
    } finally {
      await c.end();
    }
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-proxy-'));
    db = await createTestDatabaseUrl('postgres');
    cleanups.push(() => db.drop());
    // One after the other: the first creates the demo account, the second finds it.
    a = await startDzvin('a', db.url, dir);
    cleanups.push(() => stopChild(a.child, a.exited));
    b = await startDzvin('b', db.url, dir);
    cleanups.push(() => stopChild(b.child, b.exited));
    proxy = await startNginx({ upstreams: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] });
    cleanups.push(() => proxy.stop());
  });

  after(async () => {
    // Always, in reverse order; one failing does not keep the others from running.
    for (const fn of cleanups.reverse()) await fn().catch((e) => process.stderr.write(`cleanup: ${e}\n`));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('requests through nginx are spread over both processes', async () => {
    const before = [await a.count('/healthz'), await b.count('/healthz')];
    for (let i = 0; i < 20; i++) {
      const r = await via(proxy, 'GET', '/healthz');
      assert.equal(r.status, 200);
      assert.equal(r.text, 'ok');
    }
    const got = [(await a.count('/healthz')) - before[0], (await b.count('/healthz')) - before[1]];
    assert.equal(got[0] + got[1], 20, `per process: ${got}`);
    assert.ok(got[0] >= 5 && got[1] >= 5, `round robin over both processes: ${got}`);
  });

  test('a session from authorize through nginx works on every following request, whichever process answers', async () => {
    const r = await via(proxy, 'POST', '/rest/security/authorize', {
      body: { domain: DOMAIN, apiKey: API_KEY },
    });
    assert.equal(r.status, 200, r.text);
    const m = /^JSESSIONID=([^;]+)/.exec(String(r.headers['set-cookie']?.[0] ?? ''));
    assert.ok(m, 'a JSESSIONID cookie');
    cookie = `JSESSIONID=${m[1]}`;
    const before = [await a.count('/rest/users'), await b.count('/rest/users')];
    for (let i = 0; i < 10; i++) {
      const users = await via(proxy, 'GET', '/rest/users', { cookie });
      assert.equal(users.status, 200, users.text);
      assert.ok(users.json().length >= 4, 'the demo office has its employees');
    }
    const got = [(await a.count('/rest/users')) - before[0], (await b.count('/rest/users')) - before[1]];
    assert.ok(got[0] > 0 && got[1] > 0, `both processes accepted the session: ${got}`);
    // Without the cookie: refused, by either process.
    assert.equal((await via(proxy, 'GET', '/rest/users')).status, 403);
  });

  test('readiness and liveness answer through nginx; /metrics and /internal/ are not exposed by it', async () => {
    const ready = await via(proxy, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.text, 'ready');
    assert.equal((await via(proxy, 'GET', '/healthz')).text, 'ok');
    assert.equal((await via(proxy, 'GET', '/metrics')).status, 403);
    assert.equal((await request(a.base, 'GET', '/metrics')).status, 200, 'scraped per process instead');
    const internal = await via(proxy, 'POST', '/internal/v1/cluster', { body: {} });
    assert.equal(internal.status, 404);
    assert.match(internal.text, /nginx/, 'answered by nginx, not passed to a process');
  });

  test("Dzvin sees the client's address from X-Forwarded-For, and a client cannot forge it", async () => {
    // A failed authorize is counted against the client's address (the per-IP rate limit).
    for (const headers of [{}, { 'x-forwarded-for': '198.51.100.7' }] as Record<string, string>[]) {
      const r = await via(proxy, 'POST', '/rest/security/authorize', {
        body: { domain: DOMAIN, apiKey: 'wrong-key-0123456789' },
        headers,
      });
      assert.equal(r.status, 403, r.text);
    }
    const keys = (await sql<{ key: string }>("select key from auth_failures where key like 'ip:%'")).map(
      (r) => r.key,
    );
    assert.deepEqual([...new Set(keys)], [`ip:${CLIENT_IP}`]);
  });

  test('a body over the 5 MiB limit is refused by nginx itself (413)', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 1, 'a');
    const r = await via(proxy, 'POST', '/rest/crm/contacts/v2/batch', { cookie, raw: big }).catch(
      (e: Error) => ({ status: `error ${e.message}` }) as unknown as Response,
    );
    assert.equal(r.status, 413);
  });

  test('an SSE stream through nginx gets its first bytes at once (not buffered)', async () => {
    const stream = await openStream(proxy);
    try {
      assert.equal(stream.res.statusCode, 200);
      assert.match(String(stream.res.headers['content-type']), /^text\/event-stream/);
      await until(async () => stream.text().includes(': dzvin live events'), 'the stream preamble', 5000);
    } finally {
      stream.close();
    }
  });

  test('a POST that reached a process which then failed is answered 502 and not replayed on the other', async () => {
    const dropper = await startDropper();
    const proxy2 = await startNginx({ upstreams: [`127.0.0.1:${a.port}`, dropper.address] });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await admin(proxy2, 'POST', '/api/v1/employees', {
          displayName: `Retry probe ${i}`,
          ext: String(700 + i),
        });
        statuses.push(r.status);
      }
      const failed = statuses.filter((s) => s === 502).length;
      const created = statuses.filter((s) => s === 201).length;
      const dropped = dropper.methods.filter((m) => m === 'POST').length;
      assert.equal(failed + created, 6, `statuses ${statuses}`);
      assert.ok(dropped > 0, `some POSTs went to the failing process: ${statuses}`);
      assert.equal(failed, dropped, `each POST the failing process got is a 502, not replayed: ${statuses}`);
      const rows = await sql<{ n: string }>(
        "select count(*) as n from employees where display_name like 'Retry probe %'",
      );
      assert.equal(Number(rows[0].n), created, 'no POST that failed was created on the other process');
    } finally {
      await proxy2.stop();
      await dropper.close();
    }
    // A GET to the same failing process is retried on the other one: the client sees only 200s.
    const dropper2 = await startDropper();
    const proxy3 = await startNginx({ upstreams: [`127.0.0.1:${a.port}`, dropper2.address] });
    try {
      for (let i = 0; i < 6; i++) {
        const r = await via(proxy3, 'GET', '/rest/users', { cookie });
        assert.equal(r.status, 200, r.text);
      }
      assert.ok(dropper2.methods.includes('GET'), 'some GETs went to the failing process first');
    } finally {
      await proxy3.stop();
      await dropper2.close();
    }
  });

  test('with one process stopped (SIGTERM), GETs and POSTs through nginx still succeed', async () => {
    b.child.kill('SIGTERM');
    assert.equal(await b.exited, 0, `b exits cleanly: ${b.output()}`);
    for (let i = 0; i < 6; i++) {
      const r = await via(proxy, 'GET', '/rest/users', { cookie });
      assert.equal(r.status, 200, r.text);
    }
    // A refused connection means the POST never reached b, so nginx passes it to a.
    for (let i = 0; i < 4; i++) {
      const r = await admin(proxy, 'POST', '/api/v1/employees', {
        displayName: `After b ${i}`,
        ext: String(800 + i),
      });
      assert.equal(r.status, 201, r.text);
    }
    assert.equal((await via(proxy, 'GET', '/readyz')).text, 'ready');
  });

  test('an SSE stream opened through nginx receives a call event as it happens', async () => {
    // b is stopped: the stream and the call are on a, as events are per process for now.
    const stream = await openStream(proxy);
    try {
      await until(async () => stream.text().includes(': dzvin live events'), 'the stream preamble', 5000);
      assert.equal(
        (await admin(proxy, 'PUT', '/api/v1/sim/behaviours/employees/002', { mode: 'manual' })).status,
        204,
      );
      const call = await admin(proxy, 'POST', '/api/v1/sim/internal', { fromExt: '001', toExt: '002' });
      assert.equal(call.status, 201, call.text);
      const uuid = call.json().uuid;
      await until(
        async () => stream.events().some((e) => e.event === 'call.dial'),
        'call.dial over SSE',
        5000,
      );
      const dial = stream.events().find((e) => e.event === 'call.dial')!;
      assert.equal(JSON.parse(dial.data).uuid, uuid);
      assert.equal(
        (await admin(proxy, 'POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '002' })).status,
        204,
      );
      await until(
        async () => stream.events().some((e) => e.event === 'call.bridge'),
        'call.bridge over SSE',
        5000,
      );
      await sleep(300);
      assert.equal((await admin(proxy, 'POST', `/api/v1/sim/calls/${uuid}/hangup`)).status, 204);
      await until(
        async () => stream.events().some((e) => e.event === 'call.hangup'),
        'call.hangup over SSE',
        5000,
      );
      assert.equal(stream.ended(), false, 'the stream stays open');
      callUuid = uuid;
    } finally {
      stream.close();
    }
  });

  test('links Dzvin writes carry the scheme, host and port the client used (X-Forwarded-Proto/Host)', async () => {
    assert.ok(callUuid, 'the call of the previous test');
    const q = `timeFrom=${Date.now() - 3_600_000}&timeTo=${Date.now() + 60_000}`;
    const rec = await until(async () => {
      const r = await via(proxy, 'GET', `/rest/calls/company.api?${q}`, { cookie });
      const found = r.status === 200 && r.json().find((c: { uuid: string }) => c.uuid === callUuid);
      return found?.audioRecUrl ? (found.audioRecUrl as string) : undefined;
    }, 'the answered call in the history, with its recording');
    assert.ok(rec.startsWith(`http://${DOMAIN}:${proxy.port}/rest/public/calls/`), rec);
    const audio = await via(proxy, 'GET', new URL(rec).pathname, { cookie });
    assert.equal(audio.status, 200);
  });

  /** GET /api/v1/events/stream through `n` with the API key; collects what arrives. */
  async function openStream(n: Nginx) {
    const req = http.request(`${n.base}/api/v1/events/stream`, {
      headers: { host: `${DOMAIN}:${n.port}`, authorization: `Bearer ${API_KEY}` },
      localAddress: CLIENT_IP,
      agent: false,
    });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    let text = '';
    let ended = false;
    res.on('data', (c: Buffer) => {
      text += c.toString('utf8');
    });
    res.on('end', () => {
      ended = true;
    });
    res.on('error', () => {});
    return {
      res,
      text: () => text,
      ended: () => ended,
      events: () =>
        text
          .split('\n\n')
          .map((block) =>
            Object.fromEntries(
              block
                .split('\n')
                .filter((l) => !l.startsWith(':') && l.includes(': '))
                .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
            ),
          )
          .filter((f): f is { event: string; data: string; id: string } => 'event' in f),
      close: () => req.destroy(),
    };
  }
});
