// Events may be repeated (the document; at-least-once delivery, spec #18): remember which
// (uuid, event) keys were handled (spec #11) and drop the repeats.

/**
 * Where handled delivery keys are remembered. `claim` answers true the first time a key is seen
 * (and remembers it), false for a repeat; `release` forgets a key whose handling failed, so the
 * sender's retry is handled. Back it with Redis (`SET key 1 NX EX 86400`) or a database when
 * several processes receive webhooks.
 * @example
 * ```ts
 * const redisStore: DedupeStore = {
 *   claim: async (key) => (await redis.set(`phonet:${key}`, '1', 'EX', 86_400, 'NX')) === 'OK',
 *   release: async (key) => { await redis.del(`phonet:${key}`); },
 * };
 * ```
 */
export interface DedupeStore {
  claim(key: string): boolean | Promise<boolean>;
  release(key: string): void | Promise<void>;
}

/**
 * The default store: in memory, least recently used keys evicted beyond `max` (default 10,000),
 * keys forgotten after `ttlMs` (default 24 h, the longest a PBX keeps retrying).
 * @example
 * ```ts
 * createWebhookHandler({ dedupe: createMemoryDedupeStore({ max: 100_000 }), onCallEvent });
 * ```
 */
export function createMemoryDedupeStore(
  o: { max?: number; ttlMs?: number; now?: () => number } = {},
): DedupeStore & {
  readonly size: number;
} {
  const max = o.max ?? 10_000;
  const ttlMs = o.ttlMs ?? 86_400_000;
  const now = o.now ?? Date.now;
  // A Map iterates in insertion order: re-inserting on access makes the first key the LRU one.
  const seen = new Map<string, number>();
  return {
    get size() {
      return seen.size;
    },
    claim(key) {
      const t = now();
      const at = seen.get(key);
      if (at !== undefined && t - at < ttlMs) {
        seen.delete(key);
        seen.set(key, at);
        return false;
      }
      seen.delete(key);
      seen.set(key, t);
      while (seen.size > max) seen.delete(seen.keys().next().value as string);
      return true;
    },
    release(key) {
      seen.delete(key);
    },
  };
}
