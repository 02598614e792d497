// `dzvin crm deliveries|attempts|secret|replay|test`: the real binary against a real server and a real CRM
// receiver on loopback that first refuses (410), then accepts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Session, startServer, type TestServer } from '../../server/test/support/harness.ts';
import { type Run, runDzvin } from './support/run.ts';

let tmp: string;
let server: TestServer;
let acme: Session;
let env: Record<string, string>;
let status = 410;
const hits: string[] = [];
const crm = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => {
    body += c;
  });
  req.on('end', () => {
    hits.push(body);
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 200 ? 'thanks' : 'gone');
  });
});

const dzvin = (args: string[]): Promise<Run> => runDzvin(args, { HOME: tmp, ...env });

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-cli-deliveries-'));
  await new Promise<void>((r) => crm.listen(0, '127.0.0.1', r));
  server = await startServer('sqlite');
  acme = await server.account('acme.localhost');
  env = { DZVIN_URL: server.baseUrl, DZVIN_API_KEY: acme.apiKey };
});
after(async () => {
  await server?.close();
  crm.closeAllConnections();
  crm.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('dzvin crm deliveries / attempts / replay / test', () => {
  test('a test event refused with 410 shows as failed, and replay sends it again', async () => {
    const port = (crm.address() as { port: number }).port;
    const c = await acme.admin('POST', '/api/v1/crm-connections', {
      name: 'CRM',
      eventsUrl: `http://127.0.0.1:${port}/events`,
    });
    assert.equal(c.status, 201, c.text);
    const id = c.json().id;
    const sent = await dzvin(['crm', 'test', String(id)]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /Sent a test call\.dial/);
    for (let i = 0; i < 100 && hits.length === 0; i++) await sleep(20);
    await sleep(100);
    const listed = await dzvin(['crm', 'deliveries', String(id), '--status', 'failed', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const [d] = JSON.parse(listed.stdout);
    assert.equal(d.status, 'failed');
    assert.equal(d.lastStatus, 410);
    assert.equal(d.responseExcerpt, 'gone');
    const table = await dzvin(['crm', 'deliveries', String(id)]);
    assert.match(table.stdout, /call\.dial.*failed/);
    status = 200;
    const replay = await dzvin(['crm', 'replay', String(id)]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, /Replayed 1 delivery/);
    for (let i = 0; i < 100 && hits.length < 2; i++) await sleep(20);
    assert.equal(hits.length, 2);
    const one = await dzvin(['crm', 'replay', String(id), '--delivery', String(d.id)]);
    assert.equal(one.code, 0, one.stderr);
    // Every attempt stays in the log: the refusal, the replay, the replay of that one delivery.
    let attempts: { attempt: number; status: number; responseExcerpt: string }[] = [];
    for (let i = 0; i < 100 && attempts.length < 3; i++) {
      const r = await dzvin(['crm', 'attempts', String(d.id), '--json']);
      assert.equal(r.code, 0, r.stderr);
      attempts = JSON.parse(r.stdout);
      if (attempts.length < 3) await sleep(20);
    }
    assert.deepEqual(
      attempts.map((a) => [a.attempt, a.status, a.responseExcerpt]),
      [
        [1, 410, 'gone'],
        [2, 200, 'thanks'],
        [3, 200, 'thanks'],
      ],
    );
    const attemptsTable = await dzvin(['crm', 'attempts', String(d.id)]);
    assert.match(attemptsTable.stdout, /1 .*410 .*gone/);
    assert.equal((await dzvin(['crm', 'attempts', '9999'])).code, 1);
    // A generated signing secret, shown once; the connection is signed from then on.
    const secret = await dzvin(['crm', 'secret', String(id)]);
    assert.equal(secret.code, 0, secret.stderr);
    assert.match(secret.stdout, /^whsec_[A-Za-z0-9+/]{43}=\n.*shown only now/i);
    const again = await dzvin(['crm', 'secret', String(id), '--json']);
    const other = JSON.parse(again.stdout).secret as string;
    assert.match(other, /^whsec_/);
    assert.notEqual(other, secret.stdout.split('\n')[0]);
    const shown = JSON.parse((await dzvin(['crm', 'get', String(id), '--json'])).stdout);
    assert.equal(shown.hasSecret, true);
    assert.equal((await dzvin(['crm', 'secret', '9999'])).code, 1);
    const bad = await dzvin(['crm', 'deliveries', String(id), '--status', 'nope']);
    assert.equal(bad.code, 2);
    const missing = await dzvin(['crm', 'deliveries', '9999']);
    assert.equal(missing.code, 1);
  });
});
