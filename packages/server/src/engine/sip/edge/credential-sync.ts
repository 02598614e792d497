// Keeps Kamailio's credential htable in step with the SIP credentials Dzvin stores.
//
// The stored HA1 is the truth; Kamailio's htable is a cache of it. A change made through the
// admin API is pushed at once (`set`, `remove` + `ul.rm`); a push that fails (Kamailio down or
// slow) never fails the change: it marks the edge stale, and a resync brings it back — on the
// next tick (every `intervalMs`, 30 s by default) whenever the edge is stale or has lost its
// `synced` marker (a restart), and in any case every `fullEveryMs` (10 min), which also catches
// changes another process made without being able to push. A resync is a reconciliation: it
// sets what is missing or different, removes what the store no longer has, then marks the edge
// synced. Pushes and resyncs run one at a time, in order, so a resync reading an older store
// cannot overwrite a newer push. Several processes over one database each run their own sync
// against the one Kamailio: a resync reads Kamailio before the store, so it never removes what
// another process pushed meanwhile (sip-cluster.test.ts).
import type { SipCredentialSink, SipIdentity } from '../../../domain/ports.ts';
import type { KamailioControl } from './kamailio-control.ts';
import { sipAor } from './sip-credentials.ts';

export interface CredentialSyncOptions {
  control: KamailioControl;
  /** Every stored credential with its identity (store.sipCredentials.withIdentity). */
  credentials: () => Promise<{ id: SipIdentity; ha1: string }[]>;
  intervalMs?: number;
  fullEveryMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

export interface CredentialSync extends SipCredentialSink {
  /** Reconciles Kamailio with the store now (also what the watcher's `credentials-missing` runs). */
  resync(): Promise<void>;
  /** True after a failed push, until a resync succeeds. */
  stale(): boolean;
  start(): void;
  stop(): void;
}

export function createCredentialSync(opts: CredentialSyncOptions): CredentialSync {
  const { control } = opts;
  const intervalMs = opts.intervalMs ?? 30_000;
  const fullEveryMs = opts.fullEveryMs ?? 600_000;
  const now = opts.now ?? Date.now;
  const onError = opts.onError ?? (() => {});
  let isStale = false;
  let lastFull = 0;
  let timer: NodeJS.Timeout | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  /** Runs `task` after the ones before it; a failure marks the edge stale and is rethrown. */
  function serial<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(task);
    queue = run.catch(() => undefined);
    return run.catch((e) => {
      isStale = true;
      throw e;
    });
  }

  async function reconcile() {
    // Kamailio first, the store second: a credential another process stores and pushes while we
    // read is then either in our read of the store or not yet in Kamailio, never in Kamailio only
    // (which would read as "removed" and be deleted behind that process's back).
    const held = await control.credentials();
    const wanted = new Map((await opts.credentials()).map((c) => [sipAor(c.id), c]));
    for (const [aor, c] of wanted) if (held.get(aor) !== c.ha1) await control.setCredential(c.id, c.ha1);
    for (const aor of held.keys()) {
      if (wanted.has(aor)) continue;
      const at = aor.lastIndexOf('@');
      const id = { ext: aor.slice(0, at), domain: aor.slice(at + 1) };
      await control.removeCredential(id);
      await control.unregister(id);
    }
    await control.markSynced(new Date(now()).toISOString());
    isStale = false;
    lastFull = now();
  }

  const resync = () => serial(reconcile);

  async function tick() {
    if (!isStale && now() - lastFull < fullEveryMs && (await control.isSynced())) return;
    await resync();
  }

  return {
    set: (id, ha1) => serial(() => control.setCredential(id, ha1)),
    remove: (id) =>
      serial(async () => {
        await control.removeCredential(id);
        await control.unregister(id);
      }),
    resync,
    stale: () => isStale,
    start() {
      if (timer) return;
      lastFull = now();
      timer = setInterval(() => {
        tick().catch(onError);
      }, intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
