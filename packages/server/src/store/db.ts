import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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
  await migrateToLatest(db, 'sqlite');
  return { db, dialect: 'sqlite', description: `SQLite ${path}`, close: () => db.destroy() };
}
