import type { TrafficStart, TrafficStatus } from '@dzvin/protocol';
import type { CallEngine } from '../../domain/calls/call-engine.ts';
import type { Cancel, Clock, Timers } from '../../domain/clock.ts';
import { badInput, DomainError } from '../../domain/errors.ts';
import type { AccountRecord, Store } from '../../domain/ports.ts';
import type { Simulator } from './simulator.ts';

export type { TrafficStart, TrafficStatus };

export interface TrafficGeneratorDeps {
  /** The simulation controls: every arrival is `sim.incoming(…)`. */
  sim: Pick<Simulator['sim'], 'incoming' | 'setEmployeeBehaviour' | 'setTalkTime' | 'activeLegs'>;
  /** Counts the account's calls in progress (only when `maxConcurrent` is set). */
  engine: Pick<CallEngine, 'active'>;
  /** The account's trunks and employees, read once at start. */
  store: { directory: Pick<Store['directory'], 'trunks' | 'employees'> };
  clock: Clock;
  timers: Timers;
  random?: () => number;
}

/** Callers in the pool when `callers` is not given: small enough that numbers call again. */
const DEFAULT_CALLERS = 500;
/** Mean ring time of employees when only `answerRate` is given (the simulator's default phone). */
const DEFAULT_ANSWER_AFTER_SEC = 3;
/** Arrivals placed in one go after the event loop stalled; the rest of a backlog is skipped. */
const MAX_BURST_SEC = 1;
const MOBILE_PREFIXES = ['50', '63', '66', '67', '68', '73', '93', '95', '96', '97', '98', '99'];

/** One account's generator: options, counters and its two timers. */
interface Run {
  account: AccountRecord;
  opts: TrafficStart;
  running: boolean;
  startedAt: number;
  stoppedAt: number | null;
  /** Clock time after which nothing more arrives (null: until stopped). */
  endAt: number | null;
  /** Clock time of the next arrival (fractional ms; timers get whole ms). */
  nextAt: number;
  trunks: string[];
  callers: string[];
  exts: string[];
  placed: number;
  dropped: number;
  failed: number;
  lastError: string | null;
  /** Arrivals being placed now (counted against maxConcurrent before the engine sees them). */
  placing: number;
  /** Ticks in flight, so stop() can wait for them. */
  pending: Set<Promise<void>>;
  arrival: Cancel | null;
  deadline: Cancel | null;
}

const IDLE: TrafficStatus = {
  running: false,
  startedAt: null,
  stoppedAt: null,
  ratePerSec: null,
  durationSec: null,
  maxConcurrent: null,
  placed: 0,
  dropped: 0,
  failed: 0,
  lastError: null,
};

/**
 * The simulator's traffic generator (issue 3: demos and load): incoming calls arrive as a
 * Poisson process — exponential gaps drawn with the injected random, scheduled on the injected
 * Timers, so a manual clock drives a whole minute of traffic in a test. Each arrival calls a
 * trunk of the account from a pool of numbers in which a few numbers call often (so missed
 * calls get called back). One generator per account; it is bounded: its state is a few
 * counters, it stops at `durationSec`, and a failed arrival is counted, never fatal.
 *
 * @example
 * const traffic = createTrafficGenerator({ sim: simulator.sim, engine: simulator.engine, store, clock, timers });
 * await traffic.start(account, { ratePerSec: 5, durationSec: 60, answerRate: 0.8 });
 * traffic.status(account.id); // { running: true, placed: 12, … }
 */
