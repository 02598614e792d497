// A small office on a throwaway database for engine-level tests (simulator, traffic): three
// employees 001–003, ring group 100 of all three, an IVR (1 → group, 2 → 003, timeout → group)
// and three trunks: +380442246595 → IVR (default), +380800218500 → group, +380443334455 → 001.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { createAccountService } from '../../src/domain/accounts/account-service.ts';
import type { Clock } from '../../src/domain/clock.ts';
import { createDirectoryService } from '../../src/domain/directory/directory-service.ts';
import type { AccountRecord, Store } from '../../src/domain/ports.ts';
import { createStore } from '../../src/store/create-store.ts';
import { openDatabase } from '../../src/store/db.ts';
import type { Database } from '../../src/store/schema.ts';
import { createTestDatabaseUrl, type Dialect } from './dialects.ts';

export interface TestOffice {
  store: Store;
  /** The database itself, for a test that changes what a store port cannot (a trigger). */
  db: Kysely<Database>;
  account: AccountRecord;
  /** Employee ids by ext. */
  employees: Record<'001' | '002' | '003', number>;
  groupId: number;
  ivrId: number;
  /** A fresh directory for recordings. */
  recordingsDir: string;
  close(): Promise<void>;
}

export async function createTestOffice(
  dialect: Dialect,
  clock: Clock,
  opts: { domain: string; ivrTimeoutSec: number },
): Promise<TestOffice> {
  const tdb = await createTestDatabaseUrl(dialect);
  const db = await openDatabase(tdb.url);
  const store = createStore(db.db);
  const recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-office-'));
  const directory = createDirectoryService({ store, clock });
  const account = (await createAccountService({ store, clock }).create({ domain: opts.domain })).account;
  const employees = {} as TestOffice['employees'];
  for (const [ext, name] of [
    ['001', 'Олена'],
    ['002', 'Андрій'],
    ['003', 'Марія'],
  ] as const)
    employees[ext] = (await directory.employees.create(account, { displayName: name, ext })).id;
  const group = await directory.groups.create(account, {
    name: 'Продажі',
    ext: '100',
    members: [employees['001'], employees['002'], employees['003']],
    ringTimeoutSec: 20,
  });
  const ivr = await directory.ivr.create(account, {
    name: 'Меню',
    timeoutSec: opts.ivrTimeoutSec,
    options: [
      { digit: '1', target: { type: 'group', id: group.id } },
      { digit: '2', target: { type: 'employee', id: employees['003'] } },
    ],
    defaultTarget: { type: 'group', id: group.id },
  });
  const trunk = (
    number: string,
    name: string,
    destination: { type: 'ivr' | 'group' | 'employee'; id: number },
    isDefault = false,
  ) => directory.trunks.create(account, { number, name, destination, isDefault });
  await trunk('+380442246595', 'Головний', { type: 'ivr', id: ivr.id }, true);
  await trunk('+380800218500', 'Продажі', { type: 'group', id: group.id });
  await trunk('+380443334455', 'Олена', { type: 'employee', id: employees['001'] });
  return {
    store,
    db: db.db,
    account,
    employees,
    groupId: group.id,
    ivrId: ivr.id,
    recordingsDir,
    async close() {
      await db.close();
      await tdb.drop();
      fs.rmSync(recordingsDir, { recursive: true, force: true });
    },
  };
}
