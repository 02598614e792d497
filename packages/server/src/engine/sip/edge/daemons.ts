// Kamailio and rtpengine as child processes of ours: `DZVIN_SIP=on` (startManagedSip, below) and
// the tests (test/support/kamailio.ts, rtpengine.ts) start them with these functions — in a
// directory of their own, as `nobody` when we are root (setpriv execs the daemon, so the child's
// PID is the daemon's), in the foreground logging to stderr, ready once Kamailio's JSON-RPC
// answers `core.version` and rtpengine's NG answers `ping`; stopped by that PID (SIGTERM, SIGKILL
// after a bound). Whatever still runs when our process exits is killed.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNgClient } from '../media/ng-client.ts';
import type { Remote } from '../transport.ts';
import { createKamailioControl, type KamailioControl } from './kamailio-control.ts';

export const SETPRIV = '/usr/bin/setpriv';
const READY_MS = 10_000;
const STOP_MS = 5_000;

/** The repository's deploy/kamailio/dzvin.cfg (src/ and dist/ sit at the same depth). */
export const DEFAULT_KAMAILIO_CFG = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../../../deploy/kamailio/dzvin.cfg',
);

/** Startup of the managed SIP parts failed: the message says what is missing and how to fix it. */
export class SipDaemonError extends Error {
  override name = 'SipDaemonError';
}

/** A daemon exited during start-up with a port already taken (the caller may retry elsewhere). */
export class PortTakenError extends Error {}

/** Every daemon started here that still runs: killed if our process exits first. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) {
    c.kill('SIGKILL');
    // A detached daemon's workers are in its own process group.
    if (detachedChildren.has(c)) signalGroup(c.pid, 'SIGKILL');
  }
});
const detachedChildren = new WeakSet<ChildProcess>();

const asRoot = () => process.getuid?.() === 0;

/**
 * Spawns `cmd` as `nobody` when we are root (setpriv), as ourselves otherwise. `detached` puts it
 * in its own process group: a Ctrl-C at the terminal then reaches only us, and we stop it in order.
 */
export function spawnUnprivileged(
  cmd: string,
  args: string[],
  cwd: string,
  opts: { detached?: boolean } = {},
): ChildProcess {
  const [exe, argv] = asRoot()
    ? [SETPRIV, ['--reuid=nobody', '--regid=nogroup', '--clear-groups', cmd, ...args]]
    : [cmd, args];
  const child = spawn(exe, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached });
  running.add(child);
  if (opts.detached) detachedChildren.add(child);
  child.once('exit', () => running.delete(child));
  // A failed spawn (ENOENT) also ends in 'exit'; without a listener it would throw.
  child.once('error', () => {});
  return child;
}

/** Makes `dir` (and its parents) exist, owned by `nobody` when we are root (the daemon writes there). */
export function prepareDaemonDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  if (asRoot()) {
    const uid = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' });
    fs.chownSync(dir, Number(uid.stdout.trim()), Number(gid.stdout.trim()));
  }
  return dir;
}

/** Where `name` is on `PATH` (an absolute or relative path is taken as is), or undefined. */
export function findExecutable(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : envPath
        .split(':')
        .filter(Boolean)
        .map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return path.resolve(c);
    } catch {}
  }
  return undefined;
}

/** A port free for UDP (and, with `tcp`, for TCP too) on `host` right now, not next to `avoid`. */
export async function freePort(
  opts: { tcp?: boolean; avoid?: readonly number[]; host?: string } = {},
): Promise<number> {
  const host = opts.host ?? '127.0.0.1';
  for (let i = 0; i < 50; i++) {
    const sock = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, host, () => resolve(sock.address().port));
    });
    await new Promise<void>((resolve) => sock.close(() => resolve()));
    if (opts.avoid?.some((p) => Math.abs(p - port) < 2)) continue;
    if (!opts.tcp || (await tcpFree(port, host))) return port;
  }
  throw new Error('no free port found');
}

