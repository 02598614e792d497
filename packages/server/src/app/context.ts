// The parts app.ts composes: each is built from the parts before it and registers an `onClose`
// hook for what it opened. Fastify runs those hooks last-registered first, once the server has
// stopped accepting and the requests in flight are done, so every part closes before the parts
// it was built on (the order: app.ts).
import type { Config } from '../config.ts';
import type { Clock, Timers } from '../domain/clock.ts';
import type { App } from '../http/route-kit.ts';

/** What every part gets. */
export interface AppContext {
  /** The Fastify instance: the log, and the `onClose` hooks the part's lifetime is tied to. */
  app: App;
  config: Config;
  clock: Clock;
  timers: Timers;
  random: (() => number) | undefined;
  /** A background task failed (logged; the process goes on). */
  logError(err: unknown): void;
  /** A peer or the cluster's LISTEN connection failed (logged; retried). */
  logCluster(err: unknown): void;
}

/** Housekeeping on a real interval that does not keep the process alive and stops on close. */
export function every(app: App, ms: number, task: () => void): void {
  const timer = setInterval(task, ms);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}
