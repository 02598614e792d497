// The SIP test office's daemons: rtpengine and Kamailio on free loopback ports, and a Dzvin on
// SQLite whose SIP engine uses them (its B2BUA on the port Kamailio relays to). Stopped in the
// reverse order: Dzvin (its last BYEs still reach Kamailio), then Kamailio, then rtpengine.
import { startServer, type TestServer } from './harness.ts';
import { freePort, type Kamailio, startKamailio } from './kamailio.ts';
import { type Rtpengine, startRtpengine } from './rtpengine.ts';
import { until } from './wait.ts';

export interface SipStack {
  rtp: Rtpengine;
  kam: Kamailio;
  server: TestServer;
  stop(): Promise<void>;
}

export interface SipStackOptions {
  /** Extra -A defines for Kamailio over dzvin.cfg's (e.g. `{ NATPING_INTERVAL: 600 }`). */
  kamailioDefines?: Record<string, string | number>;
  /** The SIP engine's media timeout (a vanished phone's call ends after it); default the engine's. */
  mediaTimeoutMs?: number;
  /** Between Dzvin's B2BUA and Kamailio (the engine's `transport` and dzvin.cfg's B2BUA_TRANSPORT); default udp. */
  transport?: 'udp' | 'tcp';
  /** How often the engine reads the trunks that register by itself (default the engine's, 15 s). */
  carrierSyncMs?: number;
  /** SIP over WebSocket for browsers (Kamailio's WITH_WEBSOCKET); Dzvin's DZVIN_SIP_WS_URL points at it. */
  websocket?: boolean;
}

export async function startSipStack(opts: SipStackOptions = {}): Promise<SipStack> {
  const rtp = await startRtpengine();
  const transport = opts.transport ?? 'udp';
  const b2buaPort = await freePort({ tcp: transport === 'tcp' });
  const kam = await startKamailio({
    b2buaPort,
    websocket: opts.websocket,
    defines: { ...(transport === 'tcp' ? { B2BUA_TRANSPORT: 'tcp' } : {}), ...opts.kamailioDefines },
  });
  const server = await startServer('sqlite', {
    config: {
      sip: {
        listen: { address: '127.0.0.1', port: b2buaPort },
        edge: { address: '127.0.0.1', port: kam.edgePort },
        rtpengine: { address: '127.0.0.1', port: rtp.ngPort },
        kamailioRpcUrl: kam.rpcUrl,
        pollMs: 200,
        mediaTimeoutMs: opts.mediaTimeoutMs,
        carrierSyncMs: opts.carrierSyncMs,
        ...(opts.transport ? { transport: opts.transport } : {}),
      },
      // The console's browser phone registers here (GET /api/v1/me).
      ...(kam.wsPort ? { sipWsUrl: `ws://127.0.0.1:${kam.wsPort}/` } : {}),
    },
  });
  const stack: SipStack = {
    rtp,
    kam,
    server,
    async stop() {
      await server.close();
      // A test may have started Kamailio again (stack.kam replaced): the one running now stops.
      await stack.kam.stop();
      await rtp.stop();
    },
  };
  return stack;
}

/** Waits until Dzvin sees `ext` of the account registered (or, with `registered` false, gone). */
export async function untilRegistered(server: TestServer, accountId: number, ext: string, registered = true) {
  await until(
    async () => {
      await server.built.sip?.refresh();
      return server.built.sip?.registered().includes(`${accountId}:${ext}`) === registered;
    },
    `Dzvin to see ${ext} ${registered ? 'registered' : 'unregistered'}`,
    15_000,
  );
}
