// The retry maths: the webhook dispatcher's delivery backoff (integrations/outbox/backoff.ts), a
// pure function of the attempt, the time and the jitter, and the retry-with-backoff loop
// (domain/retry.ts) the database writes use, on real (short) timers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exponentialDelayMs, retryWithBackoff } from '../src/domain/retry.ts';
import { nextAttempt, retryAfterMs, retryDelayMs } from '../src/integrations/outbox/backoff.ts';
import { DEFAULT_DELIVERY_SETTINGS } from '../src/integrations/outbox/settings.ts';

const S = { retryBaseMs: 1_000, retryCapMs: 60_000, retryForMs: 3_600_000 };

describe('delivery backoff', () => {
  test('the wait doubles from the base with each attempt and stops at the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n, 0.999_999, S)),
      [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000].map((ms) => ms * 0.999_999),
    );
    // Past 2^40 the exponent stops growing: no overflow to Infinity, still the cap.
    assert.equal(retryDelayMs(5_000, 0.5, S), 30_000);
  });

  test('full jitter scales the wait, floored at 50 ms (or the whole wait when it is shorter)', () => {
    assert.equal(retryDelayMs(3, 0.25, S), 1_000);
    assert.equal(retryDelayMs(3, 0, S), 50);
    assert.equal(retryDelayMs(1, 0, { retryBaseMs: 20, retryCapMs: 200 }), 20);
  });

  test('Retry-After lengthens the wait past the cap, up to 6 h, and never shortens it', () => {
    assert.equal(retryDelayMs(1, 0.5, S, 90_000), 90_000);
    assert.equal(retryDelayMs(1, 0.5, S, 48 * 3_600_000), 6 * 3_600_000);
    assert.equal(retryDelayMs(7, 0.5, S, 0), 30_000);
  });

  test('the next attempt is rounded to a millisecond; past the retry window the delivery is dead', () => {
    const now = 1_700_000_000_000;
    assert.deepEqual(nextAttempt({ attempts: 0, retrySince: now }, now, null, 0.3333, S), {
      status: 'pending',
      next: now + 333,
    });
    // 30 s of the window left when attempt 7 fails (a wait of up to 60 s): 24 s fits, 36 s does not.
    const since = now - S.retryForMs + 30_000;
    assert.deepEqual(nextAttempt({ attempts: 6, retrySince: since }, now, null, 0.4, S), {
      status: 'pending',
      next: now + 24_000,
    });
    assert.deepEqual(nextAttempt({ attempts: 6, retrySince: since }, now, null, 0.6, S), {
      status: 'dead',
      next: now,
    });
  });

  test('the default schedule: 1 s base, 1 h cap, 24 h window', () => {
    assert.equal(retryDelayMs(13, 1, DEFAULT_DELIVERY_SETTINGS), 3_600_000);
    assert.equal(retryDelayMs(12, 1, DEFAULT_DELIVERY_SETTINGS), 2_048_000);
  });

  test('Retry-After is read as seconds or as an HTTP date', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    assert.equal(retryAfterMs('120', now), 120_000);
    assert.equal(retryAfterMs(['7', '9'], now), 7_000);
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 12:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 11:00:00 GMT', now), 0);
    assert.equal(retryAfterMs('soon', now), null);
    assert.equal(retryAfterMs(undefined, now), null);
  });
});

describe('retry with backoff', () => {
  test('the schedule is the capped doubling the database retries use', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((n) => exponentialDelayMs(n, 100, 2_000)),
      [100, 200, 400, 800, 1_600, 2_000, 2_000],
    );
  });

  test('a failing call is retried after waits that double up to the cap, until it succeeds', async () => {
    const seen: { attempt: number; delayMs: number; at: number }[] = [];
    const started = performance.now();
    const result = await retryWithBackoff(
      async (attempt) => {
        if (attempt < 5) throw new Error(`failure ${attempt}`);
        return attempt;
      },
      {
        firstDelayMs: 10,
        maxDelayMs: 40,
        retryIf(err, attempt, delayMs) {
          assert.equal((err as Error).message, `failure ${attempt}`);
          seen.push({ attempt, delayMs, at: performance.now() });
          return true;
        },
      },
    );
    assert.equal(result, 5);
    assert.deepEqual(
      seen.map((s) => [s.attempt, s.delayMs]),
      [
        [1, 10],
        [2, 20],
        [3, 40],
        [4, 40],
      ],
    );
    // The waits are real: each attempt comes at least its delay after the failure before it.
    for (let i = 1; i < seen.length; i++)
      assert.ok(seen[i].at - seen[i - 1].at >= seen[i - 1].delayMs - 1, `wait before attempt ${i + 2}`);
    assert.ok(performance.now() - started >= 10 + 20 + 40 + 40 - 4);
  });

  test('when retryIf answers false it gives up at once with that failure', async () => {
    let calls = 0;
    const failure = new Error('database down');
    const asked: unknown[][] = [];
    const started = performance.now();
    await assert.rejects(
      retryWithBackoff(
        async () => {
          calls++;
          throw failure;
        },
        {
          firstDelayMs: 5_000,
          maxDelayMs: 5_000,
          retryIf(err, attempt, delayMs) {
            asked.push([err, attempt, delayMs]);
            return false;
          },
        },
      ),
      (err) => err === failure,
    );
    assert.equal(calls, 1);
    assert.deepEqual(asked, [[failure, 1, 5_000]]);
    assert.ok(performance.now() - started < 1_000, 'no wait after giving up');
  });

  test('a call that succeeds first time never asks retryIf', async () => {
    const value = await retryWithBackoff(async () => 'ok', {
      firstDelayMs: 10,
      maxDelayMs: 10,
      retryIf: () => assert.fail('retryIf asked without a failure'),
    });
    assert.equal(value, 'ok');
  });
});