/** Whether a TCP port is free on `host` now. */
export function tcpFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** A started daemon. */
export interface Daemon {
  pid: number;
  /** stdout + stderr so far. */
  log(): string;
  /** Whether it still runs. */
  alive(): boolean;
  /** Resolves when it has exited (by itself or stopped). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Called once if it exits without stop() having been called (a crash). */
  onCrash(cb: (exit: { code: number | null; signal: NodeJS.Signals | null }) => void): void;
  /** SIGTERM by PID, SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
}

/** Signals the process group `pid` leads (a detached daemon's); false when none is left. */
function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Watches a spawned daemon. With `group` (spawned detached: it leads its own process group), what
 * is left of the group when the main process exits — Kamailio's workers outlive a killed main
 * process, holding its ports — is killed too.
 */
function supervise(child: ChildProcess, opts: { group?: boolean } = {}, maxLog = 256 * 1024): Daemon {
  let out = '';
  const collect = (c: Buffer) => {
    out += c.toString('utf8');
    // A long-running daemon logs forever: keep the tail.
    if (out.length > maxLog) out = out.slice(-maxLog / 2);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.once('error', (e) => {
    out += `\nspawn failed: ${e.message}`;
  });
  let stopping = false;
  let crash: ((exit: { code: number | null; signal: NodeJS.Signals | null }) => void) | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      if (opts.group) signalGroup(child.pid, 'SIGKILL');
      resolve({ code, signal });
      if (!stopping) crash?.({ code, signal });
    }),
  );
  const alive = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  return {
    pid: child.pid ?? -1,
    log: () => out,
    alive,
    exited,
    onCrash(cb) {
      crash = cb;
    },
    async stop() {
      if (stopping) {
        await exited;
        return;
      }
      stopping = true;
      if (!alive()) return;
      const pid = child.pid!;
      process.kill(pid, 'SIGTERM');
      const killer = setTimeout(() => {
        if (alive()) process.kill(pid, 'SIGKILL');
      }, STOP_MS);
      await exited;
      clearTimeout(killer);
    },
  };
}

const lastLines = (text: string, n = 15) => text.trimEnd().split('\n').slice(-n).join('\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface KamailioDaemonOptions {
  /** Its working directory (-Y, pid file); it must exist and be writable by the daemon. */
  dir: string;
  bin?: string;
  cfg?: string;
  /** -A NAME=VALUE defines of dzvin.cfg (SIP_IP, SIP_PORT, EDGE_PORT, B2BUA_PORT, RPC_PORT…). */
  defines: Record<string, string | number>;
  /** Its JSON-RPC URL, polled for readiness. */
  rpcUrl: string;
  /** Its own process group (spawnUnprivileged). */
  detached?: boolean;
  /** Shared memory in MB (-m). Default KAMAILIO_SHM_MB. */
  sharedMemoryMb?: number;
}

/**
 * Kamailio's shared memory (-m, MB): the transactions, dialogs and registrations of every
 * process live there. 32 MB ran out at about 200 new calls/s held 1 s (bench:sip: max_used 32 MB,
 * then `500 No error (2/SL)`); 128 MB is Kamailio's usual production size. Pages are only resident
 * once used (an idle Kamailio stays at a few MB).
 */
export const KAMAILIO_SHM_MB = 128;

export interface KamailioDaemon extends Daemon {
  control: KamailioControl;
}

/**
 * Starts Kamailio on deploy/kamailio/dzvin.cfg and resolves once its JSON-RPC answers
 * `core.version`. Exiting during start-up rejects (PortTakenError when a port was taken).
 */
