// Which process of a cluster registers which trunk at its carrier (issue 16): exactly one live
// process per trunk, another taking over when it dies. On PostgreSQL each trunk is a session
// advisory lock (`pg_try_advisory_lock(namespace, trunk id)`) held on one connection of this
// process's own: the database frees every lock of a process the moment its connection goes —
// a process killed outright, a machine cut off — with no lease to expire and no clock to trust,
// and the next `claim` of a live process takes it. On SQLite there is one process: every claim is
// granted.
import pg from 'pg';

/** The locks' first key: trunk registrations (the second is the trunk id). "dzvr" in ASCII. */
const NAMESPACE = 0x647a7672;

export interface RegistrarClaims {
  /** True when other processes may share the database (PostgreSQL). */
  readonly shared: boolean;
  /**
   * Of `trunkIds`, the ones this process holds once this returns: those it held already and the
   * free ones it took now. Also proves the connection alive: if it is not, every claim is lost
   * (`onLost`) and this answers none.
   */
  claim(trunkIds: number[]): Promise<Set<number>>;
  /** Gives the trunk up (another process takes it at its next claim). */
  release(trunkId: number): Promise<void>;
  /** `fn` hears that every claim was lost at once (the connection failed). */
  onLost(fn: () => void): void;
  /** Releases everything (the connection closes). */
  close(): Promise<void>;
}

/** One process alone (SQLite, or no cluster): every trunk is this process's. */
export function soloClaims(): RegistrarClaims {
  return {
    shared: false,
    claim: async (ids) => new Set(ids),
    release: async () => {},
    onLost() {},
    close: async () => {},
  };
}

export interface PgClaimsOptions {
  /** A query on the lock connection slower than this counts as the connection lost. Default 5 s. */
  queryTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

export function createPgClaims(databaseUrl: string, opts: PgClaimsOptions = {}): RegistrarClaims {
  const onError = opts.onError ?? (() => {});
  const held = new Set<number>();
  const lostListeners: (() => void)[] = [];
  let client: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  let closed = false;

  function lose(c: pg.Client, err: unknown) {
    if (client !== c) return;
    client = null;
    c.removeAllListeners('end');
    c.on('error', () => {});
    c.end().catch(() => {});
    if (closed) return;
    onError(err);
    if (held.size === 0) return;
    // The session is gone, and its locks with it (or will be when the database notices): another
    // process may hold them by now. Nothing of ours may act on them any more.
    held.clear();
    for (const fn of lostListeners) fn();
  }

  function connection(): Promise<pg.Client> {
    if (client) return Promise.resolve(client);
    if (connecting) return connecting;
    const c = new pg.Client({
      connectionString: databaseUrl,
      keepAlive: true,
      query_timeout: opts.queryTimeoutMs ?? 5_000,
      application_name: 'dzvin registrar claims',
    });
    c.on('error', (err) => lose(c, err));
    c.on('end', () => lose(c, new Error('registrar claims: the lock connection ended')));
    connecting = c
      .connect()
      .then(() => {
        client = c;
        return c;
      })
      .finally(() => {
        connecting = null;
      });
    return connecting;
  }

  return {
    shared: true,
    async claim(trunkIds) {
      if (closed) return new Set();
      let c: pg.Client;
      try {
        c = await connection();
      } catch (err) {
        onError(err);
        return new Set();
      }
      const wanted = trunkIds.filter((id) => !held.has(id));
      try {
        // One round trip for every trunk not held yet; with none it still proves the session alive.
        const r = await c.query<{ id: string; got: boolean }>(
          'select id::text as id, pg_try_advisory_lock($1::int, mod(id, 2147483647)::int) as got from unnest($2::bigint[]) as id',
          [NAMESPACE, wanted],
        );
        for (const row of r.rows) if (row.got) held.add(Number(row.id));
      } catch (err) {
        lose(c, err);
        return new Set();
      }
      return new Set(trunkIds.filter((id) => held.has(id)));
    },
    async release(trunkId) {
      if (!held.delete(trunkId) || !client) return;
      await client
        .query('select pg_advisory_unlock($1::int, mod($2::bigint, 2147483647)::int)', [NAMESPACE, trunkId])
        .catch((err) => client && lose(client, err));
    },
    onLost(fn) {
      lostListeners.push(fn);
    },
    async close() {
      closed = true;
      held.clear();
      const c = client ?? (await connecting?.catch(() => null)) ?? null;
      client = null;
      if (c) {
        c.removeAllListeners('end');
        c.on('error', () => {});
        await c.end().catch(() => {});
      }
    },
  };
}
