// Where a machine's CPU goes during a bench step, by program: every process's user + system time
// (/proc/<pid>/stat, all its threads) sampled every 200 ms, grouped by a caller-given classifier
// (a pid → a part name, or null to leave it in "other"). The machine's busy time is the sum over
// every process, the kernel's threads included: /proc/stat's busy ticks undercount bursty work
// (a CPU is charged a tick only when the tick finds it running: Kamailio alone at 150 calls/s
// read 0.66 s there against 1.42 s summed over its processes), while a process's own utime and
// stime follow its precise run time. A process that starts during the window counts from zero;
// one that ends loses at most the last interval (the SIPp carrier of a step exits as the step
// ends: ≤ 200 ms of it), and one that starts and ends between two samples is missed.
// Linux only; elsewhere startCpuWindow returns null.
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: /proc's clock ticks per second, 100 on every Linux ABI Node runs on. */
const TICKS_PER_SEC = 100;

export interface CpuWindow {
  /** CPU seconds per part (and "other": every process not classified), over the window. */
  parts: Record<string, number>;
  /** The whole machine's busy CPU seconds over the window: every part summed. */
  machine_busy_sec: number;
  /** Cores × window length, seconds. */
  capacity_sec: number;
  window_sec: number;
}

function procTicks(pid: string): { comm: string; ticks: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm is in parentheses and may hold spaces; the fields after it are fixed.
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' ');
    // After ')': state(0) ppid(1) … utime(11) stime(12).
    return { comm, ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null; // ended between readdir and read
  }
}

function cores(): number {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d/.test(l)).length;
}

/**
 * Starts sampling; `stop()` ends it and returns the window. `classify(pid, comm)` names the part
 * a process belongs to (asked once per pid). Returns null off Linux.
 */
export function startCpuWindow(
  classify: (pid: number, comm: string) => string | null,
  everyMs = 200,
): { stop: () => CpuWindow } | null {
  let n: number;
  try {
    n = cores();
  } catch {
    return null;
  }
  const t0 = process.hrtime.bigint();
  /** pid → [part, ticks at the first sample (0 if it started after the window opened), latest ticks]. */
  const seen = new Map<string, { part: string; first: number; last: number }>();
  let firstPass = true;
  const sample = () => {
    for (const pid of readdirSync('/proc')) {
      if (pid.charCodeAt(0) > 57) continue; // not a number
      const p = procTicks(pid);
      if (!p) continue;
      const known = seen.get(pid);
      if (known) known.last = p.ticks;
      else {
        const part = classify(Number(pid), p.comm) ?? 'other';
        seen.set(pid, { part, first: firstPass ? p.ticks : 0, last: p.ticks });
      }
    }
    firstPass = false;
  };
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      const windowSec = Number(process.hrtime.bigint() - t0) / 1e9;
      const parts: Record<string, number> = {};
      for (const { part, first, last } of seen.values()) {
        parts[part] = (parts[part] ?? 0) + (last - first) / TICKS_PER_SEC;
      }
      return {
        parts,
        machine_busy_sec: Object.values(parts).reduce((a, x) => a + x, 0),
        capacity_sec: n * windowSec,
        window_sec: windowSec,
      };
    },
  };
}