export async function startKamailioDaemon(opts: KamailioDaemonOptions): Promise<KamailioDaemon> {
  const bin = opts.bin ?? '/usr/sbin/kamailio';
  const args = [
    '-f',
    opts.cfg ?? DEFAULT_KAMAILIO_CFG,
    '-DD',
    '-E',
    '-m',
    String(opts.sharedMemoryMb ?? KAMAILIO_SHM_MB),
    '-M',
    '8',
    '-Y',
    opts.dir,
    '-P',
    path.join(opts.dir, 'kamailio.pid'),
    ...Object.entries(opts.defines).flatMap(([k, v]) => ['-A', `${k}=${v}`]),
  ];
  const d = supervise(spawnUnprivileged(bin, args, opts.dir, { detached: opts.detached }), {
    group: opts.detached,
  });
  const control = createKamailioControl({ url: opts.rpcUrl, timeoutMs: 1000 });
  const deadline = Date.now() + READY_MS;
  for (;;) {
    if (!d.alive()) {
      const { code, signal } = await d.exited;
      const why = `Kamailio exited during start-up (${code ?? signal}):\n${d.log()}`;
      throw /Address already in use/.test(d.log()) ? new PortTakenError(why) : new Error(why);
    }
    if (await control.version().catch(() => undefined)) break;
    if (Date.now() > deadline) {
      await d.stop();
      throw new Error(`Kamailio did not answer core.version within ${READY_MS} ms:\n${d.log()}`);
    }
    await sleep(50);
  }
  return Object.assign(d, { control });
}

export interface RtpengineDaemonOptions {
  dir: string;
  bin?: string;
  /** Its NG socket (`--listen-ng`). */
  ng: Remote;
  /** The address RTP is relayed on (`--interface`). */
  interface: string;
  portMin: number;
  portMax: number;
  logLevel?: number;
  threads?: number;
  /** More command-line options (`--recording-method=pcap`, …). */
  args?: string[];
  detached?: boolean;
}

/**
 * Starts rtpengine in userspace (`--table=-1`) and resolves once it answers `ping`. Exiting during
 * start-up rejects (PortTakenError when its NG port was taken).
 */
