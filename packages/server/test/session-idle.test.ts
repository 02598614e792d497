// A session in constant use never expires, whatever the idle time (regression: with
// DZVIN_SESSION_IDLE_SECONDS below 30 s, last use was only recorded every 30 s, so a busy session
// expired after the idle time; found by the hostile-input proof, bench/lib/hostile.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createManualClock } from '../src/index.ts';
import { startServer } from './support/harness.ts';

test('with a 10 s idle time, a session used every 4 s lives on, and expires 10 s after its last use', async () => {
  const clock = createManualClock(Date.UTC(2026, 10, 26, 12));
  const server = await startServer('sqlite', { clock, config: { sessionIdleSec: 10 } });
  try {
    const s = await server.account('busy.localhost');
    for (let i = 0; i < 10; i++) {
      await clock.advance(4_000);
      const r = await s.get('/rest/users');
      assert.equal(r.status, 200, `after ${(i + 1) * 4} s of use: ${r.status} ${r.text}`);
    }
    await clock.advance(11_000);
    assert.equal((await s.get('/rest/users')).status, 403);
  } finally {
    await server.close();
  }
});
