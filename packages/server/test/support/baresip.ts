// A real softphone for tests: baresip 1.0.0 in its own config dir, driven over ctrl_tcp.
//
// - The phone starts with no account and registers on `register()` (ctrl_tcp `uanew`), so every
//   register event reaches us: an account in the accounts file registers before our control
//   connection is up and its REGISTER_OK would be lost.
// - ctrl_tcp speaks netstrings (`<len>:<json>,`): commands `{command, params, token}`, replies
//   `{response: true, ok, data, token}`, events `{event: true, type, class, param…}`.
// - SIP listens on UDP+TCP `sipPort` and TLS takes sipPort + 1: both must be free, and two
//   phones must be at least 2 ports apart.
// - `-n 127.0.0.1` (an address, not `lo`) or baresip picks another interface for its Contact.
// - SIGTERM waits for un-registration (forever, if the registrar is gone): baresip runs under
//   `timeout -k`, so a signal to `timeout` is passed on and followed by SIGKILL 2 s later, and the
//   phone dies by itself after `lifetimeSec` whatever the test does.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, makeDaemonDir, skipOrFail, spawnUnprivileged, tcpFree } from './kamailio.ts';
import { until } from './wait.ts';
import { toneWav } from './wav.ts';

const BARESIP = '/usr/bin/baresip';
const MODULES = '/usr/lib/baresip/modules';

export function baresipSkipReason(): string | false {
  const missing: string[] = [];
  if (!fs.existsSync(BARESIP)) missing.push(`${BARESIP} (apt-get install baresip-core)`);
  for (const m of ['ctrl_tcp.so', 'aufile.so', 'g711.so', 'menu.so', 'account.so']) {
    if (!fs.existsSync(path.join(MODULES, m))) missing.push(`${MODULES}/${m} (apt-get install baresip-core)`);
  }
  if (spawnSync('timeout', ['--version'], { stdio: 'ignore' }).error) missing.push('timeout (coreutils)');
  return skipOrFail('baresip', missing);
}

/** An event from ctrl_tcp, e.g. `{type: 'REGISTER_OK', class: 'register', param: '200 OK'}`. */
export interface BaresipEvent {
  type: string;
  class?: string;
  accountaor?: string;
  direction?: string;
  peeruri?: string;
  id?: string;
  param?: string;
}

export interface BaresipOptions {
  user: string;
  domain: string;
  password: string;
  /** The registrar / outbound proxy (Kamailio's SIP port on 127.0.0.1). */
  proxyPort: number;
  /** `manual` rings until `accept()`; `auto` answers at once. Default manual. */
  answermode?: 'manual' | 'auto';
  /** Registration interval asked for, seconds (default 600). */
  regint?: number;
  /** The tone the phone sends when in a call (default 440 Hz; the file's end hangs up). */
  toneHz?: number;
  toneSeconds?: number;
  /** The phone quits by itself after this (default 120 s). */
  lifetimeSec?: number;
  /** Dump what the phone hears (and sends) into WAV files in its dir (baresip's sndfile module). */
  dumpAudio?: boolean;
  /** How the phone talks to Kamailio (its account's `;transport=`); default udp. */
  transport?: 'udp' | 'tcp';
}

export interface Baresip {
  aor: string;
  sipPort: number;
  ctrlPort: number;
  dir: string;
  /** The PID of the `timeout` wrapping baresip. */
  pid: number;
  /** Every event so far, oldest first. */
  events: BaresipEvent[];
  /** Runs a ctrl_tcp command (`dial`, `hangup`, `accept`, `reginfo`, `uanew`, `uadel`…). */
  command(name: string, params?: string): Promise<{ ok: boolean; data: string }>;
  /** Creates the UA with this password (default: the configured one); it registers at once. */
  register(password?: string): Promise<void>;
  /** Deletes the UA (un-registering it). */
  unregister(): Promise<void>;
  /** The first event at or after index `from` that matches. */
  waitForEvent(
    match: (e: BaresipEvent) => boolean,
    what: string,
    opts?: { from?: number; ms?: number },
  ): Promise<BaresipEvent>;
  output(): string;
  /**
   * What the phone heard in its calls (decoded), with `dumpAudio`: the samples of each
   * `dump-*-dec.wav` sndfile wrote, newest last (a file is complete once its call has closed).
   */
  heard(): Buffer[];
  /** SIGKILLs baresip itself: the phone vanishes without un-registering (a pulled cable). */
  vanish(): Promise<void>;
  stop(): Promise<void>;
}

/** An 8 kHz, 16-bit mono sine WAV (what baresip's aufile source plays). */
export function writeToneWav(file: string, hz: number, seconds: number): void {
  fs.writeFileSync(file, toneWav(hz, seconds));
}

/** A SIP port whose UDP, TCP and TLS (port + 1) are all free. */
async function freeSipPort(avoid: number[]): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort({ tcp: true, avoid });
    if (p < 65535 && (await tcpFree(p + 1))) return p;
  }
  throw new Error('no free SIP port pair for baresip');
}

/** Ports handed out in this process: two phones never get neighbouring SIP ports. */
const given: number[] = [];

