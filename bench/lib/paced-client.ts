// The open-loop paced load of `npm run bench:calls` (history part), run in a process of its own.
//
// Why a process of its own: in the bench's main process, which has just seeded a million calls
// and keeps their figures, every request's objects pushed the old generation to a full
// mark-compact about every 2 s. On this 2-core machine V8 marks on both cores, so each of them
// stalled Dzvin, and every other process, for 6–15 ms at once: the run measured the load
// generator's garbage collector. Here the heap is small, nothing per request outlives it
// (latencies go into a preallocated array), and the client's own pauses are reported with the
// result so a disturbed run can be told apart. Node's HTTP client was not enough: each response
// read allocated fresh buffers (25 KB pages), and that external memory alone made V8 run a full
// collection every couple of seconds. So this is a minimal HTTP/1.1 keep-alive client reading
// into one reused buffer (`net` `onread`), like wrk: GET, status line, Content-Length. The bench
// starts it with `--no-memory-reducer`, whose full collections would otherwise come during the run.
//
// Protocol (IPC): the child sends `{ type: 'ready' }` once loaded; the parent sends one `PacedJob`;
// the child answers one `PacedResult` and exits.
import net from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';

export interface PacedJob {
  port: number;
  headers: Record<string, string>;
  /** Request paths, used in turn from `start`. */
  paths: string[];
  start: number;
  /** Requests per second, evenly spaced. */
  rate: number;
  seconds: number;
  /** Keep-alive sockets: at most this many requests in flight. */
  connections: number;
}

export interface PacedResult {
  type: 'paced';
  /** Milliseconds from when each request was due until its response ended. */
  latencies: number[];
  non2xx: number;
  errors: number;
  sent: number;
  wall: number;
  /** Garbage collections of this client during the run: count and longest pause (ms). */
  client_gc: { minor: number; major: number; longest_ms: number };
}

/** One keep-alive HTTP/1.1 connection that reads into a buffer of its own (no allocation per read). */
class Connection {
  private readonly socket: net.Socket;
  private head = '';
  private bodyLeft = -1;
  private status = 0;
  private onDone: ((ok: boolean, status: number) => void) | null = null;
  readonly ready: Promise<void>;

  constructor(
    port: number,
    private readonly buffer: Buffer,
  ) {
    this.socket = net.connect({
      host: '127.0.0.1',
      port,
      onread: {
        buffer,
        callback: (n) => {
          this.read(n);
          return true;
        },
      },
    });
    this.socket.setNoDelay(true);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('error', () => this.end(false));
    this.socket.on('close', () => this.end(false));
  }

  get busy() {
    return this.onDone !== null;
  }

  send(request: string, onDone: (ok: boolean, status: number) => void) {
    this.onDone = onDone;
    this.head = '';
    this.bodyLeft = -1;
    this.socket.write(request, 'latin1');
  }

  close() {
    this.socket.destroy();
  }

  private read(n: number) {
    let at = 0;
    if (this.bodyLeft < 0) {
      // Headers are small: collected as text (at most 4 KB of each read) until the blank line.
      const seen = this.head.length;
      this.head += this.buffer.toString('latin1', 0, Math.min(n, 4096));
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return n > 4096 ? this.end(false) : undefined;
      at = end + 4 - seen;
      this.status = Number(this.head.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(this.head.slice(0, end));
      // Dzvin answers these pages with a Content-Length; anything else counts as an error.
      if (!m) return this.end(false);
      this.bodyLeft = Number(m[1]);
    }
    this.bodyLeft -= n - at;
    if (this.bodyLeft <= 0) this.end(this.bodyLeft === 0);
  }

  private end(ok: boolean) {
    const done = this.onDone;
    this.onDone = null;
    this.bodyLeft = -1;
    done?.(ok, this.status);
  }
}

/**
 * Request i is due at t0 + i / rate and goes out on the first free connection of a keep-alive
 * pool (queued while all are busy); its latency counts from when it was due, not from when a
 * connection was free (no coordinated omission: a stall shows as the latency of every request it
 * delayed). The connections are opened before t0.
 */
export async function runPaced(job: PacedJob): Promise<Omit<PacedResult, 'type' | 'client_gc'>> {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  const pool = Array.from({ length: job.connections }, () => new Connection(job.port, buffer));
  await Promise.all(pool.map((c) => c.ready));
  const extra = Object.entries(job.headers)
    .filter(([k]) => k.toLowerCase() !== 'host')
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const host =
    Object.entries(job.headers).find(([k]) => k.toLowerCase() === 'host')?.[1] ?? `127.0.0.1:${job.port}`;
  const requestText = (n: number) =>
    `GET ${job.paths[(job.start + n) % job.paths.length]} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
  const total = Math.round(job.rate * job.seconds);
  const latencies = new Float64Array(total);
  let done = 0;
  let non2xx = 0;
  let errors = 0;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const due = (n: number) => t0 + (1000 * n) / job.rate;
    const queue: number[] = [];
    const dispatch = () => {
      for (const c of pool) {
        if (!queue.length) return;
        if (c.busy) continue;
        const n = queue.shift()!;
        c.send(requestText(n), (ok, status) => {
          latencies[n] = performance.now() - due(n);
          if (!ok) errors++;
          else if (status !== 200) non2xx++;
          if (++done === total) {
            for (const x of pool) x.close();
            resolve({ latencies: [...latencies], non2xx, errors, sent: total, wall: performance.now() - t0 });
          } else dispatch();
        });
      }
    };
    let i = 0;
    const tick = () => {
      // Everything due by now is queued (a late timer sends the backlog at once, as a real
      // client would); then sleep until the next one is due.
      while (i < total && due(i) <= performance.now() + 0.5) queue.push(i++);
      dispatch();
      if (i < total) setTimeout(tick, Math.max(0, due(i) - performance.now()));
    };
    tick();
  });
}

if (process.send) {
  process.once('message', async (job: PacedJob) => {
    const gc = { minor: 0, major: 0, longest_ms: 0 };
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        // perf_hooks GC kinds: 1 minor (scavenge), 4 major (mark-compact), 8 incremental, 16 weak.
        const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
        if (kind === 4) gc.major++;
        else gc.minor++;
        gc.longest_ms = Math.max(gc.longest_ms, Math.round(e.duration * 100) / 100);
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    const r = await runPaced(job);
    obs.disconnect();
    const result: PacedResult = { type: 'paced', ...r, client_gc: gc };
    process.send!(result, () => process.exit(0));
  });
  process.send({ type: 'ready' });
}
