// Outgoing HTTP to CRMs (integrations/http-out.ts): a URL is parsed once and a name resolved once
// for a few seconds, but the address policy still applies to every request, failures are not
// kept, and what the URL carries (credentials, path, query) goes with every request.
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { OutgoingRequestError, postJson } from '../src/integrations/http-out.ts';

const PRODUCTION = { allowPrivate: false };
const LOCAL = { allowPrivate: true };

describe('outgoing HTTP to CRMs', () => {
  let server: http.Server;
  let port = 0;
  const seen: { url: string; authorization: string | undefined; body: string }[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          url: req.url ?? '',
          authorization: req.headers.authorization,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        if (req.url === '/hang') return;
        res.writeHead(req.url?.startsWith('/moved') ? 302 : 200, { location: '/elsewhere' }).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof OutgoingRequestError, String(err));
    return err.code;
  };

  test('a name resolving to loopback is refused on every request, not only the first', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal(
        await refusal(
          postJson(`http://localhost:${port}/events`, {}, { timeoutMs: 2000, policy: PRODUCTION }),
        ),
        'refused_address',
      );
    assert.equal(seen.length, 0, 'nothing reached the receiver');
  });

  test('a loopback address is refused on every request in production mode, allowed in local mode', async () => {
    const url = `http://127.0.0.1:${port}/ok`;
    for (let i = 0; i < 2; i++)
      assert.equal(
        await refusal(postJson(url, {}, { timeoutMs: 2000, policy: PRODUCTION })),
        'refused_address',
      );
    const r = await postJson(url, { n: 1 }, { timeoutMs: 2000, policy: LOCAL });
    assert.equal(r.status, 200);
  });

  test('credentials, path and query of the URL go with every request to it', async () => {
    seen.length = 0;
    const url = `http://crm%20user:p%40ss@127.0.0.1:${port}/hook?token=abc`;
    for (let i = 0; i < 3; i++) {
      const r = await postJson(url, { i }, { timeoutMs: 2000, policy: LOCAL });
      assert.equal(r.status, 200);
    }
    assert.equal(seen.length, 3);
    for (const [i, s] of seen.entries()) {
      assert.equal(s.url, '/hook?token=abc');
      assert.equal(s.authorization, `Basic ${Buffer.from('crm user:p@ss').toString('base64')}`);
      assert.deepEqual(JSON.parse(s.body), { i });
    }
  });

  test('a name is resolved, and the connection made to the address it resolved to', async () => {
    const [first] = await lookup('localhost', { all: true, verbatim: true });
    const named = http.createServer((_req, res) => res.writeHead(204).end());
    await new Promise<void>((r) => named.listen(0, first.address, r));
    try {
      const p = (named.address() as { port: number }).port;
      for (let i = 0; i < 2; i++) {
        const r = await postJson(`http://localhost:${p}/x`, {}, { timeoutMs: 2000, policy: LOCAL });
        assert.equal(r.status, 204);
      }
    } finally {
      named.closeAllConnections();
      named.close();
    }
  });

  test('a CRM that does not answer in time is a timeout', async () => {
    const t0 = Date.now();
    assert.equal(
      await refusal(postJson(`http://127.0.0.1:${port}/hang`, {}, { timeoutMs: 200, policy: LOCAL })),
      'timeout',
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  test('a redirect is a status, not followed', async () => {
    seen.length = 0;
    const r = await postJson(`http://127.0.0.1:${port}/moved`, {}, { timeoutMs: 2000, policy: LOCAL });
    assert.equal(r.status, 302);
    assert.deepEqual(
      seen.map((s) => s.url),
      ['/moved'],
    );
  });

  test('a bad URL is refused each time it is used (failures are not kept)', async () => {
    for (const url of ['not a url', 'ftp://127.0.0.1/x', 'not a url'])
      assert.equal(await refusal(postJson(url, {}, { timeoutMs: 2000, policy: LOCAL })), 'bad_url');
  });

  test('a name that does not resolve fails as a network error, again on the next request', async () => {
    for (let i = 0; i < 2; i++)
      assert.equal(
        await refusal(
          postJson('http://dzvin-no-such-host.invalid/x', {}, { timeoutMs: 5000, policy: LOCAL }),
        ),
        'network',
      );
  });
});
