import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { DialectName } from '../store/db.ts';
import type { Database } from '../store/schema.ts';

/** Another server process of the cluster, and where its internal API answers. */
export interface Peer {
  id: string;
  url: string;
}

/**
 * Several Dzvin processes over one PostgreSQL (issue 7). Each process has a row in
 * `cluster_nodes` refreshed by a heartbeat (alive while it is fresh) that says where its engine
 * answers; processes authenticate one another with a secret kept in the database; live events
 * travel between them with LISTEN/NOTIFY. On SQLite there is one process: `shared` is false,
 * there are never peers and nothing is published.
 */
export interface Cluster {
  /** This process's id (new at every start). */
  readonly nodeId: string;
  /** True on PostgreSQL, where other processes may share the database. */
  readonly shared: boolean;
  /** Registers this process (after it listens) at `url`, and starts the heartbeat and LISTEN. */
  join(url: string): Promise<void>;
  /** The other processes alive now; cached for a second unless `fresh`. */
  peers(opts?: { fresh?: boolean }): Promise<Peer[]>;
  /** Sends `message` to every other process (best effort, batched per tick); no-op without peers. */
  publish(message: unknown): void;
  /** Messages other processes published. */
  subscribe(fn: (message: unknown, from: string) => void): () => void;
  /** The Authorization header value this process sends to its peers. */
  authorization(): string;
  /** Whether an Authorization header came from a process of this cluster. */
  verify(header: string | undefined): boolean;
  /** Leaves the cluster (peers stop routing to it), stops the heartbeat and LISTEN. */
  close(): Promise<void>;
}

export interface ClusterOptions {
  heartbeatMs?: number;
  /** A process whose heartbeat is older than this is taken for dead. */
  aliveMs?: number;
  onError?: (err: unknown) => void;
}

const CHANNEL = 'dzvin_cluster';
// NOTIFY payloads must stay under 8,000 bytes; larger batches are split, larger messages chunked.
const MAX_PAYLOAD = 7_000;

/** One process alone: SQLite, or tests that want no cluster. */
export function soloCluster(): Cluster {
  const nodeId = randomUUID();
  return {
    nodeId,
    shared: false,
    async join() {},
    async peers() {
      return [];
    },
    publish() {},
    subscribe() {
      return () => {};
    },
    authorization: () => '',
    verify: () => false,
    async close() {},
  };
}