/** Starts a phone; a start that fails on a port taken meanwhile is retried on new ports (twice). */
export async function startBaresip(opts: BaresipOptions): Promise<Baresip> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use|ctrl_tcp/i.test(String(e))) throw e;
    }
  }
}

async function startOnce(opts: BaresipOptions): Promise<Baresip> {
  const dir = makeDaemonDir('dzvin-baresip-');
  const sipPort = await freeSipPort(given);
  given.push(sipPort, sipPort + 1);
  const ctrlPort = await freePort({ tcp: true, avoid: given });
  given.push(ctrlPort);
  const tone = path.join(dir, 'tone.wav');
  writeToneWav(tone, opts.toneHz ?? 440, opts.toneSeconds ?? 30);
  const config = [
    'poll_method epoll',
    `sip_listen 127.0.0.1:${sipPort}`,
    'sip_trans_def udp',
    'call_local_timeout 120',
    'call_max_calls 4',
    `module_path ${MODULES}`,
    'module g711.so',
    'module aufile.so',
    ...(opts.dumpAudio ? ['module sndfile.so', `snd_path ${dir}`] : []),
    'module_app account.so',
    'module_app menu.so',
    'module_app ctrl_tcp.so',
    `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
    `audio_source aufile,${tone}`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'config'), config);
  fs.writeFileSync(path.join(dir, 'accounts'), '');
  for (const f of ['config', 'accounts', 'tone.wav']) fs.chmodSync(path.join(dir, f), 0o644);

  const lifetime = String(opts.lifetimeSec ?? 120);
  const child = spawnUnprivileged(
    'timeout',
    ['-k', '2', lifetime, BARESIP, '-f', dir, '-n', '127.0.0.1'],
    dir,
  );
  let out = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    out += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const events: BaresipEvent[] = [];
  const pending = new Map<string, (r: { ok: boolean; data: string }) => void>();
  let nextToken = 1;
  let sock: net.Socket | undefined;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    sock?.destroy();
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGTERM'); // timeout passes it on, then SIGKILLs after 2 s
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    sock = await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`baresip exited during start-up:\n${out}`);
        return connect(ctrlPort);
      },
      `baresip's ctrl_tcp on ${ctrlPort}`,
      10_000,
    );
  } catch (e) {
    await stop();
    throw e;
  }

  let buf = Buffer.alloc(0);
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const colon = buf.indexOf(':');
      if (colon < 0) return;
      const len = Number(buf.subarray(0, colon).toString('ascii'));
      if (buf.length < colon + 1 + len + 1) return;
      const msg = JSON.parse(buf.subarray(colon + 1, colon + 1 + len).toString('utf8'));
      buf = buf.subarray(colon + 1 + len + 1);
      if (msg.event) events.push(msg as BaresipEvent);
      else if (msg.response) {
        pending.get(String(msg.token))?.({ ok: Boolean(msg.ok), data: String(msg.data ?? '') });
        pending.delete(String(msg.token));
      }
    }
  });

  const command = (name: string, params = '') =>
    new Promise<{ ok: boolean; data: string }>((resolve, reject) => {
      const token = String(nextToken++);
      const timer = setTimeout(() => {
        pending.delete(token);
        reject(new Error(`baresip did not answer ${name} within 5 s`));
      }, 5000);
      pending.set(token, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      const json = JSON.stringify({ command: name, params, token });
      sock!.write(`${Buffer.byteLength(json)}:${json},`);
    });

  const aor = `sip:${opts.user}@${opts.domain}`;
  const transport = opts.transport === 'tcp' ? ';transport=tcp' : '';
  const accountLine = (password: string) =>
    `<${aor}${transport}>;auth_pass=${password};outbound="sip:127.0.0.1:${opts.proxyPort}${transport}";` +
    `regint=${opts.regint ?? 600};answermode=${opts.answermode ?? 'manual'}`;

  return {
    aor,
    sipPort,
    ctrlPort,
    dir,
    pid: child.pid!,
    events,
    command,
    async register(password = opts.password) {
      const r = await command('uanew', accountLine(password));
      if (!r.ok) throw new Error(`uanew failed: ${r.data}`);
    },
    async unregister() {
      await command('uadel', aor);
    },
    async waitForEvent(match, what, { from = 0, ms = 10_000 } = {}) {
      return until(() => events.slice(from).find(match), `${aor}: ${what}`, ms);
    },
    output: () => out,
    heard: () =>
      fs
        .readdirSync(dir)
        .filter((f) => /^dump-.*-dec\.wav$/.test(f))
        .map((f) => ({ f, at: fs.statSync(path.join(dir, f)).mtimeMs }))
        .sort((a, b) => a.at - b.at)
        .map(({ f }) => fs.readFileSync(path.join(dir, f))),
    async vanish() {
      // baresip is the only child of `timeout`; the wrapper exits once it is gone.
      const kids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
      for (const pid of kids.split(/\s+/).filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
      sock?.destroy();
      await exited;
    },
    stop,
  };
}

function connect(port: number): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', () => {
      s.destroy();
      resolve(undefined);
    });
  });
}