export async function startRtpengineDaemon(opts: RtpengineDaemonOptions): Promise<Daemon> {
  const args = [
    '--config-file=none',
    '--table=-1',
    `--interface=${opts.interface}`,
    `--listen-ng=${opts.ng.address}:${opts.ng.port}`,
    `--port-min=${opts.portMin}`,
    `--port-max=${opts.portMax}`,
    '--foreground',
    '--log-stderr',
    `--log-level=${opts.logLevel ?? 6}`,
    '--delete-delay=0',
    `--num-threads=${opts.threads ?? 2}`,
    ...(opts.args ?? []),
  ];
  const d = supervise(
    spawnUnprivileged(opts.bin ?? '/usr/bin/rtpengine', args, opts.dir, { detached: opts.detached }),
    { group: opts.detached },
  );
  const probe = createNgClient({
    host: opts.ng.address,
    port: opts.ng.port,
    timeoutMs: 200,
    retransmitMs: 100,
  });
  try {
    const deadline = Date.now() + READY_MS;
    for (;;) {
      if (!d.alive()) {
        const { code, signal } = await d.exited;
        const why = `rtpengine exited before answering ping (${code ?? signal}):\n${d.log()}`;
        throw /already in use|failed to open/i.test(d.log()) ? new PortTakenError(why) : new Error(why);
      }
      if (
        await probe.ping().then(
          () => true,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline)
        throw new Error(`rtpengine did not answer ping within ${READY_MS} ms:\n${d.log()}`);
    }
  } catch (e) {
    await d.stop();
    throw e;
  } finally {
    await probe.close();
  }
  return d;
}

// ---- DZVIN_SIP=on ----

/** PIDs of the processes whose command line contains `text` (Linux /proc), other than ours. */
export function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (
        fs
          .readFileSync(`/proc/${entry}/cmdline`, 'utf8')
          .split('\0')
          .some((a) => a.includes(text))
      )
        pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

/**
 * Makes `dir/dzvin.pid` name us. Another running Dzvin named there owns the dir (and its
 * daemons): refused. A dead one's daemons are stale and stopped by the caller.
 */
function claimDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'dzvin.pid');
  const other = Number(fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : NaN);
  if (Number.isInteger(other) && other > 0 && other !== process.pid) {
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${other}/cmdline`, 'utf8');
    } catch {}
    if (/node|dzvin/.test(cmdline))
      throw new SipDaemonError(
        `DZVIN_SIP=on: ${dir} is in use by another Dzvin (pid ${other}, its Kamailio and rtpengine run there): stop it, or give this one its own DZVIN_SIP_DIR and ports`,
      );
  }
  fs.writeFileSync(file, `${process.pid}\n`);
}

/** Stops (SIGTERM, SIGKILL after 5 s) every process whose command line names one of `markers`. */
async function stopStale(markers: string[]): Promise<void> {
  const find = () => markers.flatMap(processesMentioning);
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of find())
      try {
        process.kill(pid, sig);
      } catch {}
  };
  if (find().length === 0) return;
  signal('SIGTERM');
  const deadline = Date.now() + STOP_MS;
  while (find().length && Date.now() < deadline) await sleep(50);
  signal('SIGKILL');
  while (find().length && Date.now() < deadline + 1000) await sleep(50);
}

/** `DZVIN_SIP=on` (config.ts): where Dzvin runs its own Kamailio and rtpengine. */
export interface ManagedSipConfig {
  /** Their working directory (DZVIN_SIP_DIR, default ./data/sip): kamailio/ and rtpengine/ in it. */
  dir: string;
  /** The address phones reach Kamailio and rtpengine on (DZVIN_SIP_IP, default 127.0.0.1). */
  ip: string;
  /** Between the B2BUA and Kamailio (DZVIN_SIP_TRANSPORT; default udp). Phones may use UDP or TCP either way. */
  transport?: 'udp' | 'tcp';
  /** Ports; 0 = a free one picked at start. */
  sipPort: number;
  edgePort: number;
  b2buaPort: number;
  rpcPort: number;
  ngPort: number;
  /**
   * DZVIN_SIP_WS_PORT: browsers' SIP over WebSocket on SIP_IP (dzvin.cfg's WITH_WEBSOCKET, package
   * kamailio-websocket-modules); absent: none.
   */
  wsPort?: number;
  /**
   * With wsPort only. DZVIN_SIP_WS_PROXY: the reverse proxy's (nginx's) IPv4 address as Kamailio
   * sees it; a handshake from there must carry X-Real-IP, which becomes the connection's client
   * (dzvin-websocket.cfg's WS_PROXY). Absent: every handshake is its own client.
   */
  wsProxy?: string;
  /**
   * With wsPort only. DZVIN_SIP_WS_ORIGIN: the console's origin (`https://host[:port]`); a handshake
   * with another Origin gets 403 (WS_ORIGIN). Absent: any Origin.
   */
  wsOrigin?: string;
  rtpPorts: { min: number; max: number };
  /** Executables (DZVIN_KAMAILIO_BIN, DZVIN_RTPENGINE_BIN): names looked up on PATH, or paths. */
  kamailioBin: string;
  rtpengineBin: string;
  /** DZVIN_KAMAILIO_CFG, default the repository's deploy/kamailio/dzvin.cfg. */
  kamailioCfg: string;
}

export interface ManagedSip {
  /** What the SIP engine is given. */
  sip: { listen: Remote; edge: Remote; rtpengine: Remote; kamailioRpcUrl: string; transport: 'udp' | 'tcp' };
  /** Where phones register (UDP and TCP). */
  phones: Remote;
  /** Where browsers connect (ws://address:port/), with DZVIN_SIP_WS_PORT. */
  browsers?: Remote;
  rtpPorts: { min: number; max: number };
  kamailio: KamailioDaemon;
  rtpengine: Daemon;
  /** Gives up the working directory (after both daemons stopped). */
  release(): void;
}

const PACKAGES = { kamailio: 'kamailio', rtpengine: 'rtpengine-daemon' } as const;

