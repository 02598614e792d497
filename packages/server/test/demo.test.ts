import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTestDatabaseUrl, DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { request } from './support/harness.ts';

const BIN = fileURLToPath(new URL('../../cli/bin/dzvin.js', import.meta.url));

/** Starts `dzvin serve` (what `npm start` runs) and waits for its banner. */
async function serve(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; out: string; port: number }> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${out}`)), 30_000);
    const check = () => {
      const m = /Dzvin is listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m && /OpenAPI/.test(out) && /\n\n/.test(out.slice(out.indexOf('Demo account')))) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) => reject(new Error(`dzvin serve exited with ${code}:\n${out}`)));
  });
  return { child, out, port };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

for (const dialect of DIALECTS) {
  describe(`first start creates a living demo office [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    const children: ChildProcess[] = [];
    let drop = async () => {};
    after(async () => {
      await Promise.all(children.map(stop));
      await drop();
    });

    test('the printed domain and key work; a second start keeps the account and does not reprint the key', async () => {
      const db = await createTestDatabaseUrl(dialect);
      drop = db.drop;
      const first = await serve({ DATABASE_URL: db.url });
      children.push(first.child);
      assert.match(first.out, /Demo account: demo\.localhost \(created now\)/);
      assert.match(first.out, /\/openapi\.json/);
      const key = /API key:\s+([A-Za-z0-9]{32})/.exec(first.out)?.[1];
      assert.ok(key, first.out);
      const base = `http://127.0.0.1:${first.port}`;
      const auth = await request(base, 'POST', '/rest/security/authorize', {
        body: { domain: 'demo.localhost', apiKey: key },
      });
      assert.equal(auth.status, 200);
      const cookie = String(auth.headers['set-cookie']?.[0]).split(';')[0];
      const users = (await request(base, 'GET', '/rest/users', { cookie })).json();
      assert.equal(users.length, 4);
      assert.deepEqual((await request(base, 'GET', '/rest/user/status', { cookie })).json(), { status: 0 });
      const bearer = { authorization: `Bearer ${key}` };
      assert.equal((await request(base, 'GET', '/api/v1/trunks', { headers: bearer })).json().length, 2);
      assert.equal(
        (await request(base, 'GET', '/api/v1/groups', { headers: bearer })).json()[0].members.length,
        3,
      );
      assert.equal(
        (await request(base, 'GET', '/api/v1/ivr', { headers: bearer })).json()[0].options.length,
        2,
      );
      const contacts = (
        await request(base, 'GET', '/rest/crm/contacts/v2/searchByOLNum?otherLegNum=0505826633', { cookie })
      ).json();
      assert.equal(contacts.length, 1);
      await stop(first.child);

      const second = await serve({ DATABASE_URL: db.url });
      children.push(second.child);
      assert.doesNotMatch(second.out, /created now/);
      assert.doesNotMatch(second.out, new RegExp(key));
      assert.match(second.out, /rotate-key demo\.localhost/);
      const again = await request(`http://127.0.0.1:${second.port}`, 'POST', '/rest/security/authorize', {
        body: { domain: 'demo.localhost', apiKey: key },
      });
      assert.equal(again.status, 200, 'the key from the first start still works');
      await stop(second.child);

      const third = await serve({ DATABASE_URL: db.url, DZVIN_DEMO_API_KEY: 'my-own-demo-key-123456' });
      children.push(third.child);
      const own = await request(`http://127.0.0.1:${third.port}`, 'POST', '/rest/security/authorize', {
        body: { domain: 'demo.localhost', apiKey: 'my-own-demo-key-123456' },
      });
      assert.equal(own.status, 200, 'DZVIN_DEMO_API_KEY is applied to the existing demo account');
      await stop(third.child);
    });

    test('a bad configuration value stops the start with a clear message', async () => {
      const child = spawn(process.execPath, [BIN, 'serve'], {
        env: { ...process.env, PORT: 'eighty' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr?.on('data', (d) => {
        err += d;
      });
      const code = await new Promise((resolve) => child.on('exit', resolve));
      assert.equal(code, 2);
      assert.match(err, /PORT must be an integer/);
    });
  });
}
