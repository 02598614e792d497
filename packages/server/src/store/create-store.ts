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
  const makers: { [K in Exclude<keyof Store, 'transaction'>]: () => Store[K] } = {
    accounts: () => createAccountStore(db, accountCache),
    sessions: () => createSessionStore(db),
    authFailures: () => createAuthFailureStore(db),
    directory: () => createDirectoryStore(db),
    contacts: () => createContactStore(db),
    calls: () => createCallStore(db),
    lookupCache: () => createLookupCacheStore(db),
    tracking: () => createTrackingStore(db),
    outbox: () => createOutboxStore(db),
    presence: () => createPresenceStore(db),
    liveCalls: () => createLiveCallStore(db),
    sipCredentials: () => createSipCredentialStore(db),
    ivrGreetings: () => createIvrGreetingStore(db),
    carrierRegistrations: () => createCarrierRegistrationStore(db),
  };
  const store = {
    transaction: (fn) =>
      inTransaction ? fn(store) : db.transaction().execute((trx) => fn(createStore(trx, true, accountCache))),
  } as Store;
  // Each part is made when first used: a transaction uses two or three of the fourteen (a call's
  // event write: the outbox, the directory, the calls in progress), and making all of them for
  // each — a few hundred closures — was ~0.2 ms of the main thread per SIP call.
  for (const [name, make] of Object.entries(makers)) {
    Object.defineProperty(store, name, {
      configurable: true,
      enumerable: true,
      get() {
        const part = make();
        Object.defineProperty(store, name, {
          value: part,
          enumerable: true,
          writable: true,
          configurable: true,
        });
        return part;
      },
    });
  }
  return store;
}
