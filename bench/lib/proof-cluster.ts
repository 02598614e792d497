// Plumbing of the proof's load, fault and throughput parts: Dzvin server processes
// (bench/servers/proof-node.ts) over one PostgreSQL, started, SIGKILLed and restarted; direct SQL
// on the cluster from the proof process (a fresh connection per query, so a stopped PostgreSQL
// only fails that query); CPU time of the processes involved, from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type Child, nextMessage, processCpuMs, spawnChild } from './calls-harness.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE_SCRIPT = join(ROOT, 'bench', 'servers', 'proof-node.ts');

/** Environment every Dzvin process of the load and fault parts gets (on top of the proof's own). */
export function nodeEnvironment(databaseUrl: string, dir: string, webhooks: Record<string, string>) {
  return {
    DATABASE_URL: databaseUrl,
    DZVIN_RECORDINGS_DIR: join(dir, 'recordings-load'),
    DZVIN_DEMO: 'false',
    // The receiver is on loopback: local mode lets CRM URLs reach it.
    DZVIN_MODE: 'local',
    DZVIN_SESSION_IDLE_SECONDS: '86400',
    DZVIN_BODY_LIMIT_BYTES: String(5 * 1024 * 1024),
    DZVIN_AUTH_MAX_FAILURES_PER_IP: '1000000',
    DZVIN_AUTH_MAX_FAILURES_PER_DOMAIN: '1000000',
    LOG_LEVEL: 'error',
    ...webhooks,
  };
}

export interface Node {
  name: string;
  child: Child;
  port: number;
  pid: number;
  /** Set when the process ended without the proof asking. */
  died: string | null;
  /** Error lines of Dzvin's log (pino JSON on stdout). */
  errors: string[];
  /** ms from spawn to listening. */
  startMs: number;
  /** The proof asked it to end (SIGKILL or SIGTERM). */
  ending: boolean;
}

/** Starts one Dzvin process (with the environment already in process.env) and waits until it listens. */
export async function startNode(name: string, opts: { nodeFlags?: string[] } = {}): Promise<Node> {
  const t0 = Date.now();
  const errors: string[] = [];
  const child = spawnChild(NODE_SCRIPT, [], {
    cwd: ROOT,
    nodeFlags: opts.nodeFlags,
    onStdout: (line) => {
      if (errors.length < 10_000) errors.push(line);
    },
  });
  type Ready = { port: number; pid: number };
  const ready = await nextMessage(
    child,
    (m): m is Ready => typeof (m as Ready)?.port === 'number',
    90_000,
    `${name} listening`,
  );
  const node: Node = {
    name,
    child,
    port: ready.port,
    pid: ready.pid,
    died: null,
    errors,
    startMs: Date.now() - t0,
    ending: false,
  };
  void child.exited.then(({ code, signal }) => {
    if (!node.ending) node.died = `${name} exited by itself: code ${code}, signal ${signal}`;
  });
  return node;
}

/** SIGKILL, and wait until it is gone. */
export async function killNode(node: Node): Promise<void> {
  node.ending = true;
  node.child.child.kill('SIGKILL');
  await node.child.exited;
}

/** SIGTERM (graceful: in-flight deliveries finish), SIGKILL after `graceMs`; the exit code and how long it took. */
export async function stopNode(node: Node, graceMs = 30_000) {
  node.ending = true;
  const t0 = Date.now();
  await node.child.stop(graceMs);
  const { code, signal } = await node.child.exited;
  return { code, signal, ms: Date.now() - t0 };
}

/** Sends `message` and waits for the reply `accept` takes. */
export async function ask<T>(
  node: Node,
  message: unknown,
  accept: (m: unknown) => m is T,
  timeoutMs = 120_000,
) {
  const reply = nextMessage(
    node.child,
    (m): m is T | { error: string } => accept(m) || typeof (m as { error?: unknown })?.error === 'string',
    timeoutMs,
    `${node.name}'s answer`,
  );
  node.child.child.send(message as object);
  const m = await reply;
  if (typeof (m as { error?: unknown }).error === 'string') throw new Error((m as { error: string }).error);
  return m as T;
}

/** One query on a fresh connection (so a PostgreSQL stopped as a fault costs only this query). */
export async function sqlQuery<R extends pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The postmaster and its children (backends, background workers), from postmaster.pid and /proc. */
export function postgresPids(dataDir: string): number[] {
  let master: number;
  try {
    master = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return [];
  }
  const pids = [master];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === master) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

/** CPU time so far (ms) per pid; a process that ended meanwhile keeps its last reading. */
export function cpuOf(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of pids) {
    const ms = processCpuMs(pid);
    if (ms !== null) m.set(pid, ms);
  }
  return m;
}

/** Summed CPU % (100 = one core) of `pids` between two readings `wallMs` apart. */
export function cpuPercent(before: Map<number, number>, after: Map<number, number>, wallMs: number): number {
  let ms = 0;
  for (const [pid, a] of after) ms += a - (before.get(pid) ?? a);
  // Backends born during the window: count their whole life (it is all inside the window).
  for (const [pid, a] of after) if (!before.has(pid)) ms += a;
  return Math.round((ms / wallMs) * 1000) / 10;
}

export const percentile = (sorted: number[], p: number) =>
  sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
    : null;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