/** What is missing to run the managed SIP parts, as sentences naming the packages; [] when nothing. */
export function missingSipParts(c: Pick<ManagedSipConfig, 'kamailioBin' | 'rtpengineBin' | 'kamailioCfg'>): {
  problems: string[];
  packages: string[];
} {
  const problems: string[] = [];
  const packages: string[] = [];
  for (const [what, bin, sbin] of [
    ['kamailio', c.kamailioBin, '/usr/sbin/kamailio'],
    ['rtpengine', c.rtpengineBin, '/usr/bin/rtpengine'],
  ] as const) {
    if (findExecutable(bin)) continue;
    const pkg = PACKAGES[what];
    const hint =
      !bin.includes('/') && fs.existsSync(sbin)
        ? ` (it is installed as ${sbin}: add ${path.dirname(sbin)} to PATH or set DZVIN_${what.toUpperCase()}_BIN=${sbin})`
        : '';
    problems.push(`${bin.includes('/') ? bin : `'${bin}' on PATH`} not found — package ${pkg}${hint}`);
    if (!hint) packages.push(pkg);
  }
  if (asRoot() && !findExecutable(SETPRIV))
    problems.push(`running as root, but ${SETPRIV} (package util-linux) is missing to run them as nobody`);
  if (!fs.existsSync(c.kamailioCfg))
    problems.push(
      `Kamailio's configuration ${c.kamailioCfg} not found (set DZVIN_KAMAILIO_CFG to deploy/kamailio/dzvin.cfg)`,
    );
  return { problems, packages };
}

/**
 * `DZVIN_SIP=on`: checks what is installed, starts rtpengine then Kamailio in `config.dir` on the
 * configured ports (free ones for 0) and returns where they are. Throws SipDaemonError, naming
 * the missing packages, when they cannot run; whatever it started is stopped again. The caller
 * stops them after the SIP engine: Kamailio first, then rtpengine.
 */
