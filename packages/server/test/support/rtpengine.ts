// A real rtpengine for tests: userspace forwarding only (no kernel module here), in a temp dir, on
// a free NG port and its own RTP port range, as DESIGN.md's telephony notes describe. Stopped by
// its PID (SIGTERM, then SIGKILL after a bound); killed if the test process exits first.
//
// The binary is DZVIN_TEST_RTPENGINE or /usr/bin/rtpengine (Debian's `rtpengine-daemon`). Without
// it the suites skip loudly, unless DZVIN_REQUIRE_ALL=1 makes that a failure (as dialects.ts does
// for PostgreSQL and nginx.test.ts for nginx).
//
// Spawning and readiness are the product's (engine/sip/edge/daemons.ts: DZVIN_SIP=on starts
// rtpengine the same way).
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PortTakenError, SETPRIV, startRtpengineDaemon } from '../../src/engine/sip/edge/daemons.ts';
import { createNgClient, type NgClient } from '../../src/engine/sip/media/ng-client.ts';

const DEFAULT_BIN = '/usr/bin/rtpengine';

export function rtpenginePath(): string | undefined {
  const bin = process.env.DZVIN_TEST_RTPENGINE || DEFAULT_BIN;
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return bin;
  } catch {
    return undefined;
  }
}

/**
 * `skip` for node:test: false when rtpengine can run here, else the reason (said loudly). Under
 * DZVIN_REQUIRE_ALL=1 a missing rtpengine throws instead.
 */
export function rtpengineSkipReason(): false | string {
  let missing: string | undefined;
  if (!rtpenginePath()) {
    missing =
      `rtpengine not found (${process.env.DZVIN_TEST_RTPENGINE || DEFAULT_BIN}); ` +
      'install it with `apt-get install rtpengine-daemon`';
  } else if (process.getuid?.() === 0 && !fs.existsSync(SETPRIV)) {
    missing = `running as root, but ${SETPRIV} (util-linux) is missing to run rtpengine as nobody`;
  }
  if (!missing) return false;
  const reason = `rtpengine tests skipped: ${missing}`;
  if (process.env.DZVIN_REQUIRE_ALL === '1')
    throw new Error(`${reason} — but DZVIN_REQUIRE_ALL=1 requires them`);
  process.stderr.write(`\n!!! ${reason.toUpperCase()}\n\n`);
  return reason;
}

export interface Rtpengine {
  /** rtpengine's NG address is 127.0.0.1:ngPort. */
  ngPort: number;
  /** The RTP ports it allocates from, inclusive. */
  portMin: number;
  portMax: number;
  /** The working directory (readable by the daemon: put media files for `play media` here). */
  dir: string;
  pid: number;
  /** A new NG client of this daemon (the caller closes it). */
  client(options?: { timeoutMs?: number }): NgClient;
  /** What the daemon logged so far. */
  log(): string;
  /** SIGTERM, SIGKILL after a bound; removes the directory. Harmless twice. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** RTP ports to allocate from (default 100, in an even-aligned random range). */
  ports?: number;
  /** rtpengine's --log-level (default 6, info: every NG command and its reply). */
  logLevel?: number;
  /** More command-line options (`--recording-method=pcap`, …). */
  args?: string[];
}

/** Starts rtpengine and resolves once it answers `ping` with `pong`. */
export async function startRtpengine(options: StartOptions = {}): Promise<Rtpengine> {
  const bin = rtpenginePath();
  if (!bin) throw new Error('rtpengine is not installed (see rtpengineSkipReason)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-rtpengine-'));
  // The daemon runs as nobody: it must reach files put here (and may write its own).
  fs.chmodSync(dir, 0o777);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, dir, options);
    } catch (e) {
      // The free port can be taken between probing and binding by another test: try new ports.
      if (attempt >= 3 || !(e instanceof PortTakenError)) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
  }
}

async function startOnce(bin: string, dir: string, options: StartOptions): Promise<Rtpengine> {
  const ngPort = await freeUdpPort();
  const count = options.ports ?? 100;
  // Even-aligned, away from Linux's ephemeral range (32768–60999) where our own sockets land.
  const portMin = 10_000 + 2 * Math.floor(Math.random() * ((32_000 - 10_000 - count) / 2));
  const portMax = portMin + count - 1;
  // As root it drops to nobody as a packaged rtpengine would run (it needs no privileges in
  // userspace mode); two cores shared with the rest of the suite: two threads are plenty.
  const daemon = await startRtpengineDaemon({
    dir,
    bin,
    ng: { address: '127.0.0.1', port: ngPort },
    interface: '127.0.0.1',
    portMin,
    portMax,
    logLevel: options.logLevel ?? 6,
    threads: 2,
    args: options.args,
  });
  return {
    ngPort,
    portMin,
    portMax,
    dir,
    pid: daemon.pid,
    client: (o) => createNgClient({ port: ngPort, timeoutMs: o?.timeoutMs ?? 2000 }),
    log: daemon.log,
    async stop() {
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A UDP port on 127.0.0.1 nobody listens on right now. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
