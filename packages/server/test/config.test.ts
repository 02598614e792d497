// Configuration from the environment (config.ts): what each variable accepts, what it refuses
// with a message naming it; DZVIN_TRUST_PROXY decides which client address a real server sees.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.ts';
import { request, startServer, type TestServer } from './support/harness.ts';

describe('configuration', () => {
  test('DZVIN_TRUST_PROXY: off by default; true/false; or the proxies’ addresses and CIDRs', () => {
    assert.equal(parseConfig({}).trustProxy, false);
    assert.equal(parseConfig({ DZVIN_TRUST_PROXY: 'true' }).trustProxy, true);
    assert.equal(parseConfig({ DZVIN_TRUST_PROXY: 'off' }).trustProxy, false);
    assert.deepEqual(parseConfig({ DZVIN_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1,loopback' }).trustProxy, [
      '127.0.0.1',
      '10.0.0.0/8',
      '::1',
      'loopback',
    ]);
    assert.throws(
      () => parseConfig({ DZVIN_TRUST_PROXY: 'nginx.internal' }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /^DZVIN_TRUST_PROXY must be true, false or the proxies' addresses/);
        return true;
      },
    );
    // A hop count is refused: Fastify 5 treats one as "trust nobody", which would surprise.
    assert.throws(() => parseConfig({ DZVIN_TRUST_PROXY: '1' }), ConfigError);
  });

  test('DZVIN_NODE_URL: an http(s) origin; anything else names the variable', () => {
    assert.equal(parseConfig({}).nodeUrl, undefined);
    assert.equal(parseConfig({ DZVIN_NODE_URL: 'http://10.0.0.5:8081/' }).nodeUrl, 'http://10.0.0.5:8081');
    assert.throws(() => parseConfig({ DZVIN_NODE_URL: 'ftp://x' }), /DZVIN_NODE_URL must be http/);
    assert.throws(() => parseConfig({ DZVIN_NODE_URL: 'not a url' }), /DZVIN_NODE_URL must be a URL/);
  });
});

for (const [setting, expected] of [
  // Every hop trusted: the leftmost address, whatever the client wrote there.
  [true, '198.51.100.7'],
  // Only our proxy (loopback) trusted: the address it saw, even if the client sent its own header.
  [['127.0.0.1'], '203.0.113.9'],
  [false, '127.0.0.1'],
] as const)
  describe(`DZVIN_TRUST_PROXY=${JSON.stringify(setting)}`, () => {
    let server: TestServer;
    before(async () => {
      server = await startServer('sqlite', { config: { trustProxy: setting as boolean | string[] } });
      await server.account('trust.localhost');
    });
    after(() => server.close());
    test(`a failed sign-in is counted against ${expected}`, async () => {
      const r = await request(server.baseUrl, 'POST', '/rest/security/authorize', {
        host: 'trust.localhost',
        headers: { 'x-forwarded-for': '198.51.100.7, 203.0.113.9' },
        body: { domain: 'trust.localhost', apiKey: 'wrong-key-wrong-key' },
      });
      assert.equal(r.status, 403);
      const keys = (await server.built.database.db.selectFrom('auth_failures').select('key').execute()).map(
        (k) => k.key,
      );
      assert.ok(keys.includes(`ip:${expected}`), `${JSON.stringify(keys)} counts ip:${expected}`);
    });
  });
