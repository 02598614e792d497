// `dzvin account set --phones` and `account show` against a real Dzvin on 127.0.0.1 (issue 15:
// which phones an account's employees use — simulated, real or hybrid, or the server's default).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Session, startServer, type TestServer } from '../../server/test/support/harness.ts';
import { runDzvin } from './support/run.ts';

let home: string;
let server: TestServer;
let acme: Session;
let env: Record<string, string>;

before(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-cli-phones-'));
  server = await startServer('sqlite');
  acme = await server.account('phones-cli.localhost');
  env = { HOME: home, DZVIN_URL: server.baseUrl, DZVIN_API_KEY: acme.apiKey };
});
after(async () => {
  await server?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('dzvin account set --phones', () => {
  test('sets the mode, shows it, goes back to the default; a bad mode is a usage error', async () => {
    const shown = await runDzvin(['account', 'show'], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /│ phones +│ hybrid \(default\) +│/);
    const set = await runDzvin(['account', 'set', '--phones', 'real', '--json'], env);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(JSON.parse(set.stdout).phones, 'real');
    assert.equal((await acme.admin('GET', '/api/v1/account')).json().phones, 'real', 'stored');
    const back = await runDzvin(['account', 'set', '--phones', 'default', '--json'], env);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(
      [JSON.parse(back.stdout).phones, JSON.parse(back.stdout).phonesDefault],
      ['hybrid', true],
    );
    const bad = await runDzvin(['account', 'set', '--phones', 'virtual'], env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--phones.*simulated, real, hybrid or default/);
  });
});
