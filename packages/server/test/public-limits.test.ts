// The public endpoints for websites (callback widget, call tracking) are limited per account:
// a callback makes the PBX dial whatever number a visitor typed (toll fraud, harassment), a
// tracking session holds a number of the pool. Over the limit: 429, Retry-After, plain text,
// and nothing dialled or reserved.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import { createTrunks } from './support/trunks.ts';

const DOMAIN = 'limits.localhost';
const MAIN = '+380442220000';
const POOL = ['+380442220001', '+380442220002', '+380442220003', '+380442220004'];

describe('limits of the public callback and tracking endpoints', () => {
  let server: TestServer;
  let s: Session;
  before(async () => {
    server = await startServer('sqlite', {
      config: { publicLimits: { callbacksPerIp: 3, callbacksPerNumber: 2, sessionsPerIp: 2 } },
    });
    s = await server.account(DOMAIN);
    await createTrunks(s, MAIN, [MAIN, ...POOL]);
    for (const number of POOL)
      assert.equal((await s.admin('POST', '/api/v1/tracking/numbers', { number })).status, 201);
  });
  after(() => server.close());

  const pub = (path: string, body: unknown, from = '127.0.0.1') =>
    server.request('POST', `/api/v1/public/${DOMAIN}${path}`, { body, localAddress: from });

  test('a number is called back at most callbacksPerNumber times a window, whatever address asks', async () => {
    assert.equal((await pub('/callback', { number: '067 100 00 01' }, '127.0.0.2')).status, 201);
    assert.equal((await pub('/callback', { number: '+380671000001' }, '127.0.0.3')).status, 201);
    const third = await pub('/callback', { number: '0671000001' }, '127.0.0.4');
    assert.equal(third.status, 429);
    assert.equal(third.text, 'Too many callback requests for this number; try again later');
    assert.equal(third.headers['retry-after'], '600');
    assert.match(String(third.headers['content-type']), /^text\/plain/);
  });

  test('an address asks for at most callbacksPerIp callbacks a window; refused ones dial nothing', async () => {
    const calls = () => server.built.simulator.sim.activeCount();
    for (const n of ['0671000011', '0671000012', '0671000013'])
      assert.equal((await pub('/callback', { number: n }, '127.0.0.9')).status, 201, n);
    const before = calls();
    const refused = await pub('/callback', { number: '0671000014' }, '127.0.0.9');
    assert.equal(refused.status, 429);
    assert.equal(refused.text, 'Too many callback requests from this address; try again later');
    assert.equal(calls(), before, 'no call placed');
    // Bad input is refused first and not counted: another address still has its allowance.
    assert.equal((await pub('/callback', { number: 'not a phone' }, '127.0.0.10')).status, 400);
    assert.equal((await pub('/callback', { number: '0671000015' }, '127.0.0.10')).status, 201);
  });

  test('an address opens at most sessionsPerIp tracking sessions a window; the pool stays for others', async () => {
    assert.equal((await pub('/tracking/sessions', {}, '127.0.0.20')).status, 201);
    assert.equal((await pub('/tracking/sessions', {}, '127.0.0.20')).status, 201);
    const third = await pub('/tracking/sessions', {}, '127.0.0.20');
    assert.equal(third.status, 429);
    assert.equal(third.text, 'Too many tracking sessions from this address; try again later');
    const other = await pub('/tracking/sessions', {}, '127.0.0.21');
    assert.equal(other.status, 201, other.text);
  });
});
