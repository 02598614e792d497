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

describe('configuration: DZVIN_SIP', () => {
  const EXTERNAL = {
    DZVIN_SIP_LISTEN: '127.0.0.1:5070',
    DZVIN_SIP_EDGE: '127.0.0.1:5062',
    DZVIN_RTPENGINE_NG: '127.0.0.1:2223',
    DZVIN_KAMAILIO_RPC: 'http://127.0.0.1:5071/RPC',
  };

  test('unset or off: every phone simulated; off wins over the external variables', () => {
    for (const env of [{}, { DZVIN_SIP: '' }, { DZVIN_SIP: 'off' }, { DZVIN_SIP: 'OFF', ...EXTERNAL }]) {
      const c = parseConfig(env);
      assert.equal(c.sipMode, 'off', JSON.stringify(env));
      assert.equal(c.sip, undefined);
      assert.equal(c.sipManaged, undefined);
    }
  });

  test('external: the four variables, required; all four set without DZVIN_SIP still means external', () => {
    for (const env of [EXTERNAL, { ...EXTERNAL, DZVIN_SIP: 'external' }]) {
      const c = parseConfig(env);
      assert.equal(c.sipMode, 'external');
      assert.deepEqual(c.sip, {
        listen: { address: '127.0.0.1', port: 5070 },
        edge: { address: '127.0.0.1', port: 5062 },
        rtpengine: { address: '127.0.0.1', port: 2223 },
        kamailioRpcUrl: 'http://127.0.0.1:5071/RPC',
        transport: 'udp',
      });
      assert.equal(c.sipManaged, undefined);
    }
    assert.throws(
      () => parseConfig({ DZVIN_SIP: 'external', DZVIN_SIP_LISTEN: '127.0.0.1:5070' }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(
          e.message,
          /^DZVIN_SIP=external .*missing DZVIN_SIP_EDGE, DZVIN_RTPENGINE_NG, DZVIN_KAMAILIO_RPC/,
        );
        return true;
      },
    );
    assert.throws(() => parseConfig({ DZVIN_SIP: 'external' }), /DZVIN_SIP=external/);
    // Some but not all, without DZVIN_SIP: refused as before.
    assert.throws(() => parseConfig({ DZVIN_SIP_LISTEN: '127.0.0.1:5070' }), /needs all of/);
  });

  test('on: Dzvin starts its own daemons, on 5060 and documented defaults, each port configurable', () => {
    const c = parseConfig({ DZVIN_SIP: 'on' });
    assert.equal(c.sipMode, 'on');
    assert.equal(c.sip, undefined, 'the engine is wired to the daemons at start');
    assert.ok(c.sipManaged);
    const { kamailioCfg, ...rest } = c.sipManaged;
    assert.match(kamailioCfg, /deploy\/kamailio\/dzvin\.cfg$/);
    assert.deepEqual(rest, {
      dir: './data/sip',
      ip: '127.0.0.1',
      transport: 'udp',
      sipPort: 5060,
      edgePort: 5062,
      b2buaPort: 5070,
      rpcPort: 5071,
      ngPort: 2223,
      rtpPorts: { min: 30000, max: 39999 },
      kamailioBin: 'kamailio',
      rtpengineBin: 'rtpengine',
    });
    const custom = parseConfig({
      DZVIN_SIP: ' On ',
      DZVIN_SIP_DIR: '/var/lib/dzvin/sip',
      DZVIN_SIP_IP: '192.168.1.10',
      DZVIN_SIP_PORT: '5080',
      DZVIN_SIP_EDGE_PORT: '0',
      DZVIN_SIP_B2BUA_PORT: '0',
      DZVIN_KAMAILIO_RPC_PORT: '6071',
      DZVIN_RTPENGINE_NG_PORT: '6223',
      DZVIN_RTP_PORTS: '40000-40099',
      DZVIN_KAMAILIO_BIN: '/opt/kamailio/sbin/kamailio',
      DZVIN_RTPENGINE_BIN: 'rtpengine-custom',
      DZVIN_KAMAILIO_CFG: '/etc/dzvin/dzvin.cfg',
      DZVIN_SIP_TRANSPORT: 'TCP',
    }).sipManaged;
    assert.deepEqual(custom, {
      dir: '/var/lib/dzvin/sip',
      ip: '192.168.1.10',
      transport: 'tcp',
      sipPort: 5080,
      edgePort: 0,
      b2buaPort: 0,
      rpcPort: 6071,
      ngPort: 6223,
      rtpPorts: { min: 40000, max: 40099 },
      kamailioBin: '/opt/kamailio/sbin/kamailio',
      rtpengineBin: 'rtpengine-custom',
      kamailioCfg: '/etc/dzvin/dzvin.cfg',
    });
  });

  test('on with DZVIN_SIP_WS_PORT: DZVIN_SIP_WS_PROXY (an IPv4 address) and DZVIN_SIP_WS_ORIGIN (an http(s) origin, as browsers send it) reach the managed Kamailio', () => {
    const on = { DZVIN_SIP: 'on', DZVIN_SIP_WS_PORT: '8088' };
    const plain = parseConfig(on).sipManaged!;
    assert.equal(plain.wsPort, 8088);
    assert.equal('wsProxy' in plain || 'wsOrigin' in plain, false, 'neither unless set');
    const both = parseConfig({
      ...on,
      DZVIN_SIP_WS_PROXY: ' 127.0.0.1 ',
      DZVIN_SIP_WS_ORIGIN: 'https://pbx.example.com',
    }).sipManaged!;
    assert.equal(both.wsProxy, '127.0.0.1');
    assert.equal(both.wsOrigin, 'https://pbx.example.com');
    // What a browser puts in Origin: lower-case host, no default port, no trailing slash.
    for (const [raw, origin] of [
      ['https://PBX.Example.com/', 'https://pbx.example.com'],
      ['https://pbx.example.com:443', 'https://pbx.example.com'],
      ['http://10.0.0.5:8080', 'http://10.0.0.5:8080'],
      ['HTTP://localhost:3000/', 'http://localhost:3000'],
    ])
      assert.equal(parseConfig({ ...on, DZVIN_SIP_WS_ORIGIN: raw }).sipManaged!.wsOrigin, origin, raw);
    // Compared as text with the connection's source address in Kamailio.
    assert.equal(parseConfig({ ...on, DZVIN_SIP_WS_PROXY: '127.000.0.01' }).sipManaged!.wsProxy, '127.0.0.1');
    // DZVIN_SIP_WS_PORT=0 (a free port) is still a WebSocket listener.
    assert.equal(
      parseConfig({ DZVIN_SIP: 'on', DZVIN_SIP_WS_PORT: '0', DZVIN_SIP_WS_PROXY: '10.0.0.2' }).sipManaged!
        .wsProxy,
      '10.0.0.2',
    );
  });

  test('DZVIN_SIP_WS_PROXY / DZVIN_SIP_WS_ORIGIN: bad values, or set without DZVIN_SIP_WS_PORT, are refused naming the variable', () => {
    const on = { DZVIN_SIP: 'on', DZVIN_SIP_WS_PORT: '8088' };
    const bad: Array<[Record<string, string>, RegExp]> = [
      [
        { ...on, DZVIN_SIP_WS_PROXY: 'nginx.local' },
        /^DZVIN_SIP_WS_PROXY must be the IPv4 address .*got 'nginx\.local'/,
      ],
      [{ ...on, DZVIN_SIP_WS_PROXY: '127.0.0.256' }, /^DZVIN_SIP_WS_PROXY must be the IPv4 address/],
      [{ ...on, DZVIN_SIP_WS_PROXY: '0.0.0.0' }, /^DZVIN_SIP_WS_PROXY must be the IPv4 address/],
      [{ ...on, DZVIN_SIP_WS_PROXY: '127.0.0.0/8' }, /^DZVIN_SIP_WS_PROXY must be the IPv4 address/],
      [{ ...on, DZVIN_SIP_WS_PROXY: '::1' }, /^DZVIN_SIP_WS_PROXY must be the IPv4 address/],
      [
        { ...on, DZVIN_SIP_WS_ORIGIN: 'pbx.example.com' },
        /^DZVIN_SIP_WS_ORIGIN must be the console's origin .*got 'pbx\.example\.com'/,
      ],
      [
        { ...on, DZVIN_SIP_WS_ORIGIN: 'wss://pbx.example.com' },
        /^DZVIN_SIP_WS_ORIGIN must be the console's origin/,
      ],
      [{ ...on, DZVIN_SIP_WS_ORIGIN: 'https://pbx.example.com/console' }, /^DZVIN_SIP_WS_ORIGIN must be/],
      [{ ...on, DZVIN_SIP_WS_ORIGIN: 'https://pbx.example.com/?x=1' }, /^DZVIN_SIP_WS_ORIGIN must be/],
      [{ ...on, DZVIN_SIP_WS_ORIGIN: 'https://user@pbx.example.com' }, /^DZVIN_SIP_WS_ORIGIN must be/],
      [{ ...on, DZVIN_SIP_WS_ORIGIN: 'https://pbx".example.com' }, /^DZVIN_SIP_WS_ORIGIN must be/],
      [{ ...on, DZVIN_SIP_WS_ORIGIN: 'https://pbx.example.com:99999' }, /^DZVIN_SIP_WS_ORIGIN must be/],
      [{ ...on, DZVIN_SIP_WS_ORIGIN: '*' }, /^DZVIN_SIP_WS_ORIGIN must be/],
      [
        { DZVIN_SIP: 'on', DZVIN_SIP_WS_PROXY: '127.0.0.1' },
        /^DZVIN_SIP_WS_PROXY is for Kamailio's WebSocket listener: set DZVIN_SIP_WS_PORT too/,
      ],
      [
        { DZVIN_SIP: 'on', DZVIN_SIP_WS_PROXY: '127.0.0.1', DZVIN_SIP_WS_ORIGIN: 'https://pbx.example.com' },
        /^DZVIN_SIP_WS_PROXY and DZVIN_SIP_WS_ORIGIN are for Kamailio's WebSocket listener: set DZVIN_SIP_WS_PORT too/,
      ],
      [
        { ...EXTERNAL, DZVIN_SIP_WS_ORIGIN: 'https://pbx.example.com' },
        /^DZVIN_SIP_WS_ORIGIN is for the Kamailio of DZVIN_SIP=on; with DZVIN_SIP=external start yours with -A WS_PROXY/,
      ],
    ];
    for (const [env, message] of bad)
      assert.throws(
        () => parseConfig(env),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, JSON.stringify(env));
          assert.match(e.message, message, JSON.stringify(env));
          return true;
        },
      );
  });

  test('DZVIN_SIP_TRANSPORT: udp by default, tcp in either mode, anything else refused', () => {
    assert.equal(parseConfig({ ...EXTERNAL, DZVIN_SIP_TRANSPORT: 'tcp' }).sip?.transport, 'tcp');
    assert.equal(parseConfig({ ...EXTERNAL, DZVIN_SIP_TRANSPORT: 'udp' }).sip?.transport, 'udp');
    assert.equal(parseConfig({ DZVIN_SIP: 'on', DZVIN_SIP_TRANSPORT: 'tcp' }).sipManaged?.transport, 'tcp');
    for (const env of [
      { ...EXTERNAL, DZVIN_SIP_TRANSPORT: 'tls' },
      { DZVIN_SIP: 'on', DZVIN_SIP_TRANSPORT: 'sctp' },
    ])
      assert.throws(() => parseConfig(env), /DZVIN_SIP_TRANSPORT must be udp or tcp, got '(tls|sctp)'/);
  });

  test('DZVIN_SIP_MAX_QUEUE_MS: 1000 by default, 0 to 30000 in either mode, anything else refused', () => {
    assert.equal(parseConfig({}).sipMaxQueueMs, 1000);
    assert.equal(parseConfig({ ...EXTERNAL, DZVIN_SIP_MAX_QUEUE_MS: '250' }).sipMaxQueueMs, 250);
    assert.equal(parseConfig({ DZVIN_SIP: 'on', DZVIN_SIP_MAX_QUEUE_MS: '0' }).sipMaxQueueMs, 0);
    for (const raw of ['-1', '30001', '1s', '0.5'])
      assert.throws(
        () => parseConfig({ ...EXTERNAL, DZVIN_SIP_MAX_QUEUE_MS: raw }),
        /DZVIN_SIP_MAX_QUEUE_MS must be an integer from 0 to 30000/,
      );
  });

  test('on: bad values are refused with a message naming the variable', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ DZVIN_SIP: 'yes' }, /^DZVIN_SIP must be off, on or external, got 'yes'/],
      [
        { DZVIN_SIP: 'on', ...EXTERNAL },
        /^DZVIN_SIP=on starts its own Kamailio and rtpengine: unset DZVIN_SIP_LISTEN/,
      ],
      [{ DZVIN_SIP: 'on', DZVIN_SIP_PORT: '70000' }, /^DZVIN_SIP_PORT must be an integer from 0 to 65535/],
      [{ DZVIN_SIP: 'on', DZVIN_SIP_PORT: 'sip' }, /^DZVIN_SIP_PORT must be an integer/],
      [{ DZVIN_SIP: 'on', DZVIN_SIP_IP: '0.0.0.0' }, /^DZVIN_SIP_IP must be the IPv4 address/],
      [{ DZVIN_SIP: 'on', DZVIN_SIP_IP: 'pbx.example' }, /^DZVIN_SIP_IP must be the IPv4 address/],
      [
        { DZVIN_SIP: 'on', DZVIN_SIP_EDGE_PORT: '5060' },
        /^DZVIN_SIP_EDGE_PORT and DZVIN_SIP_PORT must differ/,
      ],
      [{ DZVIN_SIP: 'on', DZVIN_RTP_PORTS: '30000' }, /^DZVIN_RTP_PORTS must be a range like 30000-39999/],
      [{ DZVIN_SIP: 'on', DZVIN_RTP_PORTS: '30010-30000' }, /^DZVIN_RTP_PORTS must be a range/],
      [
        { DZVIN_SIP: 'on', DZVIN_RTP_PORTS: '5000-6000' },
        /^DZVIN_SIP_PORT \(5060\) is inside DZVIN_RTP_PORTS/,
      ],
    ];
    for (const [env, message] of bad)
      assert.throws(
        () => parseConfig(env),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, JSON.stringify(env));
          assert.match(e.message, message, JSON.stringify(env));
          return true;
        },
      );
  });
});
