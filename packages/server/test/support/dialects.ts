// The database dialects every store test runs over, and throwaway databases for them.
//
// SQLite is always available. PostgreSQL is available when DZVIN_TEST_PG_URL points at a server
// on which we may create databases (`npm test` starts one; see scripts/run-tests.mjs). With
// DZVIN_REQUIRE_ALL=1 a missing PostgreSQL is an error instead of a skip.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export type Dialect = 'sqlite' | 'postgres';

const PG_URL = process.env.DZVIN_TEST_PG_URL || undefined;

if (!PG_URL && process.env.DZVIN_REQUIRE_ALL === '1') {
  throw new Error(
    'DZVIN_REQUIRE_ALL=1 but DZVIN_TEST_PG_URL is not set: the PostgreSQL test suites cannot run. ' +
      'Run the tests with `npm test` on a machine with the PostgreSQL server installed, ' +
      'or set DZVIN_TEST_PG_URL to a server on which databases can be created.',
  );
}

/** Every dialect the tests can run against here: SQLite, plus PostgreSQL when available. */
export const DIALECTS: Dialect[] = PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];

/** Why the tests of a dialect must be skipped here, or undefined when they can run. */
export function dialectSkipReason(d: Dialect): string | undefined {
  if (d === 'postgres' && !PG_URL) {
    return 'PostgreSQL is not available (DZVIN_TEST_PG_URL is not set; `npm test` sets it when the PostgreSQL server is installed)';
  }
  return undefined;
}

export interface TestDatabase {
  /** The connection URL to hand to the server (`sqlite:/abs/path` or `postgres://…/dbname`). */
  url: string;
  /** Removes the database; safe to call more than once. */
  drop(): Promise<void>;
}

/** Creates a new, empty database of the given dialect. */
export async function createTestDatabaseUrl(d: Dialect): Promise<TestDatabase> {
  if (d === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-test-'));
    return {
      url: `sqlite:${path.join(dir, 'dzvin.sqlite')}`,
      async drop() {
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  if (!PG_URL) throw new Error(dialectSkipReason('postgres'));
  const name = `dzvin_test_${randomBytes(8).toString('hex')}`;
  await withAdminClient((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await withAdminClient((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

async function withAdminClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
