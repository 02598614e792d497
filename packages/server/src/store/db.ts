import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrateToLatest } from './migrations.ts';
import type { Database } from './schema.ts';

export type DialectName = 'sqlite' | 'postgres';

export interface OpenDatabase {
  db: Kysely<Database>;
  dialect: DialectName;
  /** A description safe to print (no password). */
  description: string;
  close(): Promise<void>;
}

/**
 * Synchronous reads on the SQLite connection behind a Kysely instance, for the hottest lookups:
 * no connection mutex, promise or result wrapping per query. `all` answers null while the
 * connection is inside a transaction (a read then must go through Kysely, which waits for it,
 * instead of seeing its uncommitted rows); outside one, a read here is what Kysely would run.
 */
export interface DirectReads {
  all<R>(text: string, params: unknown[]): R[] | null;
}
const directByDb = new WeakMap<Kysely<Database>, DirectReads>();
/** The direct reads of a database opened by `openDatabase` on SQLite; null for PostgreSQL (and transactions). */
export const directReads = (db: Kysely<Database>): DirectReads | null => directByDb.get(db) ?? null;

// pg returns int8 as strings; every bigint of ours is an epoch-ms or an id below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * Opens the database named by `url` and migrates it. `postgres://` / `postgresql://` select
 * PostgreSQL; `sqlite:PATH`, `file:PATH` or a bare path select SQLite (WAL mode).
 * @example await openDatabase('sqlite:./data/dzvin.sqlite')
 */
export async function openDatabase(
  url: string,
  opts: { poolSize?: number; onIdleError?: (err: Error) => void } = {},
): Promise<OpenDatabase> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10 });
    // An idle connection the server closes (restart, failover, DROP … WITH (FORCE)) is reported
    // here; without a listener it would be an uncaught exception that ends the process. The pool
    // replaces it on the next query.
    pool.on('error', (err) => opts.onIdleError?.(err));
    // The pool listens for errors only on idle clients. A client checked out (a transaction
    // between two statements, or between acquire and its first query) that the server
    // terminates (pg_ctl stop -m fast, a restart, pg_terminate_backend) emits 'error' with no
    // listener: an uncaught exception that ended every Dzvin process when PostgreSQL stopped
    // (found by the proof's fault part). The holder sees the failure at its next query, and the
    // pool drops the broken client when it is released; this listener only keeps the process up.
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const u = new URL(url);
    const out: OpenDatabase = {
      db,
      dialect: 'postgres',
      description: `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}`,
      close: () => db.destroy(),
    };
    try {
      await migrateToLatest(db, 'postgres');
    } catch (e) {
      await db.destroy();
      throw e;
    }
    return out;
  }
  const path = resolve(url.replace(/^(sqlite|file):/i, ''));
  mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Reads go through a memory map (no read() system call and copy per page) and a 64 MB page
  // cache instead of SQLite's 2 MB default: a lookup at a million contacts touches pages all
  // over the indexes, and the default cache misses on almost every one.
  sqlite.pragma('mmap_size = 1073741824');
  sqlite.pragma('cache_size = -65536');
  // Checkpoints (copying the WAL into the database file, with an fsync) run on a connection of
  // their own in a worker thread, not inside whichever commit crosses the WAL threshold on the
  // event loop: with recordings being written, that fsync could stall the loop for 100+ ms.
  sqlite.pragma('wal_autocheckpoint = 0');
  const checkpointer = startCheckpointer(path, (err) => opts.onIdleError?.(err));
  // Preparing a statement costs more than running a small one; Kysely prepares every query, so
  // keep the prepared statements by SQL text (queries are parameterized: the set is small).
  const statements = new Map<string, SQLite.Statement>();
  const database = {
    close: () => sqlite.close(),
    prepare(text: string) {
      let stmt = statements.get(text);
      if (!stmt) {
        stmt = sqlite.prepare(text);
        if (statements.size >= 2000) statements.clear();
        statements.set(text, stmt);
      }
      return stmt;
    },
  };
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  directByDb.set(db, {
    all: <R>(text: string, params: unknown[]) =>
      sqlite.inTransaction ? null : (database.prepare(text).all(...params) as R[]),
  });
  await migrateToLatest(db, 'sqlite');
  return {
    db,
    dialect: 'sqlite',
    description: `SQLite ${path}`,
    close: async () => {
      await checkpointer.stop();
      // Closing the last connection checkpoints what is left and removes the WAL.
      await db.destroy();
    },
  };
}

const CHECKPOINT_EVERY_MS = 1000;

const CHECKPOINTER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const SQLite = require(workerData.module);
const db = new SQLite(workerData.path);
db.pragma('busy_timeout = 5000');
const checkpoint = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (e) { parentPort.postMessage(String(e && e.message || e)); }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => { clearInterval(timer); checkpoint(); db.close(); parentPort.close(); });
`;

/**
 * A worker thread that checkpoints the WAL of the database at `path` once a second (PASSIVE:
 * it never waits for or blocks readers and writers). `stop` runs a last one and ends the thread.
 */
function startCheckpointer(path: string, onError: (err: Error) => void) {
  const worker = new Worker(CHECKPOINTER_SOURCE, {
    eval: true,
    workerData: {
      module: createRequire(import.meta.url).resolve('better-sqlite3'),
      path,
      everyMs: CHECKPOINT_EVERY_MS,
    },
  });
  worker.unref();
  worker.on('message', (m) => onError(new Error(`SQLite checkpoint: ${m}`)));
  worker.on('error', (err) => onError(err));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    async stop() {
      // Held open while it finishes (the thread is unref'd so it never keeps a process alive).
      worker.ref();
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      await worker.terminate();
    },
  };
}
