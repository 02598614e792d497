import { sql } from 'kysely';
import type { OpenDatabase } from './db.ts';
import { pendingMigrations } from './migrations.ts';

/**
 * Why the database cannot serve this process yet (`GET /readyz`): it does not answer, or
 * migrations are pending. Null when it is ready.
 */
export async function databaseNotReady(database: OpenDatabase): Promise<string | null> {
  try {
    await sql`select 1`.execute(database.db);
    const pending = await pendingMigrations(database.db, database.dialect);
    return pending.length ? `migrations pending: ${pending.join(', ')}` : null;
  } catch (err) {
    return `database unavailable: ${err instanceof Error ? err.message : String(err)}`;
  }
}
