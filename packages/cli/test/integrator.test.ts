// `dzvin calls history`, `dzvin listen` and `dzvin events tail`: the real binary (a child
// process) against a real server on loopback whose clock the test moves; plus the small parsers
// they stand on (CSV, server-sent events, the progress bar).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DzvinAdminClient } from '@dzvin/sdk';
import { buildCallEvent, buildCallSettingsRequest, buildUtmItem, deliverWebhook } from '@dzvin/sdk/testing';
import { createManualClock } from '../../server/src/domain/clock.ts';
import { type Session, startServer, type TestServer } from '../../server/test/support/harness.ts';
import { EVENTS_STREAM_PATH } from '../src/commands/events.ts';
import { parseCsv } from '../src/csv.ts';
import { createProgress } from '../src/progress.ts';
import { createSseParser, type SseEvent } from '../src/sse.ts';
import { type Run, runDzvin, spawnDzvin } from './support/run.ts';

const TRUNK = '+380442246595';
const clock = createManualClock(Date.UTC(2026, 10, 26, 9));
let tmp: string;
let home: string;
let server: TestServer;
let acme: Session;
let admin: DzvinAdminClient;
let acmeEnv: Record<string, string>;

/** A loopback port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const dzvin = (args: string[], env: Record<string, string> = acmeEnv): Promise<Run> =>
  runDzvin(args, { HOME: home, ...env });

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-cli-kit-'));
  home = path.join(tmp, 'home');
  fs.mkdirSync(home);
  server = await startServer('sqlite', { clock });
  acme = await server.account('acme.localhost');
  acmeEnv = { DZVIN_URL: server.baseUrl, DZVIN_API_KEY: acme.apiKey };
  admin = new DzvinAdminClient({ baseUrl: server.baseUrl, apiKey: acme.apiKey });
  const [owner] = await admin.employees.list();
  await admin.trunks.create({
    number: TRUNK,
    name: 'Main',
    destination: { type: 'employee', id: owner.id },
    isDefault: true,
  });
});

after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('dzvin calls history', () => {
  const N = 120;
  let from: number;
  let to: number;

  before(async () => {
    await clock.advance(60_000);
    from = clock.now();
    for (let i = 0; i < N; i++) {
      const { uuid } = await admin.sim.incoming({ from: `+38050${String(1_000_000 + i)}`, trunk: TRUNK });
      await admin.sim.hangup(uuid);
      await clock.advance(100);
    }
    await server.built.simulator.engine.idle();
    to = clock.now();
  });

  test('--csv pages through every record (3 pages of 50, then 7 of 20): a header and one row per call', async () => {
    for (const pageSize of ['50', '20']) {
      const r = await dzvin([
        'calls',
        'history',
        '--from',
        String(from),
        '--to',
        String(to),
        '--csv',
        '--page-size',
        pageSize,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'no progress bar when stderr is not a TTY');
      const [head, ...rows] = parseCsv(r.stdout).map((x) => x.cells);
      assert.deepEqual(head.slice(0, 5), ['uuid', 'parentUuid', 'endAt', 'direction', 'disposition']);
      assert.equal(rows.length, N);
      assert.equal(new Set(rows.map((x) => x[0])).size, N, 'no record twice');
      assert.ok(
        rows.every((x) => x[3] === 'incoming' && x[4] === 'no answer'),
        r.stdout.slice(0, 500),
      );
      const others = new Set(rows.map((x) => x[head.indexOf('otherLegNum')]));
      assert.ok(others.has('+380501000000') && others.has(`+38050${1_000_000 + N - 1}`));
    }
  });

  test('--json is every record as the API gives it; ISO times and --direction filter; the table counts', async () => {
    const r = await dzvin([
      'calls',
      'history',
      '--from',
      new Date(from).toISOString(),
      '--to',
      new Date(to).toISOString(),
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const records = JSON.parse(r.stdout);
    assert.equal(records.length, N);
    assert.equal(new Set(records.map((c: { uuid: string }) => c.uuid)).size, N);
    assert.ok(records.every((c: { endAt: number }) => c.endAt >= from && c.endAt <= to));

    const missed = await dzvin([
      'calls',
      'history',
      '--from',
      String(from),
      '--to',
      String(to),
      '--kind',
      'missed',
      '--json',
    ]);
    assert.equal(missed.code, 0, missed.stderr);
    assert.equal(JSON.parse(missed.stdout).length, N);

    const outgoing = await dzvin([
      'calls',
      'history',
      '--from',
      String(from),
      '--to',
      String(to),
      '--direction',
      'outgoing',
    ]);
    assert.equal(outgoing.code, 0, outgoing.stderr);
    assert.equal(outgoing.stdout, 'No calls in that time.\n');

    const table = await dzvin([
      'calls',
      'history',
      '--from',
      String(from),
      '--to',
      String(to),
      '--direction',
      'incoming,internal',
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /ended .* direction .* result/);
    assert.match(table.stdout, new RegExp(`\\n${N} calls\\.\\n$`));
  });

  test('bad usage is exit 2; a refused key is exit 1; no server is exit 3', async () => {
    for (const args of [
      ['calls', 'history'],
      ['calls', 'history', '--from', 'yesterday'],
      ['calls', 'history', '--from', '-1h', '--json', '--csv'],
      ['calls', 'history', '--from', '-1h', '--direction', 'sideways'],
      ['calls', 'history', '--from', '-1h', '--direction', 'pause'],
      ['calls', 'history', '--from', '-1h', '--kind', 'all'],
      ['calls', 'history', '--from', '-1h', '--page-size', '51'],
      ['calls', 'history', '--from', 'now', '--to', '-1d'],
    ]) {
      const r = await dzvin(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '');
    }
    const refused = await dzvin(['calls', 'history', '--from', '-1h'], {
      ...acmeEnv,
      DZVIN_API_KEY: 'wrong-key-0123456789',
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^dzvin: .+ \(HTTP 40[13]\)\n$/);
    const nobody = `http://127.0.0.1:${await closedPort()}`;
    const closed = await dzvin(['calls', 'history', '--from', '-1h', '--domain', 'acme.localhost'], {
      ...acmeEnv,
      DZVIN_URL: nobody,
    });
    assert.equal(closed.code, 3);
    assert.equal(closed.stderr, `dzvin: cannot connect to ${nobody} (ECONNREFUSED)\n`);
  });
});

describe('dzvin listen', () => {
  test('prints deliveries as JSON lines, answers lookups from the file, also for a real call from Dzvin', async () => {
    const answers = path.join(tmp, 'answers.json');
    fs.writeFileSync(
      answers,
      JSON.stringify({
        '+380505826633': { name: 'Acme Ltd', url: 'https://crm.example/1', urlText: 'Open' },
        '0671234567': 'Іван Петренко',
      }),
    );
    const l = spawnDzvin(['listen', '--port', '0', '--answers', answers, '--json'], { HOME: home });
    try {
      const [, port] = await l.waitFor('stderr', /^Listening on http:\/\/127\.0\.0\.1:([0-9]+)\//m);
      const url = `http://127.0.0.1:${port}/`;

      const known = await deliverWebhook(url, buildCallSettingsRequest({ otherLegNum: '+380505826633' }));
      assert.equal(known.status, 200);
      assert.deepEqual(known.json, {
        otherLeg: { name: 'Acme Ltd', url: 'https://crm.example/1', urlText: 'Open' },
      });
      // The same last 9 digits find a national spelling; a string answer is the name.
      const national = await deliverWebhook(url, buildCallSettingsRequest({ otherLegNum: '+380671234567' }));
      assert.deepEqual(national.json, { otherLeg: { name: 'Іван Петренко' } });
      const unknown = await deliverWebhook(url, buildCallSettingsRequest({ otherLegNum: '+380999999999' }));
      assert.deepEqual(unknown.json, { otherLeg: null });

      const dial = buildCallEvent('call.dial', { uuid: 'a'.repeat(32) });
      assert.equal((await deliverWebhook(url, dial)).status, 200);
      assert.equal((await deliverWebhook(url, dial, { form: true })).status, 200, 'repeats are shown too');
      assert.equal((await deliverWebhook(url, [buildUtmItem({ utmSource: 'google' })])).status, 200);
      await l.waitFor('stdout', /"type":"utm"/);
      const lines = l
        .stdout()
        .trim()
        .split('\n')
        .map((x) => JSON.parse(x));
      assert.deepEqual(
        lines.map((x) => x.type),
        ['call.settings', 'call.settings', 'call.settings', 'call.event', 'call.event', 'utm'],
      );
      assert.equal(lines[0].request.otherLegNum, '+380505826633');
      assert.equal(lines[0].answer.name, 'Acme Ltd');
      assert.equal(lines[0].ip, '127.0.0.1');
      assert.equal(lines[3].event.uuid, dial.uuid);
      assert.equal(lines[5].items[0].utmSource, 'google');

      // Dzvin itself asks it: a CRM connection pointing here, and an incoming call from a number in the file.
      await admin.crmConnections.create({ name: 'dzvin listen', callSettingsUrl: url, eventsUrl: url });
      const { uuid } = await admin.sim.incoming({ from: '0505826633', trunk: TRUNK });
      await l.waitFor('stdout', /"type":"call\.settings".*"otherLegNum":"\+380505826633".*\n(.|\n)*/);
      const settings = l
        .stdout()
        .trim()
        .split('\n')
        .map((x) => JSON.parse(x))
        .filter((x) => x.type === 'call.settings');
      assert.equal(settings.length, 4, l.stdout());
      const active = await dzvin(['calls', 'active', '--json']);
      const legs = JSON.parse(active.stdout).filter(
        (c: { uuid: string; parentUuid: string | null }) => c.uuid === uuid || c.parentUuid === uuid,
      );
      assert.ok(
        legs.some((c: { otherLegs: { name: string | null }[] }) =>
          c.otherLegs.some((o) => o.name === 'Acme Ltd'),
        ),
        active.stdout,
      );
      await admin.sim.hangup(uuid);
    } finally {
      l.child.kill('SIGTERM');
    }
    assert.equal(await l.exited, 0, l.stderr());
  });

  test('pretty output by default; a bad answers file or port is exit 2', async () => {
    const l = spawnDzvin(['listen', '--port', '0'], { HOME: home });
    try {
      const [, port] = await l.waitFor('stderr', /127\.0\.0\.1:([0-9]+)\//);
      const url = `http://127.0.0.1:${port}/`;
      assert.deepEqual((await deliverWebhook(url, buildCallSettingsRequest())).json, { otherLeg: null });
      await deliverWebhook(
        url,
        buildCallEvent('call.hangup', { uuid: 'b'.repeat(32), bridgeAt: null, lgDirection: 4 }),
      );
      await l.waitFor('stdout', /call\.hangup/);
      assert.match(
        l.stdout(),
        /^[0-9:.]{12} call\.settings \+380505826633 via \+380442246595 → nothing \(otherLeg: null\)\n/,
      );
      assert.match(l.stdout(), /[0-9:.]{12} call\.hangup +incoming b{32} .*\(not answered\)\n$/);
    } finally {
      l.child.kill('SIGTERM');
    }
    assert.equal(await l.exited, 0);

    const bad = path.join(tmp, 'bad-answers.json');
    fs.writeFileSync(bad, '["not", "an", "object"]');
    for (const [args, re] of [
      [['listen', '--answers', path.join(tmp, 'none.json')], /cannot read/],
      [['listen', '--answers', bad], /must be a JSON object of numbers/],
      [['listen', '--port', '70000'], /expected a port/],
    ] as const) {
      const r = await dzvin([...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
    }
  });
});

describe('dzvin events tail', () => {
  test(`streams the account's events from ${EVENTS_STREAM_PATH} (or says the server has none)`, async (t) => {
    const probe = await fetch(`${server.baseUrl}${EVENTS_STREAM_PATH}`, {
      headers: { authorization: `Bearer ${acme.apiKey}`, accept: 'text/event-stream' },
      signal: AbortSignal.timeout(5000),
    }).catch(() => null);
    const exists = probe?.ok === true;
    await probe?.body?.cancel().catch(() => {});
    if (!exists) {
      const r = await dzvin(['events', 'tail', '--json']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^dzvin: this server has no event stream .*\(HTTP 404\)\n$/);
      t.skip(`the server has no ${EVENTS_STREAM_PATH} yet: only the refusal was tested`);
      return;
    }
    const tail = spawnDzvin(['events', 'tail', '--json'], { HOME: home, ...acmeEnv });
    const pretty = spawnDzvin(['events', 'tail', '--limit', '1'], { HOME: home, ...acmeEnv });
    try {
      await tail.waitFor('stderr', /^Connected to .*\/api\/v1\/events\/stream/m);
      await pretty.waitFor('stderr', /^Connected to /m);
      const { uuid } = await admin.sim.incoming({ from: '+380505826699', trunk: TRUNK });
      await admin.sim.hangup(uuid);
      await tail.waitFor('stdout', /"event":"call\.hangup"/);
      tail.child.kill('SIGINT');
      assert.equal(await tail.exited, 0, tail.stderr());
      const lines = tail
        .stdout()
        .trim()
        .split('\n')
        .map((x) => JSON.parse(x));
      assert.equal(lines[0].event, 'call.dial');
      // Ids are unique across the processes of a cluster: a sequence number and the process.
      assert.match(lines[0].id, /^[0-9]+-[0-9a-f]{8}$/);
      assert.equal(lines[0].data.accountDomain, 'acme.localhost');
      assert.ok(
        lines.every((x) => [x.data.uuid, x.data.parentUuid].includes(uuid)),
        tail.stdout(),
      );
      // --limit 1: the first event, then it ends by itself.
      assert.equal(await pretty.exited, 0, pretty.stderr());
      assert.match(
        pretty.stdout(),
        /^[0-9:.]{12} call\.dial +incoming [0-9a-f]{32} (.* )?trunk \+380442246595\n$/,
      );
    } finally {
      tail.child.kill('SIGTERM');
      pretty.child.kill('SIGTERM');
    }
  });

  test('a wrong key is refused with exit 1, no server is exit 3', async () => {
    const refused = await dzvin(['events', 'tail'], { ...acmeEnv, DZVIN_API_KEY: 'wrong-key-0123456789' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\(HTTP 40[134]\)\n$/);
    const nobody = `http://127.0.0.1:${await closedPort()}`;
    const closed = await dzvin(['events', 'tail'], { ...acmeEnv, DZVIN_URL: nobody });
    assert.equal(closed.code, 3);
    assert.equal(closed.stderr, `dzvin: cannot connect to ${nobody} (ECONNREFUSED)\n`);
  });
});

describe('the parsers under the commands', () => {
  test('CSV: quotes, escaped quotes, commas and line breaks in cells, CRLF, BOM, blank lines', () => {
    const rows = parseCsv('\ufeffa,b,c\r\n"x, y","say ""hi""","two\nlines"\r\n\r\n1,,3\n');
    assert.deepEqual(rows, [
      { line: 1, cells: ['a', 'b', 'c'] },
      { line: 2, cells: ['x, y', 'say "hi"', 'two\nlines'] },
      { line: 5, cells: ['1', '', '3'] },
    ]);
    assert.throws(() => parseCsv('a\n"open\n'), /line 2 never closes/);
  });

  test('server-sent events: split anywhere, multi-line data, comments, ids and retry', () => {
    const events: SseEvent[] = [];
    let retry = 0;
    const feed = createSseParser(
      (e) => events.push(e),
      (ms) => {
        retry = ms;
      },
    );
    const text =
      ': hello\nretry: 1500\nid: 7\nevent: call.dial\ndata: {"a":1,\ndata: "b":2}\n\ndata: plain\r\n\r\n';
    for (const ch of text) feed(ch);
    assert.equal(retry, 1500);
    assert.deepEqual(events, [
      { event: 'call.dial', data: '{"a":1,\n"b":2}', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
    ]);
  });

  test('the progress bar draws only on a TTY and clears its line', () => {
    const written: string[] = [];
    const tty = { isTTY: true, columns: 80, write: (s: string) => written.push(s) };
    const bar = createProgress('importing', tty, 10);
    bar.update(10);
    bar.stop();
    assert.equal(written[0], `\rimporting [${'#'.repeat(24)}] 100% 10/10\x1b[K`);
    assert.equal(written.at(-1), '\r\x1b[K');
    const piped: string[] = [];
    const quiet = createProgress('importing', { isTTY: false, write: (s: string) => piped.push(s) }, 10);
    quiet.update(5);
    quiet.stop();
    assert.deepEqual(piped, []);
  });
});