export async function startManagedSip(config: ManagedSipConfig): Promise<ManagedSip> {
  const { problems, packages } = missingSipParts(config);
  if (problems.length)
    throw new SipDaemonError(
      `DZVIN_SIP=on starts Kamailio and rtpengine itself, but: ${problems.join('; ')}.` +
        (packages.length
          ? ` Install with: sudo apt-get install ${packages.includes('kamailio') ? 'kamailio kamailio-extra-modules kamailio-json-modules ' : ''}${packages.includes('rtpengine-daemon') ? 'rtpengine-daemon' : ''}`.trimEnd() +
            '.'
          : '') +
        ' Or run with DZVIN_SIP=off (every phone simulated) or DZVIN_SIP=external (daemons you run yourself; docs/sip.md).',
    );
  if (config.wsOrigin !== undefined && !/^https?:\/\/[^"\\\s/]+$/.test(config.wsOrigin))
    throw new SipDaemonError(
      `DZVIN_SIP=on: wsOrigin must be an origin like https://pbx.example.com, got '${config.wsOrigin}'`,
    );
  const kamailioBin = findExecutable(config.kamailioBin)!;
  const rtpengineBin = findExecutable(config.rtpengineBin)!;
  const taken: number[] = [];
  const pick = async (port: number, tcp = false) => {
    const p = port || (await freePort({ tcp, avoid: taken }));
    taken.push(p);
    return p;
  };
  // Kamailio listens on UDP and TCP on its SIP and edge ports; the B2BUA on one of them.
  const sipPort = await pick(config.sipPort, true);
  const edgePort = await pick(config.edgePort, true);
  const b2buaPort = await pick(config.b2buaPort, config.transport === 'tcp');
  const rpcPort = await pick(config.rpcPort, true);
  const ngPort = await pick(config.ngPort);
  const wsPort = config.wsPort === undefined ? undefined : await pick(config.wsPort, true);
  const dir = path.resolve(config.dir);
  const kamDir = path.join(dir, 'kamailio');
  const rtpDir = path.join(dir, 'rtpengine');
  claimDir(dir);
  const kamPidFile = path.join(kamDir, 'kamailio.pid');
  const rtpPidFile = path.join(rtpDir, 'rtpengine.pid');
  // Daemons of a previous Dzvin that was killed outright (SIGKILL: no shutdown) still run in
  // their own process groups, holding the ports: their command lines name these pid files.
  await stopStale([kamPidFile, rtpPidFile]);
  for (const d of [kamDir, rtpDir]) {
    // What a previous run left (a pid file, sockets) is stale: we are their only owner.
    fs.rmSync(d, { recursive: true, force: true });
    prepareDaemonDir(d);
  }
  const fail = (what: string, e: unknown, ports: string): SipDaemonError =>
    new SipDaemonError(
      `DZVIN_SIP=on: ${what} did not start${e instanceof PortTakenError ? ` — a port is already in use (${ports}); choose others (docs/sip.md)` : ''}. Its last log lines:\n${lastLines(e instanceof Error ? e.message : String(e))}`,
    );
  let rtpengine: Daemon;
  try {
    rtpengine = await startRtpengineDaemon({
      dir: rtpDir,
      bin: rtpengineBin,
      ng: { address: '127.0.0.1', port: ngPort },
      interface: config.ip,
      portMin: config.rtpPorts.min,
      portMax: config.rtpPorts.max,
      logLevel: 5,
      args: [`--pidfile=${rtpPidFile}`],
      detached: true,
    });
  } catch (e) {
    throw fail('rtpengine', e, `NG 127.0.0.1:${ngPort}, RTP ${config.rtpPorts.min}-${config.rtpPorts.max}`);
  }
  const rpcUrl = `http://127.0.0.1:${rpcPort}/RPC`;
  let kamailio: KamailioDaemon;
  try {
    kamailio = await startKamailioDaemon({
      dir: kamDir,
      bin: kamailioBin,
      cfg: config.kamailioCfg,
      rpcUrl,
      detached: true,
      defines: {
        SIP_IP: config.ip,
        SIP_PORT: sipPort,
        EDGE_IP: '127.0.0.1',
        EDGE_PORT: edgePort,
        B2BUA_IP: '127.0.0.1',
        B2BUA_PORT: b2buaPort,
        B2BUA_TRANSPORT: config.transport ?? 'udp',
        RPC_IP: '127.0.0.1',
        RPC_PORT: rpcPort,
        ...(wsPort === undefined ? {} : { WITH_WEBSOCKET: 1, WS_IP: config.ip, WS_PORT: wsPort }),
        ...(wsPort !== undefined && config.wsProxy ? { WS_PROXY: config.wsProxy } : {}),
        // A string define keeps its quotes (the handshake compares Origin with the literal); an
        // origin (config.ts) has no quote or backslash in it.
        ...(wsPort !== undefined && config.wsOrigin ? { WS_ORIGIN: `"${config.wsOrigin}"` } : {}),
      },
    });
  } catch (e) {
    await rtpengine.stop();
    throw fail(
      'Kamailio',
      e,
      `SIP ${config.ip}:${sipPort}, edge ${edgePort}, B2BUA ${b2buaPort}, JSON-RPC TCP ${rpcPort}${wsPort === undefined ? '' : `, WebSocket ${wsPort} (package kamailio-websocket-modules)`}`,
    );
  }
  return {
    sip: {
      listen: { address: '127.0.0.1', port: b2buaPort },
      edge: { address: '127.0.0.1', port: edgePort },
      rtpengine: { address: '127.0.0.1', port: ngPort },
      kamailioRpcUrl: rpcUrl,
      transport: config.transport ?? 'udp',
    },
    phones: { address: config.ip, port: sipPort },
    ...(wsPort === undefined ? {} : { browsers: { address: config.ip, port: wsPort } }),
    rtpPorts: config.rtpPorts,
    kamailio,
    rtpengine,
    release() {
      const file = path.join(dir, 'dzvin.pid');
      try {
        if (Number(fs.readFileSync(file, 'utf8').trim()) === process.pid) fs.rmSync(file);
      } catch {}
    },
  };
}
