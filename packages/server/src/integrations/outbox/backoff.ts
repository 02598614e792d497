import type { DeliveryRecord } from '../../domain/ports.ts';
import { exponentialDelayMs } from '../../domain/retry.ts';
import type { DeliverySettings } from './settings.ts';

/**
 * When a delivery that failed in a way worth retrying (5xx, 408, 429, no answer) is tried
 * again: pure functions of the attempt, the time and a jitter value, so the schedule is
 * testable without a clock or a CRM.
 */

export type RetrySchedule = Pick<DeliverySettings, 'retryBaseMs' | 'retryCapMs' | 'retryForMs'>;

/** Retry-After is honoured beyond the cap, within reason. */
const MAX_RETRY_AFTER_MS = 6 * 3_600_000;

/**
 * The wait after attempt number `attempt` (1-based) failed: capped exponential with full
 * jitter, `jitter` in [0, 1) (`Math.random()` in production), and at least `retryAfterMs`
 * when the CRM sent one (up to 6 h).
 */
export function retryDelayMs(
  attempt: number,
  jitter: number,
  schedule: Pick<RetrySchedule, 'retryBaseMs' | 'retryCapMs'>,
  retryAfterMs: number | null = null,
): number {
  const exp = exponentialDelayMs(attempt, schedule.retryBaseMs, schedule.retryCapMs);
  // Full jitter (AWS architecture blog), floored so a dead CRM is not hammered.
  let delay = Math.max(Math.min(50, exp), jitter * exp);
  if (retryAfterMs !== null) delay = Math.max(delay, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
  return delay;
}

/**
 * The delivery's state after its attempt failed at `now`: pending until the next attempt, or
 * dead when that attempt would fall past the retry window (`retryForMs` from `retrySince`).
 */
export function nextAttempt(
  d: Pick<DeliveryRecord, 'attempts' | 'retrySince'>,
  now: number,
  retryAfterMs: number | null,
  jitter: number,
  schedule: RetrySchedule,
): { status: 'pending' | 'dead'; next: number } {
  const next = Math.round(now + retryDelayMs(d.attempts + 1, jitter, schedule, retryAfterMs));
  return next - d.retrySince > schedule.retryForMs
    ? { status: 'dead', next: now }
    : { status: 'pending', next };
}

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date), or null. */
export function retryAfterMs(value: string | string[] | undefined, now: number): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
