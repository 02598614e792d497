// A real Kamailio running deploy/kamailio/dzvin.cfg for tests: its own temp dir, free ports,
// foreground as `nobody` (the way production runs it), stopped by PID.
//
// Missing binaries skip the suites loudly, unless DZVIN_REQUIRE_ALL=1 makes that a failure (the
// way dialects.ts treats a missing PostgreSQL).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKamailioControl, type KamailioControl } from '../../src/engine/sip/edge/kamailio-control.ts';
import { sleep } from './wait.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const KAMAILIO_CFG = path.join(ROOT, 'deploy/kamailio/dzvin.cfg');
const KAMAILIO = '/usr/sbin/kamailio';
/** Debian's multiarch module dir (Kamailio finds it itself; we only look for modules in it). */
const MODULES =
  fs
    .readdirSync('/usr/lib', { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(`/usr/lib/${d.name}/kamailio/modules`))
    .map((d) => `/usr/lib/${d.name}/kamailio/modules`)[0] ?? '/usr/lib/x86_64-linux-gnu/kamailio/modules';
const READY_MS = 10_000;

/** Processes started here that still run: killed if the test process exits first. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Spawns `cmd` as `nobody` when we are root (setpriv), as ourselves otherwise. */
export function spawnUnprivileged(cmd: string, args: string[], cwd: string): ChildProcess {
  const root = process.getuid?.() === 0;
  const [exe, argv] = root
    ? ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', cmd, ...args]]
    : [cmd, args];
  const child = spawn(exe, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** A temp dir the unprivileged daemon can write to. */
export function makeDaemonDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (process.getuid?.() === 0) {
    const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' });
    const nogroup = spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' });
    fs.chownSync(dir, Number(nobody.stdout.trim()), Number(nogroup.stdout.trim()));
  }
  return dir;
}

/** A port free for UDP (and, with `tcp`, for TCP too) on 127.0.0.1 right now. */
export async function freePort(opts: { tcp?: boolean; avoid?: readonly number[] } = {}): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const sock = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => resolve(sock.address().port));
    });
    sock.close();
    if (opts.avoid?.some((p) => Math.abs(p - port) < 2)) continue;
    if (!opts.tcp || (await tcpFree(port))) return port;
  }
  throw new Error('no free port found');
}

/** Whether a TCP port is free on 127.0.0.1 now. */
export function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
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
  ]) {
    if (!fs.existsSync(path.join(MODULES, mod))) missing.push(`${MODULES}/${mod} (apt-get install ${pkg})`);
  }
  return skipOrFail('Kamailio', missing);
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
  /** Where phones send (UDP, 127.0.0.1). */
  sipPort: number;
  /** Kamailio's socket facing the B2BUA: the B2BUA sends its requests here. */
  edgePort: number;
  /** Where Kamailio relays calls to (the B2BUA stand-in must listen here). */
  b2buaPort: number;
  rpcPort: number;
  rpcUrl: string;
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
  ports?: { sip: number; edge: number; rpc: number };
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
      if (opts.ports || attempt >= 3 || !/Address already in use/.test(String(e))) throw e;
    }
  }
}

async function startOnce(opts: StartKamailioOptions): Promise<Kamailio> {
  const dir = makeDaemonDir('dzvin-kamailio-');
  const sipPort = opts.ports?.sip ?? (await freePort());
  const edgePort = opts.ports?.edge ?? (await freePort({ avoid: [sipPort] }));
  const b2buaPort = opts.b2buaPort ?? (await freePort({ avoid: [sipPort, edgePort] }));
  const rpcPort = opts.ports?.rpc ?? (await freePort({ tcp: true, avoid: [sipPort, edgePort, b2buaPort] }));
  const defines: Record<string, string | number> = {
    SIP_IP: '127.0.0.1',
    SIP_PORT: sipPort,
    EDGE_IP: '127.0.0.1',
    EDGE_PORT: edgePort,
    B2BUA_IP: '127.0.0.1',
    B2BUA_PORT: b2buaPort,
    RPC_IP: '127.0.0.1',
    RPC_PORT: rpcPort,
    ...opts.defines,
  };
  const pidFile = path.join(dir, 'kamailio.pid');
  const args = [
    '-f',
    KAMAILIO_CFG,
    '-DD',
    '-E',
    '-m',
    '32',
    '-M',
    '8',
    '-Y',
    dir,
    '-P',
    pidFile,
    ...Object.entries(defines).flatMap(([k, v]) => ['-A', `${k}=${v}`]),
  ];
  const child = spawnUnprivileged(KAMAILIO, args, dir);
  let out = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    out += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const rpcUrl = `http://127.0.0.1:${rpcPort}/RPC`;
  const control = createKamailioControl({ url: rpcUrl, timeoutMs: 1000 });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // setpriv execs Kamailio, so the child's PID is Kamailio's main process (its pidfile agrees).
    const pid = child.pid;
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGTERM');
      const killer = setTimeout(() => child.exitCode === null && process.kill(pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`Kamailio exited during start-up (${child.exitCode ?? child.signalCode}):\n${out}`);
    }
    if (await control.version().catch(() => undefined)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Kamailio did not answer core.version within ${READY_MS} ms:\n${out}`);
    }
    await sleep(50);
  }

  return {
    sipPort,
    edgePort,
    b2buaPort,
    rpcPort,
    rpcUrl,
    control,
    dir,
    pid: child.pid!,
    log: () => out,
    stop,
  };
}
