/**
 * Retry maths in one place (graphile-worker keeps its own the same way): the capped exponential
 * schedule, and the loop that retries a failing write on it. The webhook dispatcher's delivery
 * backoff (integrations/outbox/backoff.ts) adds jitter and Retry-After on top of the schedule.
 */

/** `baseMs · 2^(attempt − 1)`, at most `capMs`; `attempt` is 1-based (the attempt that failed). */
export function exponentialDelayMs(attempt: number, baseMs: number, capMs: number): number {
  // The exponent is clamped so a long-failing delivery cannot overflow to Infinity.
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 40));
}

export interface RetryOptions {
  /** Wait after the first failure; doubled after each further one. */
  firstDelayMs: number;
  /** The longest wait (at least `firstDelayMs`). */
  maxDelayMs: number;
  /**
   * Asked after each failure, with the attempt that failed (1-based) and the wait before the
   * next one; it is also where the caller reports the error. Answering false gives up:
   * `retryWithBackoff` then rejects with that error.
   */
  retryIf(err: unknown, attempt: number, delayMs: number): boolean;
}

/**
 * Runs `fn` until it succeeds, waiting `firstDelayMs`, then twice that… up to `maxDelayMs`
 * between attempts, for as long as `retryIf` allows. The waits are real time whatever clock
 * the caller runs on: what is retried is a database that has to come back.
 *
 * @example
 * await retryWithBackoff(() => store.transaction(write), {
 *   firstDelayMs: 100,
 *   maxDelayMs: 5_000,
 *   retryIf(err, attempt) {
 *     onError(err);
 *     return !(closing && attempt >= 3);
 *   },
 * });
 */
export async function retryWithBackoff<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const delayMs = exponentialDelayMs(attempt, o.firstDelayMs, o.maxDelayMs);
      if (!o.retryIf(err, attempt, delayMs)) throw err;
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
