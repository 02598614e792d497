// A real Kamailio running deploy/kamailio/dzvin.cfg for tests: its own temp dir, free ports,
// foreground as `nobody` (the way production runs it), stopped by PID.
//
// Missing binaries skip the suites loudly, unless DZVIN_REQUIRE_ALL=1 makes that a failure (the
// way dialects.ts treats a missing PostgreSQL).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_KAMAILIO_CFG,
  freePort,
  PortTakenError,
  prepareDaemonDir,
  spawnUnprivileged,
  startKamailioDaemon,
  tcpFree,
} from '../../src/engine/sip/edge/daemons.ts';
import type { KamailioControl } from '../../src/engine/sip/edge/kamailio-control.ts';

// The spawning, ports and readiness are the product's (DZVIN_SIP=on starts Kamailio the same way).
export { freePort, spawnUnprivileged, tcpFree };
export const KAMAILIO_CFG = DEFAULT_KAMAILIO_CFG;
const KAMAILIO = '/usr/sbin/kamailio';
/** Debian's multiarch module dir (Kamailio finds it itself; we only look for modules in it). */
const MODULES =
  fs
    .readdirSync('/usr/lib', { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(`/usr/lib/${d.name}/kamailio/modules`))
    .map((d) => `/usr/lib/${d.name}/kamailio/modules`)[0] ?? '/usr/lib/x86_64-linux-gnu/kamailio/modules';

/** A temp dir the unprivileged daemon can write to. */
export function makeDaemonDir(prefix: string): string {
  return prepareDaemonDir(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

/** Why the Kamailio suites cannot run here, or false. Throws under DZVIN_REQUIRE_ALL=1. */
export function kamailioSkipReason(): string | false {
  const missing: string[] = [];
  if (!fs.existsSync(KAMAILIO)) missing.push(`${KAMAILIO} (apt-get install kamailio)`);
  for (const [mod, pkg] of [
    ['xhttp.so', 'kamailio'],
    ['jsonrpcs.so', 'kamailio'],
    ['pike.so', 'kamailio'],
    ['nathelper.so', 'kamailio'],
    ['htable.so', 'kamailio'],
    ['dispatcher.so', 'kamailio'],
  ]) {
    if (!fs.existsSync(path.join(MODULES, mod))) missing.push(`${MODULES}/${mod} (apt-get install ${pkg})`);
  }
  return skipOrFail('Kamailio', missing);
}

/**
 * Why the SIP-over-WebSocket suites (browser phones, issue 18) cannot run here, or false: the
 * Kamailio ones' reasons plus the websocket module. Throws under DZVIN_REQUIRE_ALL=1.
 */
export function websocketSkipReason(): string | false {
  const base = kamailioSkipReason();
  if (base) return base;
  const missing = fs.existsSync(path.join(MODULES, 'websocket.so'))
    ? []
    : [`${MODULES}/websocket.so (apt-get install kamailio-websocket-modules)`];
  return skipOrFail('Kamailio WebSocket', missing);
}

/** Shared by the Kamailio and baresip helpers: a loud skip, or a failure under REQUIRE_ALL. */
export function skipOrFail(what: string, missing: string[]): string | false {
  if (missing.length === 0) return false;
  const reason = `${what} tests skipped: missing ${missing.join(', ')}`;
  if (process.env.DZVIN_REQUIRE_ALL === '1') {
    throw new Error(`${reason} — but DZVIN_REQUIRE_ALL=1 requires them`);
  }
  process.stderr.write(`\n!!! ${reason.toUpperCase()}\n\n`);
  return reason;
}

export interface Kamailio {
  /** Where phones send (UDP or TCP, 127.0.0.1). */
  sipPort: number;
  /** Kamailio's socket facing the B2BUA: the B2BUA sends its requests here. */
  edgePort: number;
  /** Where Kamailio relays calls to (the B2BUA stand-in must listen here). */
  b2buaPort: number;
  rpcPort: number;
  rpcUrl: string;
  /** With `websocket`: the ws:// listener's port (browsers connect to ws://127.0.0.1:wsPort/). */
  wsPort?: number;
  control: KamailioControl;
  dir: string;
  pid: number;
  /** stdout + stderr so far (Kamailio logs to stderr with -E). */
  log(): string;
  /** SIGTERM by PID, SIGKILL after 5 s; removes the dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartKamailioOptions {
  /** Extra -A defines over dzvin.cfg's (e.g. `{ PIKE_DENSITY: 10 }`). */
  defines?: Record<string, string | number>;
  /** The B2BUA's port; a free one is picked otherwise. */
  b2buaPort?: number;
  /** Kamailio's own ports (to start it again where a stopped one was); free ones otherwise. */
  ports?: { sip: number; edge: number; rpc: number; ws?: number };
  /** SIP over WebSocket on a free port too (dzvin.cfg's WITH_WEBSOCKET, WS_PORT). */
  websocket?: boolean;
}

/**
 * Starts Kamailio on free ports. A free port found here can be taken by another test before
 * Kamailio binds it: a failed start on ports we picked is retried on new ones (twice).
 */
export async function startKamailio(opts: StartKamailioOptions = {}): Promise<Kamailio> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      if (opts.ports || attempt >= 3 || !(e instanceof PortTakenError)) throw e;
    }
  }
}

async function startOnce(opts: StartKamailioOptions): Promise<Kamailio> {
  const dir = makeDaemonDir('dzvin-kamailio-');
  // dzvin.cfg listens on UDP and TCP on both of these.
  const sipPort = opts.ports?.sip ?? (await freePort({ tcp: true }));
  const edgePort = opts.ports?.edge ?? (await freePort({ tcp: true, avoid: [sipPort] }));
  const b2buaPort = opts.b2buaPort ?? (await freePort({ avoid: [sipPort, edgePort] }));
  const rpcPort = opts.ports?.rpc ?? (await freePort({ tcp: true, avoid: [sipPort, edgePort, b2buaPort] }));
  const rpcUrl = `http://127.0.0.1:${rpcPort}/RPC`;
  const wsPort = opts.websocket
    ? (opts.ports?.ws ?? (await freePort({ tcp: true, avoid: [sipPort, edgePort, b2buaPort, rpcPort] })))
    : undefined;
  let daemon: Awaited<ReturnType<typeof startKamailioDaemon>>;
  try {
    daemon = await startKamailioDaemon({
      dir,
      bin: KAMAILIO,
      cfg: KAMAILIO_CFG,
      rpcUrl,
      defines: {
        SIP_IP: '127.0.0.1',
        SIP_PORT: sipPort,
        EDGE_IP: '127.0.0.1',
        EDGE_PORT: edgePort,
        B2BUA_IP: '127.0.0.1',
        B2BUA_PORT: b2buaPort,
        RPC_IP: '127.0.0.1',
        RPC_PORT: rpcPort,
        ...(wsPort ? { WITH_WEBSOCKET: 1, WS_IP: '127.0.0.1', WS_PORT: wsPort } : {}),
        ...opts.defines,
      },
    });
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let stopped = false;
  return {
    sipPort,
    edgePort,
    b2buaPort,
    rpcPort,
    rpcUrl,
    wsPort,
    control: daemon.control,
    dir,
    pid: daemon.pid,
    log: daemon.log,
    async stop() {
      if (stopped) return;
      stopped = true;
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
