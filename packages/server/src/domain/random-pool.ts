import { randomFillSync } from 'node:crypto';

/**
 * Random identifiers (SIP branches, tags and Call-IDs, NG cookies, webhook ids) from a pool of
 * cryptographic random bytes filled 4 KiB at a time, as Node's own `randomUUID` keeps one: a
 * call takes a dozen of them, and `randomBytes(n)` per id was a system call and a buffer each
 * (~0.5 ms of the main thread per SIP call under load). Every byte is handed out once.
 */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

function take(n: number): number {
  if (n > POOL_BYTES) throw new RangeError(`at most ${POOL_BYTES} random bytes at a time`);
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += n;
  return at;
}

/** `n` random bytes as 2n lowercase hex digits. */
export function randomHex(n: number): string {
  const at = take(n);
  return pool.toString('hex', at, at + n);
}

/** `n` random bytes as base64url (no padding). */
export function randomBase64url(n: number): string {
  const at = take(n);
  return pool.toString('base64url', at, at + n);
}
