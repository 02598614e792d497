// One registrar per trunk in a cluster (issue 16): two Dzvin server processes (child processes,
// support/registrar-child.ts) over one throwaway PostgreSQL database, their B2BUAs behind one
// real Kamailio, and a carrier's registrar of the test's own on a UDP socket — it challenges each
// REGISTER (digest, checked), grants 2 s and records every REGISTER it gets, so the test sees
// exactly how many registration flows (Call-IDs) reach the carrier. A trunk that registers is
// registered by one process only (the other, claiming every second, is refused the trunk's
// advisory lock); both processes' admin APIs answer the same state; after the owner is SIGKILLed
// the other takes over (a new flow, the first one's REGISTERs stop) and says so.
//
// Needs PostgreSQL (DZVIN_TEST_PG_URL, set by `npm test`) and kamailio; skips loudly without
// them, unless DZVIN_REQUIRE_ALL=1 makes that a failure.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTestDatabaseUrl, dialectSkipReason, type TestDatabase } from './support/dialects.ts';
import { request } from './support/harness.ts';
import {
  freePort,
  type Kamailio,
  kamailioSkipReason,
  skipOrFail,
  startKamailio,
} from './support/kamailio.ts';
import { buildResponse, header, parseSip, type SipMessage } from './support/kamailio-sip.ts';
import { sleep, until } from './support/wait.ts';

const DOMAIN = 'carrier-cluster.localhost';
const API_KEY = 'carrier-cluster-key-0123456789';
const TRUNK = '+380443337755';
const USER = 'dzvin-cluster';
const SECRET = 'cluster-carrier-s3cret';
const REALM = 'carrier.test';

const skip =
  skipOrFail(
    'SIP carrier cluster',
    [dialectSkipReason('postgres')].filter((r): r is string => !!r),
  ) || kamailioSkipReason();

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

interface Register {
  at: number;
  callId: string;
  authorized: boolean;
  contact: string;
}

/**
 * The carrier's registrar: 401 with a fresh nonce to a REGISTER without credentials, 200 granting
 * `grantSec` to one whose digest (no qop) is right for USER/SECRET, 403 otherwise.
 */
