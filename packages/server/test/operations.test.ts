// Operations (issue 7): liveness, readiness, Prometheus metrics hooked into HTTP, call.settings
// lookups, deliveries and the simulator; `DZVIN_METRICS_TOKEN`; graceful shutdown of a real
// `dzvin serve` process on SIGTERM that finishes a delivery in flight and exits 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { type CrmReceiver, startCrmReceiver } from './support/crm-receiver.ts';
import { request, type Session, startServer, type TestServer } from './support/harness.ts';
import { sleep, until } from './support/wait.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The value of one sample line of a Prometheus exposition (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

describe('health, readiness and metrics', () => {
  let server: TestServer;
  let s: Session;
  let crm: CrmReceiver;
  before(async () => {
    server = await startServer('sqlite');
    s = await server.account('ops.localhost');
    crm = await startCrmReceiver();
  });
  after(async () => {
    await server.close();
    await crm.close();
  });

  test('GET /healthz and /readyz answer plain text 200 while the database is up', async () => {
    const h = await server.request('GET', '/healthz');
    assert.equal(h.status, 200);
    assert.equal(h.text, 'ok');
    const r = await server.request('GET', '/readyz');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'ready');
    assert.match(String(r.headers['content-type']), /^text\/plain/);
  });

  test('GET /metrics counts requests by route pattern and status, in Prometheus text format', async () => {
    await s.get('/rest/users');
    await s.get('/rest/crm/contacts/v2/987654');
    const m = await server.request('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(String(m.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.ok(sample(m.text, 'dzvin_http_requests_total', { route: '/rest/users', status: '200' }) >= 1);
    assert.ok(
      sample(m.text, 'dzvin_http_requests_total', { route: '/rest/crm/contacts/v2/:id', status: '404' }) >= 1,
    );
    assert.match(m.text, /^# TYPE dzvin_event_loop_lag_seconds gauge$/m);
    assert.match(m.text, /^dzvin_event_loop_lag_seconds\{quantile="0.99"\} \d/m);
  });

  test('a call counts as active, its lookup is timed, its events count as sent and retried', async () => {
    const emp = (await s.admin('POST', '/api/v1/employees', { displayName: 'Op', ext: '101' })).json();
    await s.admin('POST', '/api/v1/trunks', {
      number: '+380442246595',
      name: 'Main',
      destination: { type: 'employee', id: emp.id },
    });
    await s.admin('PUT', '/api/v1/sim/behaviours/employees/101', { mode: 'manual' });
    let fail = 1;
    crm.answer = (r) =>
      r.json?.request === 'call.settings'
        ? { status: 200, body: '{"otherLeg":null}' }
        : fail-- > 0
          ? { status: 503, body: 'busy' }
          : { status: 200, body: 'ok' };
    const conn = await s.admin('POST', '/api/v1/crm-connections', {
      name: 'CRM',
      callSettingsUrl: crm.url,
      eventsUrl: crm.url,
    });
    assert.equal(conn.status, 201, conn.text);
    const call = await s.admin('POST', '/api/v1/sim/calls', {
      from: '+380501112233',
      trunk: '+380442246595',
    });
    assert.equal(call.status, 201, call.text);
    const during = (await server.request('GET', '/metrics')).text;
    assert.ok(sample(during, 'dzvin_active_calls') >= 1, 'the ringing call is active');
    assert.ok(sample(during, 'dzvin_lookup_duration_seconds_count', { outcome: 'ok' }) >= 1);
    await s.admin('POST', `/api/v1/sim/calls/${call.json().uuid}/hangup`, {});
    const text = await until(
      async () => {
        const t = (await server.request('GET', '/metrics')).text;
        return sample(t, 'dzvin_deliveries_sent_total', { kind: 'event' }) >= 2 ? t : null;
      },
      'deliveries sent',
      20_000,
    );
    assert.ok(sample(text, 'dzvin_deliveries_retried_total', { kind: 'event' }) >= 1);
    assert.ok(sample(text, 'dzvin_delivery_lag_seconds_count', { kind: 'event' }) >= 2);
    assert.equal(sample(text, 'dzvin_active_calls'), 0);
  });
});

test('with DZVIN_METRICS_TOKEN set, /metrics needs it as a bearer token (health and readiness do not)', async () => {
  const server = await startServer('sqlite', { config: { metricsToken: 'scrape-secret-0123' } });
  try {
    assert.equal((await server.request('GET', '/metrics')).status, 401);
    const wrong = await server.request('GET', '/metrics', { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const ok = await server.request('GET', '/metrics', {
      headers: { authorization: 'Bearer scrape-secret-0123' },
    });
    assert.equal(ok.status, 200);
    assert.equal((await server.request('GET', '/healthz')).status, 200);
    assert.equal((await server.request('GET', '/readyz')).status, 200);
  } finally {
    await server.close();
  }
});

test('SIGTERM: dzvin serve stops accepting, finishes the delivery in flight, and exits 0', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-ops-'));
  // A CRM that takes 1.5 s to answer: SIGTERM arrives while the delivery is in flight.
  const received: number[] = [];
  const slow = http.createServer((req, res) => {
    req.resume();
    received.push(Date.now());
    setTimeout(() => res.end('ok'), 1500);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const crmUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}/events`;
  const key = 'ops-demo-key-0123456789abcdef';
  const child = spawn(process.execPath, [path.join(ROOT, 'packages/cli/bin/dzvin.js'), 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`,
      DZVIN_RECORDINGS_DIR: path.join(dir, 'rec'),
      DZVIN_DEMO_API_KEY: key,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  child.stdout.on('data', (c) => {
    out += c;
  });
  child.stderr.on('data', (c) => {
    out += c;
  });
  try {
    const base = await until(
      async () => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1],
      'the server to listen',
      30_000,
    );
    const port = Number(new URL(base).port);
    const admin = (method: string, p: string, body?: unknown) =>
      request(base, method, p, {
        host: `demo.localhost:${port}`,
        headers: { authorization: `Bearer ${key}` },
        body,
      });
    const conn = (await admin('POST', '/api/v1/crm-connections', { name: 'Slow', eventsUrl: crmUrl })).json();
    const sent = (await admin('POST', `/api/v1/crm-connections/${conn.id}/test`)).json();
    await until(async () => received.length > 0, 'the delivery to reach the CRM');
    child.kill('SIGTERM');
    await sleep(300);
    // No longer accepting: a new connection is refused.
    const late = await request(base, 'GET', '/healthz').then(
      (r) => r.status,
      () => 'refused',
    );
    assert.equal(late, 'refused', 'a request after SIGTERM');
    const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, `exit code (output: ${out})`);
    assert.equal(received.length, 1);
    const db = new Database(path.join(dir, 'db.sqlite'), { readonly: true });
    const row = db.prepare('select status, attempts from outbox where order_key = ?').get(sent.uuid);
    db.close();
    assert.deepEqual(row, { status: 'delivered', attempts: 1 }, 'the delivery in flight was finished');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    slow.closeAllConnections();
    slow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
