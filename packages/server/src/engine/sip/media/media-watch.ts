// A phone that vanishes mid-call (pulled cable, crashed app, lost Wi-Fi) sends no BYE; what stops
// is its RTP. The watch notices a talking phone whose media has been silent for `timeoutMs` and
// reports it, so the call is ended and its history written instead of staying "live" forever.

export interface MediaWatch {
  /** Starts watching `key`: `received()` is the count of datagrams the phone has sent so far. */
  watch(key: string, received: () => number): void;
  unwatch(key: string): void;
  /** How many phones are watched (tests, metrics). */
  size(): number;
  close(): void;
}

export interface MediaWatchOptions {
  timeoutMs: number;
  /** A watched phone sent nothing for `timeoutMs`: it is no longer watched. */
  onSilent(key: string): void;
  now?: () => number;
}

/**
 * One timer for every watched phone, ticking a fifth of the timeout (at least every 200 ms): a
 * phone is silent once its count has not moved for `timeoutMs` (to within a tick). Phones on
 * hold may send no RTP: the drivers unwatch a phone that offered hold (reinvite.ts) and watch it
 * again when it resumes.
 */
export function createMediaWatch(opts: MediaWatchOptions): MediaWatch {
  const now = opts.now ?? (() => performance.now());
  const watched = new Map<string, { received: () => number; last: number; since: number }>();
  let timer: NodeJS.Timeout | null = null;

  const tick = () => {
    const at = now();
    for (const [key, w] of [...watched]) {
      const count = w.received();
      if (count !== w.last) {
        w.last = count;
        w.since = at;
      } else if (at - w.since >= opts.timeoutMs) {
        watched.delete(key);
        opts.onSilent(key);
      }
    }
    if (!watched.size && timer) {
      clearInterval(timer);
      timer = null;
    }
  };

  return {
    watch(key, received) {
      watched.set(key, { received, last: received(), since: now() });
      if (!timer) {
        timer = setInterval(tick, Math.max(200, Math.floor(opts.timeoutMs / 5)));
        timer.unref();
      }
    },
    unwatch(key) {
      watched.delete(key);
    },
    size: () => watched.size,
    close() {
      watched.clear();
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