export function createTrafficGenerator(deps: TrafficGeneratorDeps) {
  const { sim, store, clock, timers } = deps;
  const random = deps.random ?? Math.random;
  const runs = new Map<number, Run>();

  /** Exponential inter-arrival time, in ms. */
  const gapMs = (rate: number) => (-Math.log(1 - random()) / rate) * 1000;

  function statusOf(r: Run | undefined): TrafficStatus {
    if (!r) return { ...IDLE };
    return {
      running: r.running,
      startedAt: r.startedAt,
      stoppedAt: r.stoppedAt,
      ratePerSec: r.opts.ratePerSec,
      durationSec: r.opts.durationSec ?? null,
      maxConcurrent: r.opts.maxConcurrent ?? null,
      placed: r.placed,
      dropped: r.dropped,
      failed: r.failed,
      lastError: r.lastError,
    };
  }

  function check(o: TrafficStart) {
    const between = (v: number | undefined, name: string, min: number, max: number, open = false) => {
      if (v === undefined) return;
      if (!Number.isFinite(v) || (open ? v <= min : v < min) || v > max)
        throw badInput(`${name} must be ${open ? 'above' : 'at least'} ${min} and at most ${max}`);
    };
    if (typeof o.ratePerSec !== 'number') throw badInput('ratePerSec is required');
    between(o.ratePerSec, 'ratePerSec', 0, 200, true);
    between(o.durationSec, 'durationSec', 0, 86_400, true);
    between(o.answerRate, 'answerRate', 0, 1);
    between(o.answerAfterSec, 'answerAfterSec', 0, 600);
    between(o.maxConcurrent, 'maxConcurrent', 1, 100_000);
    between(o.callers, 'callers', 1, 100_000);
    for (const [name, v] of [
      ['maxConcurrent', o.maxConcurrent],
      ['callers', o.callers],
    ] as const)
      if (v !== undefined && !Number.isInteger(v)) throw badInput(`${name} must be a whole number`);
    if (o.talk) {
      between(o.talk.minSec, 'talk.minSec', 0, 36_000);
      between(o.talk.maxSec, 'talk.maxSec', 0, 36_000);
      if (o.talk.maxSec < o.talk.minSec) throw badInput('talk.maxSec must not be below talk.minSec');
    }
  }

  /** A pool of E.164 mobile numbers. */
  function callerPool(size: number): string[] {
    const pool: string[] = [];
    for (let i = 0; i < size; i++) {
      const prefix = MOBILE_PREFIXES[Math.floor(random() * MOBILE_PREFIXES.length)];
      const line = String(Math.floor(random() * 10_000_000)).padStart(7, '0');
      pool.push(`+380${prefix}${line}`);
    }
    return pool;
  }

  /** Skewed towards the start of the pool: a few regulars, a long tail of one-off callers. */
  const pickCaller = (r: Run) => r.callers[Math.floor(r.callers.length * random() ** 2)];

  /** answerRate/answerAfterSec as every employee's phone; the ring time is redrawn per arrival (±50 %). */
  function applyBehaviours(r: Run) {
    const { answerRate, answerAfterSec } = r.opts;
    if (answerRate === undefined && answerAfterSec === undefined) return;
    const mean = answerAfterSec ?? DEFAULT_ANSWER_AFTER_SEC;
    for (const ext of r.exts)
      sim.setEmployeeBehaviour(r.account.id, ext, {
        mode: 'answer',
        answerAfterSec: Math.round(mean * (0.5 + random()) * 10) / 10,
        probability: answerRate ?? 1,
      });
  }

  /** Company calls of the account in progress (active() lists legs; a call without legs is itself). */
  function companyCalls(accountId: number): number {
    const ids = new Set<string>();
    for (const c of sim.activeLegs(accountId)) ids.add(c.parentUuid ?? c.uuid);
    return ids.size;
  }

  async function place(r: Run): Promise<void> {
    const cap = r.opts.maxConcurrent;
    if (cap !== undefined && companyCalls(r.account.id) + r.placing >= cap) {
      r.dropped++;
      return;
    }
    r.placing++;
    try {
      const trunk = r.trunks[Math.floor(random() * r.trunks.length)];
      if (!trunk) throw new DomainError('NO_TRUNK', 'The account has no trunk to call');
      applyBehaviours(r);
      await sim.incoming(r.account, pickCaller(r), trunk);
      r.placed++;
    } catch (err) {
      r.failed++;
      r.lastError = err instanceof Error ? err.message : String(err);
    } finally {
      r.placing--;
    }
  }

  function schedule(r: Run) {
    r.arrival = null;
    if (!r.running || (r.endAt !== null && r.nextAt >= r.endAt)) return;
    r.arrival = timers.after(Math.max(0, Math.ceil(r.nextAt - clock.now())), () => tick(r));
  }

  /** Places every arrival due by now (one, unless the timers ran late) and schedules the next. */
  function tick(r: Run): Promise<void> | undefined {
    r.arrival = null;
    if (!r.running) return;
    const now = clock.now();
    const rate = r.opts.ratePerSec;
    const burst = Math.max(1, Math.ceil(rate * MAX_BURST_SEC));
    let due = 0;
    while (r.nextAt <= now && (r.endAt === null || r.nextAt < r.endAt)) {
      if (due >= burst) {
        // The process stalled: skip the backlog (those arrivals never happen) rather than flood the simulator.
        r.nextAt = now + gapMs(rate);
        break;
      }
      due++;
      r.nextAt += gapMs(rate);
    }
    schedule(r);
    if (!due) return;
    const work = (async () => {
      for (let i = 0; i < due && r.running; i++) await place(r);
    })();
    r.pending.add(work);
    return work.finally(() => r.pending.delete(work));
  }

  function halt(r: Run, at: number) {
    if (!r.running) return;
    r.running = false;
    r.stoppedAt = at;
    r.arrival?.();
    r.deadline?.();
    r.arrival = null;
    r.deadline = null;
  }

  async function settle(r: Run) {
    while (r.pending.size) await Promise.allSettled([...r.pending]);
  }

  return {
    /**
     * Starts (or restarts, with fresh counters) the account's generator. Throws BAD_INPUT for
     * options out of range. Trunks and employees are read now: add them before starting.
     */
    async start(account: AccountRecord, opts: TrafficStart): Promise<TrafficStatus> {
      check(opts);
      const previous = runs.get(account.id);
      if (previous) {
        halt(previous, clock.now());
        await settle(previous);
      }
      const d = store.directory;
      const trunks = opts.trunks ?? (await d.trunks.list(account.id)).map((t) => t.number);
      const exts =
        opts.answerRate !== undefined || opts.answerAfterSec !== undefined
          ? (await d.employees.list(account.id)).map((e) => e.ext)
          : [];
      const now = clock.now();
      const r: Run = {
        account,
        opts: { ...opts },
        running: true,
        startedAt: now,
        stoppedAt: null,
        endAt: opts.durationSec !== undefined ? now + opts.durationSec * 1000 : null,
        nextAt: now + gapMs(opts.ratePerSec),
        trunks,
        callers: callerPool(opts.callers ?? DEFAULT_CALLERS),
        exts,
        placed: 0,
        dropped: 0,
        failed: 0,
        lastError: null,
        placing: 0,
        pending: new Set(),
        arrival: null,
        deadline: null,
      };
      runs.set(account.id, r);
      if (opts.talk) sim.setTalkTime(account.id, opts.talk);
      applyBehaviours(r);
      const endAt = r.endAt;
      if (endAt !== null)
        r.deadline = timers.after(endAt - now, () => {
          r.deadline = null;
          halt(r, endAt);
        });
      schedule(r);
      return statusOf(r);
    },

    /** Stops the account's generator, waits for arrivals being placed, and returns the final counts. */
    async stop(accountId: number): Promise<TrafficStatus> {
      const r = runs.get(accountId);
      if (!r) return statusOf(undefined);
      halt(r, clock.now());
      await settle(r);
      return statusOf(r);
    },

    /** The running generator's counts, or the last one's, or an idle status. */
    status(accountId: number): TrafficStatus {
      return statusOf(runs.get(accountId));
    },

    /** Stops every generator (shutdown: before the engine closes its calls). */
    async stopAll(): Promise<void> {
      const all = [...runs.values()];
      for (const r of all) halt(r, clock.now());
      await Promise.all(all.map(settle));
    },
  };
}
export type TrafficGenerator = ReturnType<typeof createTrafficGenerator>;