async function startRegistrar(grantSec: number) {
  const socket = dgram.createSocket('udp4');
  const seen: Register[] = [];
  const nonces = new Set<string>();
  socket.on('message', (raw, rinfo) => {
    const m: SipMessage = parseSip(raw.toString(), rinfo);
    if (m.method !== 'REGISTER') return;
    const auth = header(m, 'Authorization');
    const reply = (text: string) => socket.send(Buffer.from(text), rinfo.port, rinfo.address);
    const entry = {
      at: Date.now(),
      callId: header(m, 'Call-ID') ?? '',
      authorized: false,
      contact: header(m, 'Contact') ?? '',
    };
    seen.push(entry);
    if (!auth) {
      const nonce = randomBytes(8).toString('hex');
      nonces.add(nonce);
      return reply(
        buildResponse(m, 401, 'Unauthorized', {
          headers: [`WWW-Authenticate: Digest realm="${REALM}", nonce="${nonce}", algorithm=MD5`],
        }),
      );
    }
    const p = Object.fromEntries(
      [...auth.matchAll(/(\w+)="?([^",]*)"?/g)].map(([, k, v]) => [k.toLowerCase(), v]),
    );
    const expected = md5(`${md5(`${USER}:${REALM}:${SECRET}`)}:${p.nonce}:${md5(`REGISTER:${p.uri}`)}`);
    if (p.username !== USER || !nonces.has(p.nonce) || p.response !== expected)
      return reply(buildResponse(m, 403, 'Forbidden'));
    entry.authorized = true;
    reply(buildResponse(m, 200, 'OK', { headers: [`Contact: ${entry.contact};expires=${grantSec}`] }));
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return {
    port: socket.address().port,
    seen,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** Every child this file started that still runs: killed if the test process exits first. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

interface Child {
  base: string;
  nodeId: string;
  child: ChildProcess;
  exited: Promise<void>;
  output(): string;
}

async function startChild(env: Record<string, string>): Promise<Child> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'support/registrar-child.ts')],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.add(child);
  let out = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    out += c;
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  const ready = await until(
    () => (child.exitCode === null ? /ready (\S+) (\S+)/.exec(out) : ['', 'exited', '']),
    'a Dzvin process to listen',
    60_000,
  );
  if (ready[1] === 'exited') throw new Error(`the Dzvin process exited:\n${out}`);
  return { base: ready[1], nodeId: ready[2], child, exited, output: () => out };
}

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;
const admin = (c: Child, method: string, p: string, body?: unknown) =>
  request(c.base, method, `/api/v1${p}`, {
    host: DOMAIN,
    headers: { authorization: `Bearer ${API_KEY}` },
    body,
  });

describe('one registrar per trunk over PostgreSQL: two processes, one REGISTER flow at the carrier, the other takes over when the owner is SIGKILLed', {
  skip,
}, () => {
  let db: TestDatabase;
  let kam: Kamailio;
  let registrar: Awaited<ReturnType<typeof startRegistrar>>;
  const children: Child[] = [];

  before(async () => {
    db = await createTestDatabaseUrl('postgres');
    registrar = await startRegistrar(2);
    const ports = [await freePort(), await freePort()];
    while (ports[1] === ports[0]) ports[1] = await freePort();
    kam = await startKamailio({ b2buaPort: ports[0], defines: { NATPING_INTERVAL: 0 } });
    const env = (sipPort: number) => ({
      DZVIN_CHILD_DB: db.url,
      DZVIN_CHILD_DOMAIN: DOMAIN,
      DZVIN_CHILD_API_KEY: API_KEY,
      DZVIN_CHILD_SIP_PORT: String(sipPort),
      DZVIN_CHILD_EDGE_PORT: String(kam.edgePort),
      DZVIN_CHILD_RPC_URL: kam.rpcUrl,
      // No call is placed: rtpengine is never asked anything.
      DZVIN_CHILD_NG_PORT: '9',
      DZVIN_CHILD_SYNC_MS: '1000',
    });
    // One after the other: the first migrates and seeds the account.
    children.push(await startChild(env(ports[0])));
    children.push(await startChild(env(ports[1])));
  });
  after(async () => {
    for (const c of children)
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await registrar?.close();
    await kam?.stop();
    await db?.drop();
  });

  test('registered by exactly one process (one Call-ID, refreshed), both processes answer its state; SIGKILL of the owner: the other registers it (a new flow) and answers so', async () => {
    const [a, b] = children;
    const created = await admin(a, 'POST', '/trunks', {
      number: TRUNK,
      name: 'Cluster carrier',
      destination: null,
      isDefault: false,
      sipCarrier: {
        host: '127.0.0.1',
        port: registrar.port,
        username: USER,
        password: SECRET,
        register: true,
      },
    });
    assert.equal(created.status, 201, created.text);
    const trunkId = (created.json() as Json).id;
    const state = async (c: Child) =>
      ((await admin(c, 'GET', `/trunks/${trunkId}`)).json() as Json).sipCarrier.registration;

    const accepted = () => registrar.seen.filter((r) => r.authorized);
    await until(() => accepted().length >= 1, 'the carrier to accept a REGISTER', 20_000);
    const flow = accepted()[0].callId;
    // Refreshed (2 s granted, at 80%) several times while both processes claim every second.
    await until(() => accepted().length >= 4, 'three refreshes', 20_000);
    const flows = new Set(registrar.seen.map((r) => r.callId));
    assert.deepEqual(
      [...flows],
      [flow],
      `one registration flow at the carrier, not one per process: ${[...flows].join(', ')}`,
    );
    assert.match(
      accepted()[0].contact,
      new RegExp(`^<sip:${TRUNK.slice(1)}@127\\.0\\.0\\.1:${kam.sipPort}`),
      "Kamailio's socket",
    );

    // The owner wrote it; either process answers the same.
    const pgc = new pg.Client({ connectionString: db.url });
    await pgc.connect();
    try {
      const ownerOf = async () =>
        (await pgc.query('select node_id from carrier_registrations where trunk_id = $1', [trunkId])).rows[0]
          ?.node_id;
      const ownerId = await ownerOf();
      const owner = children.find((c) => c.nodeId === ownerId);
      assert.ok(owner, `the row names one of the two processes (${ownerId})`);
      const other = owner === a ? b : a;
      const fromOwner = await until(async () => {
        const r = await state(owner);
        return r.state === 'registered' ? r : null;
      }, 'the owner to answer registered');
      const fromOther = await state(other);
      assert.equal(fromOther.state, 'registered', 'the other process answers the same');
      assert.ok(fromOther.expiresAt > Date.now(), 'still valid');
      assert.ok(Math.abs(fromOther.expiresAt - fromOwner.expiresAt) <= 2_500, 'the same registration');

      // The owner dies outright: its database session (and the trunk's lock) goes with it.
      const killedAt = Date.now();
      owner.child.kill('SIGKILL');
      await owner.exited;
      const taken = await until(
        () => registrar.seen.find((r) => r.authorized && r.callId !== flow && r.at > killedAt),
        'the other process to register the trunk',
        20_000,
      );
      await until(async () => (await ownerOf()) === other.nodeId, 'the row to name the survivor', 10_000);
      const after = await until(async () => {
        const r = await state(other);
        return r.state === 'registered' && r.lastAttemptAt >= killedAt ? r : null;
      }, 'the survivor to answer registered');
      assert.ok(after.expiresAt > Date.now());
      // From now on only the survivor's flow reaches the carrier (refreshed, and nothing else).
      const mark = registrar.seen.length;
      await sleep(3_000);
      const later = registrar.seen.slice(mark);
      assert.ok(
        later.some((r) => r.authorized),
        'refreshed by the survivor',
      );
      assert.deepEqual(
        [...new Set(later.map((r) => r.callId))],
        [taken.callId],
        'one flow after the takeover too',
      );
    } finally {
      await pgc.end();
    }
  });
});
