// Header names as they go over the wire (issue #13). Real Phonet clients look headers up by their
// exact, canonical name (a PHP Guzzle client reads `Set-Cookie` after authorize and fails on
// `set-cookie`); the Phonet cloud is a Java servlet server and writes canonical case. These tests
// read the raw bytes of each response from a socket: node:http and fetch would normalize the
// names and hide exactly what is being checked.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CanonicalServerResponse, canonicalHeaderName } from '../src/http/wire-headers.ts';
import { createManualClock } from '../src/index.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';

interface RawResponse {
  statusLine: string;
  status: number;
  /** Header lines in wire order, names exactly as sent. */
  headers: [string, string][];
  body: Buffer;
}

/**
 * One HTTP/1.1 request written by hand (`Connection: close`), the response read to the end of
 * the connection and split by hand: status line, header lines, the rest as the body.
 */
function raw(
  port: number,
  method: string,
  path: string,
  o: { host: string; headers?: Record<string, string>; body?: string; localAddress?: string },
): Promise<RawResponse> {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${o.host}`, 'Connection: close'];
  for (const [k, v] of Object.entries(o.headers ?? {})) lines.push(`${k}: ${v}`);
  if (o.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(o.body)}`);
  const head = `${lines.join('\r\n')}\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: o.localAddress });
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
    socket.write(head);
    if (o.body !== undefined) socket.write(o.body);
  });
}

function parse(bytes: Buffer): RawResponse {
  const end = bytes.indexOf('\r\n\r\n');
  assert.ok(end > 0, `a complete head in ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}`);
  const [statusLine, ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
  assert.ok(m, `status line ${JSON.stringify(statusLine)}`);
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `header line ${JSON.stringify(line)}`);
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  return { statusLine, status: Number(m[1]), headers, body: bytes.subarray(end + 4) };
}

/** How each header Dzvin sends is spelled by a servlet container (and RFC 9110's registry). */
const SPELLING = /^(ETag|WWW-Authenticate|[A-Z][a-z0-9]*(-[A-Z][a-z0-9]*)*)$/;

/** Names as sent, each spelled canonically, none twice in another case. */
function assertCanonical(r: RawResponse, what: string) {
  const seen = new Map<string, string>();
  for (const [name] of r.headers) {
    assert.match(name, SPELLING, `${what}: header name '${name}' is not in canonical case`);
    const before = seen.get(name.toLowerCase());
    assert.ok(before === undefined || before === name, `${what}: '${name}' and '${before}' both sent`);
    seen.set(name.toLowerCase(), name);
  }
}

/** The values of the header spelled exactly `name` (not matched case-insensitively). */
const exactly = (r: RawResponse, name: string) => r.headers.filter(([n]) => n === name).map(([, v]) => v);
/** The one value of header `name` in exactly that spelling. */
function one(r: RawResponse, name: string, what: string): string {
  const values = exactly(r, name);
  assert.equal(values.length, 1, `${what}: one '${name}' in ${JSON.stringify(r.headers)}`);
  return values[0];
}

for (const dialect of DIALECTS) {
  describe(`header names on the wire are canonical [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    const clock = createManualClock(Date.UTC(2026, 10, 27, 10));
    let server: TestServer;
    let s: Session;
    const host = () => `wire.localhost:${server.port}`;
    before(async () => {
      server = await startServer(dialect, {
        clock,
        config: {
          sessionIdleSec: 30 * 86400,
          bodyLimitBytes: 4096,
          metricsToken: 'wire-metrics-token',
          auth: { maxFailuresPerIp: 3, maxFailuresPerDomain: 1000, failureWindowSec: 600 },
        },
      });
      s = await server.account('wire.localhost');
    });
    after(() => server.close());

    test('authorize 200: exactly one `Set-Cookie: JSESSIONID=…; Path=/; HttpOnly`, Content-Type, Content-Length', async () => {
      const r = await raw(server.port, 'POST', '/rest/security/authorize', {
        host: host(),
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ domain: 'wire.localhost', apiKey: s.apiKey }),
      });
      assert.equal(r.status, 200, r.body.toString());
      assertCanonical(r, 'authorize');
      assert.match(one(r, 'Set-Cookie', 'authorize'), /^JSESSIONID=[A-Za-z0-9]{32}; Path=\/; HttpOnly$/);
      assert.equal(
        r.headers.filter(([n]) => n.toLowerCase() === 'set-cookie').length,
        1,
        'one cookie, in any spelling',
      );
      assert.match(one(r, 'Content-Type', 'authorize'), /^application\/json/);
      assert.equal(Number(one(r, 'Content-Length', 'authorize')), r.body.length);
      // The cookie read from the raw header works, as a Guzzle client would use it.
      const cookie = one(r, 'Set-Cookie', 'authorize').split(';')[0];
      const users = await raw(server.port, 'GET', '/rest/users', {
        host: host(),
        headers: { Cookie: cookie },
      });
      assert.equal(users.status, 200);
    });

    test('GET /rest/users 200', async () => {
      const r = await raw(server.port, 'GET', '/rest/users', { host: host(), headers: { Cookie: s.cookie } });
      assert.equal(r.status, 200);
      assertCanonical(r, 'users');
      assert.match(one(r, 'Content-Type', 'users'), /^application\/json/);
      assert.equal(Number(one(r, 'Content-Length', 'users')), r.body.length);
      assert.equal(JSON.parse(r.body.toString())[0].ext, '001');
    });

    test('errors: 403 without a session, 400 bad body, 404, 413 too large — plain text, canonical names', async () => {
      const cases: [string, Promise<RawResponse>, number][] = [
        ['403', raw(server.port, 'GET', '/rest/users', { host: host() }), 403],
        [
          '400',
          raw(server.port, 'POST', '/rest/security/authorize', {
            host: host(),
            headers: { 'Content-Type': 'application/json' },
            body: '{"domain":',
          }),
          400,
        ],
        [
          '400 schema',
          raw(server.port, 'POST', '/rest/security/authorize', {
            host: host(),
            headers: { 'Content-Type': 'application/json' },
            body: '{"domain":"wire.localhost","apiKey":7}',
          }),
          400,
        ],
        [
          '404',
          raw(server.port, 'GET', '/rest/no/such/thing', { host: host(), headers: { Cookie: s.cookie } }),
          404,
        ],
        [
          '413',
          raw(server.port, 'POST', '/rest/security/authorize', {
            host: host(),
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ domain: 'wire.localhost', apiKey: 'x'.repeat(5000) }),
          }),
          413,
        ],
      ];
      for (const [what, pending, status] of cases) {
        const r = await pending;
        assert.equal(r.status, status, `${what}: ${r.body}`);
        assertCanonical(r, what);
        assert.equal(one(r, 'Content-Type', what), 'text/plain; charset=utf-8');
        assert.equal(Number(one(r, 'Content-Length', what)), r.body.length);
        assert.ok(r.body.length > 5, what);
      }
    });

    test('429 after failed sign-ins carries `Retry-After`', async () => {
      const attempt = () =>
        raw(server.port, 'POST', '/rest/security/authorize', {
          host: host(),
          localAddress: '127.0.0.31',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ domain: 'wire.localhost', apiKey: 'wrong-key-aaaaaaaaaaaaaaaaaaaaa' }),
        });
      const statuses: number[] = [];
      let last: RawResponse | undefined;
      for (let i = 0; i < 4; i++) {
        last = await attempt();
        statuses.push(last.status);
        assertCanonical(last, `attempt ${i}`);
      }
      assert.deepEqual(statuses, [403, 403, 403, 429]);
      const r = last as RawResponse;
      assert.ok(Number(one(r, 'Retry-After', '429')) > 0);
      assert.equal(one(r, 'Content-Type', '429'), 'text/plain; charset=utf-8');
      assert.equal(exactly(r, 'Set-Cookie').length, 0);
    });

    test('a recording: 200 whole, 206 with Content-Range and Accept-Ranges, 416, HEAD — canonical names', async () => {
      const admin = (method: string, path: string, body?: unknown) => s.admin(method, path, body);
      const employees = (await admin('GET', '/api/v1/employees')).json();
      const trunk = await admin('POST', '/api/v1/trunks', {
        number: '+380442246596',
        name: 'Wire',
        destination: { type: 'employee', id: employees[0].id },
      });
      assert.equal(trunk.status, 201, trunk.text);
      assert.equal((await admin('PUT', '/api/v1/sim/talk-time', { minSec: 3, maxSec: 3 })).status, 204);
      const made = await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: '+380993034339' });
      assert.equal(made.status, 200, made.text);
      const { uuid } = made.json();
      await clock.advance(3000); // the employee answers
      await clock.advance(4000); // the number answers
      await clock.advance(3000); // talk time
      await server.built.simulator.engine.idle();
      const path = `/rest/public/calls/${uuid}/audio`;

      const whole = await raw(server.port, 'GET', path, { host: host() });
      assert.equal(whole.status, 200);
      assertCanonical(whole, 'recording 200');
      const size = Number(one(whole, 'Content-Length', 'recording 200'));
      assert.equal(whole.body.length, size);
      assert.equal(whole.body.subarray(0, 4).toString(), 'RIFF');
      assert.equal(one(whole, 'Content-Type', 'recording 200'), 'audio/wav');
      assert.equal(one(whole, 'Accept-Ranges', 'recording 200'), 'bytes');
      const etag = one(whole, 'ETag', 'recording 200');
      for (const name of ['Cache-Control', 'Last-Modified', 'Content-Disposition'])
        one(whole, name, 'recording 200');

      const part = await raw(server.port, 'GET', path, { host: host(), headers: { Range: 'bytes=0-43' } });
      assert.equal(part.status, 206);
      assertCanonical(part, 'recording 206');
      assert.equal(one(part, 'Content-Range', 'recording 206'), `bytes 0-43/${size}`);
      assert.equal(one(part, 'Accept-Ranges', 'recording 206'), 'bytes');
      assert.equal(one(part, 'Content-Length', 'recording 206'), '44');
      assert.ok(part.body.equals(whole.body.subarray(0, 44)));

      const beyond = await raw(server.port, 'GET', path, {
        host: host(),
        headers: { Range: `bytes=${size}-` },
      });
      assert.equal(beyond.status, 416);
      assertCanonical(beyond, 'recording 416');
      assert.equal(one(beyond, 'Content-Range', 'recording 416'), `bytes */${size}`);
      assert.equal(one(beyond, 'Content-Type', 'recording 416'), 'text/plain; charset=utf-8');

      const head = await raw(server.port, 'HEAD', path, { host: host(), headers: { Range: 'bytes=0-9' } });
      assert.equal(head.status, 206);
      assertCanonical(head, 'recording HEAD');
      assert.equal(one(head, 'Content-Range', 'recording HEAD'), `bytes 0-9/${size}`);
      assert.equal(head.body.length, 0);

      const same = await raw(server.port, 'GET', path, { host: host(), headers: { 'If-None-Match': etag } });
      assert.equal(same.status, 304);
      assertCanonical(same, 'recording 304');
      assert.equal(one(same, 'ETag', 'recording 304'), etag);
    });

    test('the live event stream (SSE) keeps streaming, with canonical names', async () => {
      const socket = net.connect({ host: '127.0.0.1', port: server.port });
      const got: Buffer[] = [];
      const received = () => Buffer.concat(got).toString('latin1');
      socket.on('data', (c) => got.push(c));
      socket.write(
        `GET /api/v1/events/stream HTTP/1.1\r\nHost: ${host()}\r\nCookie: ${s.cookie}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      try {
        for (let i = 0; i < 200 && !received().includes('retry: 2000'); i++)
          await new Promise((r) => setTimeout(r, 10));
        const text = received();
        const r = parse(Buffer.from(text, 'latin1'));
        assert.equal(r.status, 200);
        assertCanonical(r, 'SSE');
        assert.equal(one(r, 'Content-Type', 'SSE'), 'text/event-stream; charset=utf-8');
        assert.equal(one(r, 'Cache-Control', 'SSE'), 'no-cache');
        assert.equal(one(r, 'X-Accel-Buffering', 'SSE'), 'no');
        assert.match(r.body.toString(), /: dzvin live events\n/);
      } finally {
        socket.destroy();
      }
    });

    test('the rest of the server too: health, the console, the metrics 401', async () => {
      for (const [path, status] of [
        ['/healthz', 200],
        ['/', 200],
        ['/openapi.json', 200],
      ] as const) {
        const r = await raw(server.port, 'GET', path, { host: host() });
        assert.equal(r.status, status, path);
        assertCanonical(r, path);
        one(r, 'Content-Type', path);
      }
      const metrics = await raw(server.port, 'GET', '/metrics', { host: host() });
      assert.equal(metrics.status, 401);
      assertCanonical(metrics, 'metrics');
      assert.equal(one(metrics, 'WWW-Authenticate', 'metrics'), 'Bearer');
    });
  });
}

describe('CanonicalServerResponse on a bare node:http server', () => {
  const cases: Record<string, (res: http.ServerResponse) => void> = {
    // Headers set earlier (as Fastify does before a stream), then writeHead with an object naming
    // one of them again in another case: one header each, the later value.
    '/set-then-object': (res) => {
      res.setHeader('content-type', 'text/plain');
      res.setHeader('x-accel-buffering', 'no');
      res.setHeader('Cache-Control', 'no-cache');
      res.writeHead(200, { 'Content-Type': 'audio/wav', etag: '"1"' }).end('x');
    },
    '/flat-array': (res) => {
      res.writeHead(200, 'Fine', ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
      res.end('x');
    },
    '/set-then-flat-array': (res) => {
      res.setHeader('retry-after', '5');
      res.writeHead(429, ['content-type', 'text/plain', 'www-authenticate', 'Bearer']).end('x');
    },
    '/pairs': (res) => {
      res.writeHead(200, [
        ['content-range', 'bytes 0-0/1'],
        ['accept-ranges', 'bytes'],
      ] as unknown as string[]);
      res.end('x');
    },
    // Node's implicit writeHead on the first write, as a piped stream does.
    '/implicit': (res) => {
      res.statusCode = 206;
      res.setHeader('content-length', '1');
      res.setHeader('last-modified', 'Thu, 26 Nov 2026 10:00:00 GMT');
      res.write('x');
      res.end();
    },
  };
  let server: http.Server;
  let port = 0;
  before(async () => {
    server = http.createServer({ ServerResponse: CanonicalServerResponse }, (req, res) =>
      cases[req.url ?? '']?.(res),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('names are canonical in every form writeHead takes, and none is sent twice', async () => {
    const get = async (path: string) => {
      const r = await raw(port, 'GET', path, { host: 'localhost' });
      assertCanonical(r, path);
      return r;
    };
    const a = await get('/set-then-object');
    assert.equal(one(a, 'Content-Type', 'a'), 'audio/wav');
    assert.equal(one(a, 'X-Accel-Buffering', 'a'), 'no');
    assert.equal(one(a, 'Cache-Control', 'a'), 'no-cache');
    assert.equal(one(a, 'ETag', 'a'), '"1"');
    const b = await get('/flat-array');
    assert.equal(b.statusLine, 'HTTP/1.1 200 Fine');
    assert.deepEqual(exactly(b, 'Set-Cookie'), ['a=1', 'b=2']);
    const c = await get('/set-then-flat-array');
    assert.equal(one(c, 'Retry-After', 'c'), '5');
    assert.equal(one(c, 'WWW-Authenticate', 'c'), 'Bearer');
    const d = await get('/pairs');
    assert.equal(one(d, 'Content-Range', 'd'), 'bytes 0-0/1');
    assert.equal(one(d, 'Accept-Ranges', 'd'), 'bytes');
    const e = await get('/implicit');
    assert.equal(e.status, 206);
    assert.equal(one(e, 'Content-Length', 'e'), '1');
    assert.equal(one(e, 'Last-Modified', 'e'), 'Thu, 26 Nov 2026 10:00:00 GMT');
    assert.equal(e.body.toString(), 'x');
  });

  test('canonicalHeaderName', () => {
    for (const [from, to] of [
      ['set-cookie', 'Set-Cookie'],
      ['SET-COOKIE', 'Set-Cookie'],
      ['Content-Type', 'Content-Type'],
      ['etag', 'ETag'],
      ['www-authenticate', 'WWW-Authenticate'],
      ['x-accel-buffering', 'X-Accel-Buffering'],
      ['access-control-allow-origin', 'Access-Control-Allow-Origin'],
      ['vary', 'Vary'],
    ])
      assert.equal(canonicalHeaderName(from), to);
  });
});
