/** Time is a port: services read it from here so tests can control it. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** Cancels a scheduled callback; calling it twice is harmless. */
export type Cancel = () => void;

/**
 * Timers on the Clock's time. The simulator and schedulers use these, never `setTimeout`,
 * so tests advance time instead of sleeping. A callback may return a promise: the manual
 * clock waits for it before running the next due callback.
 */
export interface Timers {
  after(ms: number, fn: () => void | Promise<void>): Cancel;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Real timers; a failing callback is reported to `onError` instead of crashing the process. */
export function createSystemTimers(onError: (err: unknown) => void = () => {}): Timers {
  return {
    after(ms, fn) {
      const t = setTimeout(
        () => {
          try {
            const r = fn();
            if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(onError);
          } catch (e) {
            onError(e);
          }
        },
        Math.max(0, ms),
      );
      return () => clearTimeout(t);
    },
  };
}

export interface ManualClock extends Clock, Timers {
  /** Moves time forward, running every callback that falls due, in time order, awaiting each. */
  advance(ms: number): Promise<void>;
  /** Jumps to an absolute time (forward only), running what falls due. */
  set(ms: number): Promise<void>;
  /** Number of callbacks still scheduled. */
  pending(): number;
}

/** A clock and timers tests move by hand. */
export function createManualClock(start = Date.UTC(2026, 0, 1)): ManualClock {
  let t = start;
  let seq = 0;
  const queue: { at: number; seq: number; fn: () => void | Promise<void> }[] = [];
  async function runUntil(target: number) {
    for (;;) {
      queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = queue[0];
      if (!next || next.at > target) break;
      queue.shift();
      t = Math.max(t, next.at);
      await next.fn();
    }
    t = Math.max(t, target);
  }
  return {
    now: () => t,
    after(ms, fn) {
      const entry = { at: t + Math.max(0, ms), seq: seq++, fn };
      queue.push(entry);
      return () => {
        const i = queue.indexOf(entry);
        if (i >= 0) queue.splice(i, 1);
      };
    },
    advance: (ms) => runUntil(t + ms),
    set: (ms) => runUntil(ms),
    pending: () => queue.length,
  };
}
