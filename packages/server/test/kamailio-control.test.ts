// The pure parts of Dzvin's Kamailio edge client: what it makes of ul.dump, how snapshots become
// register/unregister events, the digest HA1, and how an unreachable Kamailio surfaces. The live
// behaviour against a real Kamailio is in kamailio.test.ts.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import {
  createKamailioControl,
  parseUlDump,
  type Registration,
} from '../src/engine/sip/edge/kamailio-control.ts';
import { KamailioUnavailableError } from '../src/engine/sip/edge/kamailio-rpc.ts';
import { createRegistrationWatcher, diffRegistrations } from '../src/engine/sip/edge/registration-watcher.ts';
import { digestHa1, sipAor } from '../src/engine/sip/edge/sip-credentials.ts';

/** What Kamailio 5.6.3 answered to ul.dump with one baresip registered (trimmed of nothing). */
const UL_DUMP = {
  Domains: [
    {
      Domain: {
        Domain: 'location',
        Size: 1024,
        AoRs: [
          {
            Info: {
              AoR: '101@acme.test',
              HashID: 3493898541,
              Contacts: [
                {
                  Contact: {
                    Address: 'sip:101-0x5597df90aa70@127.0.0.1:6010',
                    Expires: 596,
                    Q: -1,
                    'Call-ID': 'c799b6b0e1ef89fb',
                    CSeq: 32301,
                    'User-Agent': 'baresip v1.0.0 (x86_64/linux)',
                    Received: '[not set]',
                    Path: '[not set]',
                    State: 'CS_NEW',
                    Flags: 0,
                    CFlags: 128,
                    Socket: 'udp:127.0.0.1:5990',
                    Methods: 5087,
                    Ruid: 'uloc-6b102054-5094-4',
                    Instance: '[not set]',
                    'Reg-Id': 0,
                    'Server-Id': 0,
                    'Tcpconn-Id': -1,
                    Keepalive: 0,
                    'Last-Keepalive': 1796218982,
                    'KA-Roundtrip': 0,
                    'Last-Modified': 1796218982,
                  },
                },
              ],
            },
          },
        ],
        Stats: { Records: 1, 'Max-Slots': 1 },
      },
    },
  ],
};

const reg = (aor: string, ruid: string, contact = `sip:${aor}`): Registration => ({
  aor,
  contact,
  expires: 600,
  userAgent: 'ua',
  socket: 'udp:127.0.0.1:5060',
  callId: ruid,
  cseq: 1,
  ruid,
});

test('ul.dump becomes one typed registration per contact, "[not set]" fields left out', () => {
  assert.deepEqual(parseUlDump(UL_DUMP), [
    {
      aor: '101@acme.test',
      contact: 'sip:101-0x5597df90aa70@127.0.0.1:6010',
      expires: 596,
      userAgent: 'baresip v1.0.0 (x86_64/linux)',
      socket: 'udp:127.0.0.1:5990',
      callId: 'c799b6b0e1ef89fb',
      cseq: 32301,
      ruid: 'uloc-6b102054-5094-4',
    },
  ]);
});

test('an empty location table, and shapes Kamailio never sent, give no registrations', () => {
  assert.deepEqual(parseUlDump({ Domains: [{ Domain: { Domain: 'location', AoRs: [] } }] }), []);
  assert.deepEqual(parseUlDump(null), []);
  assert.deepEqual(parseUlDump({ Domains: [{}] }), []);
  assert.deepEqual(parseUlDump({ Domains: [{ Domain: { AoRs: [{ Info: { AoR: 'x@y' } }] } }] }), []);
});

test('a NATed contact keeps its received address; permanent and expired contacts map to ∞ and 0', () => {
  const dump = (Expires: unknown, Received: string) => ({
    Domains: [
      {
        Domain: {
          AoRs: [
            {
              Info: { AoR: 'a@b', Contacts: [{ Contact: { Address: 'sip:a@10.0.0.2', Expires, Received } }] },
            },
          ],
        },
      },
    ],
  });
  assert.equal(parseUlDump(dump(30, 'sip:203.0.113.9:41234'))[0].received, 'sip:203.0.113.9:41234');
  assert.equal(parseUlDump(dump('permanent', '[not set]'))[0].expires, Number.POSITIVE_INFINITY);
  assert.equal(parseUlDump(dump('expired', '[not set]'))[0].expires, 0);
});

test('snapshots diff into registered / unregistered; a refresh of the same binding is no event', () => {
  const a1 = reg('101@acme.test', 'r1');
  const b1 = reg('102@acme.test', 'r2');
  const a1refreshed = { ...a1, expires: 300, cseq: 2 };
  const a2 = reg('101@acme.test', 'r3', 'sip:101@127.0.0.1:7000'); // a second phone of 101
  assert.deepEqual(diffRegistrations([], [a1]), [{ type: 'registered', registration: a1 }]);
  assert.deepEqual(diffRegistrations([a1, b1], [a1refreshed, b1]), []);
  assert.deepEqual(diffRegistrations([a1, b1], [a1refreshed, a2]), [
    { type: 'unregistered', registration: b1 },
    { type: 'registered', registration: a2 },
  ]);
});

test("the digest HA1 is RFC 2617's MD5(user:realm:password), realm = the account's domain", () => {
  // RFC 2617 §3.5's example user and realm (its HA1 is not printed there; this is MD5 of that line).
  assert.equal(
    digestHa1({ ext: 'Mufasa', domain: 'testrealm@host.com' }, 'Circle Of Life'),
    '939e7578ed9e3c518a452acee763bce9',
  );
  assert.equal(
    digestHa1({ ext: '101', domain: 'ACME.test' }, 'pw'),
    digestHa1({ ext: '101', domain: 'acme.test' }, 'pw'),
  );
  assert.equal(sipAor({ ext: '101', domain: 'Acme.Test' }), '101@acme.test');
});

test('an HA1 that is not 32 hex digits is refused before anything is sent', async () => {
  const control = createKamailioControl({ url: 'http://127.0.0.1:9/RPC' });
  await assert.rejects(
    control.setCredential({ ext: '101', domain: 'acme.test' }, 'plain-password'),
    /32 lower-case hex/,
  );
});

test('a Kamailio that is not there is a KamailioUnavailableError, and the watcher says so once', async () => {
  // A port nobody listens on: bind one, note it, close it.
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const rpc = { url: `http://127.0.0.1:${port}/RPC`, timeoutMs: 500 };
  const control = createKamailioControl(rpc);
  await assert.rejects(control.version(), KamailioUnavailableError);

  const events: string[] = [];
  const watcher = createRegistrationWatcher({ kamailio: rpc, onEvent: (e) => events.push(e.type) });
  await watcher.poll();
  await watcher.poll();
  assert.deepEqual(events, ['unavailable']);
  assert.deepEqual(watcher.current(), []);
});

test('a Kamailio that accepts the connection but never answers times out', async () => {
  const sockets: net.Socket[] = [];
  const srv = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  try {
    const { port } = srv.address() as net.AddressInfo;
    const control = createKamailioControl({ url: `http://127.0.0.1:${port}/RPC`, timeoutMs: 200 });
    const started = Date.now();
    await assert.rejects(control.registrations(), KamailioUnavailableError);
    assert.ok(Date.now() - started < 2000);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => srv.close(resolve));
  }
});
