// Plumbing of `npm run bench:calls`: child processes that die with the bench, loopback HTTP
// requests for the checks made before any load, and CPU/load figures of the machine from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';

export const log = (line: string) => process.stderr.write(`[bench:calls] ${line}\n`);

export function intEnv(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  return n;
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Children: every one is killed when this process exits, is interrupted or overruns the watchdog.

const children = new Set<ChildProcess>();

function killAll() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Kills every child on exit and on SIGINT/SIGTERM, and ends the whole run after `watchdogMs`. */
export function guardProcess(watchdogMs: number) {
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      log(`${signal}: stopping`);
      killAll();
      process.exit(130);
    });
  setTimeout(() => {
    log(`watchdog: still running after ${Math.round(watchdogMs / 60_000)} min, giving up`);
    killAll();
    process.exit(2);
  }, watchdogMs).unref();
}

export interface Child {
  child: ChildProcess;
  /** Resolves when the child has exited. */
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * `node [flags] --import tsx <script> ...args` with an IPC channel; its stderr is ours, its
 * stdout is handed to `onStdout` line by line (Dzvin's own log, when it has one).
 */
export function spawnChild(
  script: string,
  args: string[],
  opts: { cwd: string; nodeFlags?: string[]; onStdout?: (line: string) => void },
): Child {
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), '--import', 'tsx', script, ...args], {
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  children.add(child);
  const exited = new Promise<{ code: number | null; signal: string | null }>((done) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      done({ code, signal });
    }),
  );
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      opts.onStdout?.(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
    }
  });
  return {
    child,
    exited,
    async stop(graceMs = 30_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** The next IPC message of `child` that `accept` takes; rejects if the child exits first or after `timeoutMs`. */
export function nextMessage<T>(c: Child, accept: (m: unknown) => m is T, timeoutMs: number, what: string) {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!accept(m)) return;
      done();
      resolve(m);
    };
    const onExit = (code: number | null, signal: string | null) => {
      done();
      reject(new Error(`the child exited (code ${code}, signal ${signal}) while waiting for ${what}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no ${what} after ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      c.child.off('message', onMessage);
      c.child.off('exit', onExit);
    };
    c.child.on('message', onMessage);
    c.child.once('exit', onExit);
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP (checks before load; the load itself is autocannon)

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  ms: number;
}

export function request(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Reply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const h: Record<string, string> = { ...headers };
  if (payload !== undefined) {
    h['content-type'] = 'application/json';
    h['content-length'] = String(Buffer.byteLength(payload));
  }
  const t0 = performance.now();
  return new Promise((done, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers: h, agent: false, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          done({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - t0,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Signs in as Phonet clients do; returns the headers every later request carries. */
export async function authorize(port: number, domain: string, apiKey: string) {
  const host = `${domain}:${port}`;
  const auth = await request(port, 'POST', '/rest/security/authorize', { host }, { domain, apiKey });
  const m = /^JSESSIONID=([^;]+)/.exec(String(auth.headers['set-cookie']?.[0] ?? ''));
  check(auth.status === 200 && m, `authorize answers ${auth.status} ${auth.text}`);
  return { host, cookie: `JSESSIONID=${m[1]}` };
}

// ---------------------------------------------------------------------------------------------
// CPU and load of the machine

/** USER_HZ: 100 on every Linux Node supports. */
const CLOCK_TICKS = 100;

/** CPU time (ms, user + system) of a process so far, from /proc; null where there is none. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** Busy CPU time (ms, all cores) of the whole machine so far, from /proc/stat; null off Linux. */
export function machineBusyMs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user + nice + system + irq + softirq + steal) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

export const loadavg1 = () => Math.round(os.loadavg()[0] * 100) / 100;

export function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/** A small deterministic random source (xorshift32), so runs draw the same office and traffic. */
export function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