export function createCluster(
  db: Kysely<Database>,
  dialect: DialectName,
  databaseUrl: string,
  opts: ClusterOptions = {},
): Cluster {
  if (dialect !== 'postgres') return soloCluster();
  const heartbeatMs = opts.heartbeatMs ?? 2_000;
  const aliveMs = opts.aliveMs ?? Math.max(10_000, heartbeatMs * 5);
  const onError = opts.onError ?? (() => {});
  const nodeId = randomUUID();
  const startedAt = Date.now();
  let url: string | null = null;
  let secret: string | null = null;
  let secretHash: Buffer | null = null;
  let closed = false;
  let cached: { at: number; peers: Peer[] } = { at: 0, peers: [] };
  let heartbeat: NodeJS.Timeout | null = null;
  const subscribers = new Set<(m: unknown, from: string) => void>();

  async function loadSecret(): Promise<void> {
    await db
      .insertInto('cluster_settings')
      .values({ name: 'peer_secret', value: randomBytes(32).toString('base64url') })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await db
      .selectFrom('cluster_settings')
      .select('value')
      .where('name', '=', 'peer_secret')
      .executeTakeFirstOrThrow();
    secret = row.value;
    secretHash = createHash('sha256').update(`Bearer ${secret}`).digest();
  }

  async function beat(): Promise<void> {
    if (url === null || closed) return;
    const now = Date.now();
    await db
      .insertInto('cluster_nodes')
      .values({ id: nodeId, url, started_at: startedAt, heartbeat_at: now })
      .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: now, url: url ?? '' }))
      .execute();
    await refresh();
    // Rows of processes gone for an hour are history; nobody routes to them anyway.
    if (Math.random() < 0.05)
      await db
        .deleteFrom('cluster_nodes')
        .where('heartbeat_at', '<', now - 3_600_000)
        .execute();
  }

  async function refresh(): Promise<Peer[]> {
    const now = Date.now();
    const rows = await db
      .selectFrom('cluster_nodes')
      .select(['id', 'url'])
      .where('heartbeat_at', '>', now - aliveMs)
      .where('id', '!=', nodeId)
      .execute();
    cached = { at: now, peers: rows };
    return rows;
  }

  // --- LISTEN: a connection of its own (a pooled one would be handed to other queries).
  let listener: pg.Client | null = null;
  let reconnectMs = 500;
  let reconnectTimer: NodeJS.Timeout | null = null;
  const partials = new Map<string, { parts: string[]; got: number; at: number }>();

  function deliver(text: string) {
    let msg: { f: string; d?: unknown[]; c?: string; i?: number; n?: number; s?: string };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!msg || msg.f === nodeId) return;
    if (Array.isArray(msg.d)) {
      for (const m of msg.d) for (const fn of subscribers) fn(m, msg.f);
      return;
    }
    if (typeof msg.c === 'string' && typeof msg.i === 'number' && typeof msg.n === 'number') {
      const key = `${msg.f}:${msg.c}`;
      let p = partials.get(key);
      if (!p) {
        p = { parts: new Array(msg.n).fill(''), got: 0, at: Date.now() };
        partials.set(key, p);
      }
      p.parts[msg.i] = msg.s ?? '';
      p.got++;
      if (p.got === msg.n) {
        partials.delete(key);
        deliver(JSON.stringify({ f: msg.f, d: [JSON.parse(p.parts.join(''))] }));
      }
      // Parts of a message whose sender died halfway are dropped after a minute.
      if (partials.size > 100) {
        const old = Date.now() - 60_000;
        for (const [k, v] of partials) if (v.at < old) partials.delete(k);
      }
    }
  }

  async function listen(): Promise<void> {
    if (closed) return;
    const client = new pg.Client({ connectionString: databaseUrl });
    client.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) deliver(n.payload);
    });
    const retry = (err: unknown) => {
      if (listener === client) listener = null;
      client.removeAllListeners('end');
      client.end().catch(() => {});
      if (closed) return;
      onError(err);
      reconnectTimer = setTimeout(() => void listen(), reconnectMs);
      reconnectTimer.unref();
      reconnectMs = Math.min(reconnectMs * 2, 10_000);
    };
    client.on('error', retry);
    client.on('end', () => retry(new Error('cluster LISTEN connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      listener = client;
      reconnectMs = 500;
    } catch (err) {
      retry(err);
    }
  }

  // --- NOTIFY: messages of one tick go out together, batches one after another (in order).
  let queue: unknown[] = [];
  let scheduled = false;
  let sending: Promise<void> = Promise.resolve();

  function payloads(items: unknown[]): string[] {
    const text = JSON.stringify({ f: nodeId, d: items });
    if (Buffer.byteLength(text) <= MAX_PAYLOAD) return [text];
    if (items.length > 1) {
      const half = Math.ceil(items.length / 2);
      return [...payloads(items.slice(0, half)), ...payloads(items.slice(half))];
    }
    // One message too large for a NOTIFY: chunks of its JSON (by characters; well under the limit).
    const body = JSON.stringify(items[0]);
    const size = Math.floor(MAX_PAYLOAD / 4);
    const n = Math.ceil(body.length / size);
    const c = randomBytes(6).toString('hex');
    return Array.from({ length: n }, (_, i) =>
      JSON.stringify({ f: nodeId, c, i, n, s: body.slice(i * size, (i + 1) * size) }),
    );
  }

  function flush(): Promise<void> {
    scheduled = false;
    const items = queue;
    queue = [];
    if (items.length)
      sending = sending.then(async () => {
        try {
          for (const p of payloads(items)) await sql`select pg_notify(${CHANNEL}, ${p})`.execute(db);
        } catch (err) {
          onError(err);
        }
      });
    return sending;
  }

  return {
    nodeId,
    shared: true,
    async join(at) {
      url = at;
      // The heartbeat also retries what failed here (the database may be down for a while).
      const tick = async () => {
        if (!secret) await loadSecret();
        await beat();
      };
      heartbeat = setInterval(() => {
        tick().catch(onError);
      }, heartbeatMs);
      heartbeat.unref();
      void listen();
      await tick();
    },
    async peers(o = {}) {
      if (!o.fresh && Date.now() - cached.at < 1_000) return cached.peers;
      return refresh();
    },
    publish(message) {
      if (closed || !url || cached.peers.length === 0) return;
      queue.push(message);
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => void flush());
      }
    },
    subscribe(fn) {
      subscribers.add(fn);
      return () => subscribers.delete(fn);
    },
    authorization: () => (secret ? `Bearer ${secret}` : ''),
    verify(header) {
      if (!secretHash || typeof header !== 'string') return false;
      // Compared as digests: constant time whatever the length sent.
      return timingSafeEqual(createHash('sha256').update(header).digest(), secretHash);
    },
    async close() {
      if (closed) return;
      await flush();
      closed = true;
      if (heartbeat) clearInterval(heartbeat);
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const l = listener;
      listener = null;
      if (l) {
        l.removeAllListeners('end');
        l.removeAllListeners('error');
        l.on('error', () => {});
        await l.end().catch(() => {});
      }
      try {
        await db.deleteFrom('cluster_nodes').where('id', '=', nodeId).execute();
      } catch (err) {
        onError(err);
      }
    },
  };
}
