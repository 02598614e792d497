// Running SIPp (Debian's `sip-tester`) from tests: where it is, why its tests are skipped, and one
// bounded foreground run per scenario in a temp directory, stopped by PID if it overstays.
//
// Without sipp the SIP interop tests skip loudly, unless DZVIN_REQUIRE_ALL=1 makes that a failure
// (as nginx.test.ts does for nginx). DZVIN_TEST_SIPP points at another binary.
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const DEFAULT_SIPP = '/usr/bin/sipp';

export function sippPath(): string | undefined {
  const env = process.env.DZVIN_TEST_SIPP;
  if (env && fs.existsSync(env)) return env;
  return fs.existsSync(DEFAULT_SIPP) ? DEFAULT_SIPP : undefined;
}

/** `skip` for node:test; throws under DZVIN_REQUIRE_ALL=1 when SIPp is missing. */
export function sippSkipReason(): false | string {
  if (sippPath()) return false;
  const reason = `SIP interop tests skipped: sipp not found (${process.env.DZVIN_TEST_SIPP ?? DEFAULT_SIPP}); install it with \`apt-get install sip-tester\``;
  if (process.env.DZVIN_REQUIRE_ALL === '1')
    throw new Error(`${reason} — but DZVIN_REQUIRE_ALL=1 requires them`);
  process.stderr.write(`\n!!! ${reason.toUpperCase()}\n\n`);
  return reason;
}

/** A UDP port free on 127.0.0.1 right now (the OS picks it; we release it for the peer to bind). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Every SIPp this process started and that still runs: killed if the test process exits first. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export interface SippRun {
  port: number;
  /** Resolves when SIPp exits: its code (0 = every call succeeded) and what it printed. */
  done: Promise<{ code: number | null; output: string }>;
  stop(): void;
}

export interface SippOptions {
  /** A built-in scenario (`uac`, `uas`) or the XML text of our own. */
  scenario: { builtin: string } | { xml: string };
  /** `host:port` to call, for client scenarios. */
  remote?: string;
  extraArgs?: string[];
  /** Hard stop by PID, beyond SIPp's own -timeout. */
  killAfterMs?: number;
  /** SIPp's own UDP port (default: a free one). */
  port?: number;
  /** SIPp's -timeout (default 20s). */
  timeout?: string;
}

/** Starts one SIPp on 127.0.0.1 for one call (-m 1), bounded by -timeout, in a temp dir. */
export async function startSipp(opts: SippOptions): Promise<SippRun> {
  const bin = sippPath();
  if (!bin) throw new Error('sipp not installed');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-sipp-'));
  const port = opts.port ?? (await freeUdpPort());
  let scenario: string[];
  if ('builtin' in opts.scenario) scenario = ['-sn', opts.scenario.builtin];
  else {
    fs.writeFileSync(path.join(dir, 'scenario.xml'), opts.scenario.xml);
    scenario = ['-sf', 'scenario.xml'];
  }
  const args = [
    ...scenario,
    ...(opts.remote ? [opts.remote] : []),
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    '-m',
    '1',
    '-timeout',
    opts.timeout ?? '20s',
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 25_000);
  const done = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(killer);
      running.delete(child);
      for (const f of fs.readdirSync(dir))
        if (f.endsWith('errors.log')) output += fs.readFileSync(path.join(dir, f), 'utf8');
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, output });
    });
  });
  return { port, done, stop: () => child.kill('SIGTERM') };
}
