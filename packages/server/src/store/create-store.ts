import type { Kysely } from 'kysely';
import type { Store } from '../domain/ports.ts';
import {
  type AccountCache,
  createAccountCache,
  createAccountStore,
  createAuthFailureStore,
  createSessionStore,
} from './account-store.ts';
import { createCallStore } from './call-store.ts';
import { createCarrierRegistrationStore } from './carrier-registration-store.ts';
import { createContactStore } from './contact-store.ts';
import { createDirectoryStore } from './directory-store.ts';
import { createIvrGreetingStore } from './ivr-greeting-store.ts';
import { createLiveCallStore } from './live-call-store.ts';
import { createLookupCacheStore } from './lookup-cache-store.ts';
import { createOutboxStore } from './outbox-store.ts';
import { createPresenceStore } from './presence-store.ts';
import type { Database } from './schema.ts';
import { createSipCredentialStore } from './sip-credential-store.ts';
import { createTrackingStore } from './tracking-store.ts';

/**
 * The Kysely implementation of every store port. Inside `transaction`, the same store is bound
 * to the transaction; a nested `transaction` joins the outer one.
 */
export function createStore(
  db: Kysely<Database>,
  inTransaction = false,
  accountCache: AccountCache = createAccountCache(),
): Store {
  const store: Store = {
    accounts: createAccountStore(db, accountCache),
    sessions: createSessionStore(db),
    authFailures: createAuthFailureStore(db),
    directory: createDirectoryStore(db),
    contacts: createContactStore(db),
    calls: createCallStore(db),
    lookupCache: createLookupCacheStore(db),
    tracking: createTrackingStore(db),
    outbox: createOutboxStore(db),
    presence: createPresenceStore(db),
    liveCalls: createLiveCallStore(db),
    sipCredentials: createSipCredentialStore(db),
    ivrGreetings: createIvrGreetingStore(db),
    carrierRegistrations: createCarrierRegistrationStore(db),
    transaction: (fn) =>
      inTransaction ? fn(store) : db.transaction().execute((trx) => fn(createStore(trx, true, accountCache))),
  };
  return store;
}
