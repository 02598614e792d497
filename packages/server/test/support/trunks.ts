import assert from 'node:assert/strict';
import type { Session } from './harness.ts';

/**
 * Trunks for `numbers` through the admin API, each ringing the account's first employee; `main`
 * is the default trunk (outgoing calls, callbacks). Asserts each is created.
 */
export async function createTrunks(s: Session, main: string, numbers: readonly string[]) {
  const owner = (await s.admin('GET', '/api/v1/employees')).json()[0].id;
  for (const number of numbers) {
    const r = await s.admin('POST', '/api/v1/trunks', {
      number,
      name: number,
      destination: { type: 'employee', id: owner },
      isDefault: number === main,
    });
    assert.equal(r.status, 201, r.text);
  }
}
