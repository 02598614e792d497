import type { Account, AccountPatch } from '@dzvin/protocol';
import type { Clock } from '../clock.ts';
import { badInput, DomainError } from '../errors.ts';
import { isKnownCountry } from '../phone.ts';
import type { AccountRecord, Store } from '../ports.ts';
import { hashSecret, randomToken } from '../secrets.ts';
import { isPhoneMode, PHONE_MODES, type PhoneMode, phoneModeOf } from './phone-mode.ts';

/** Account domains: DNS names (so `*.localhost` works in browsers without DNS, spec #4). */
const DOMAIN_RE =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function normalizeDomain(input: string): string {
  return input.trim().toLowerCase().replace(/\.$/, '');
}

/** The account as the admin API shows it; `defaultPhones` is the server's (phone-mode.ts). */
export const toAccountView = (a: AccountRecord, defaultPhones: PhoneMode = 'hybrid'): Account => ({
  domain: a.domain,
  name: a.name,
  defaultCountry: a.defaultCountry,
  apiUserId: a.apiUserId,
  createdAt: a.createdAt,
  recordingsNeedSession: a.recordingsNeedSession,
  contactsPriority: a.contactsPriority,
  phones: phoneModeOf(a, defaultPhones),
  phonesDefault: a.phones === null,
});

export interface CreateAccountInput {
  domain: string;
  name?: string;
  defaultCountry?: string;
  /** Use this key instead of a random one (DZVIN_DEMO_API_KEY); at least 16 characters. */
  apiKey?: string;
}

/**
 * What one process tells the others when it changed an account, so they drop their memory of it
 * at once instead of within the account cache's few seconds (still the bound if it is lost).
 */
export interface AccountChange {
  kind: 'account.changed';
  accountId: number;
}

/** Accounts (tenants) and their API keys. Keys are stored only as hashes and shown once. */
export function createAccountService(deps: {
  store: Store;
  clock: Clock;
  /** The phones of an account that has not chosen (defaultPhoneMode of DZVIN_MODE); hybrid. */
  defaultPhones?: PhoneMode;
}) {
  const { store, clock } = deps;
  const defaultPhones = deps.defaultPhones ?? 'hybrid';
  let announce: (m: AccountChange) => void = () => {};
  return {
    /** The account as the admin API shows it (with the server's default phones). */
    view: (a: AccountRecord): Account => toAccountView(a, defaultPhones),

    /** Sends this process's account changes to the others (the cluster's publish). */
    shareChanges(publish: (m: AccountChange) => void) {
      announce = publish;
    },

    /** A change another process published: forgets that account. Anything else is ignored. */
    applyChange(raw: unknown) {
      const m = raw as Partial<AccountChange> | null;
      if (m?.kind === 'account.changed' && Number.isSafeInteger(m.accountId))
        store.accounts.forgetCached(m.accountId as number);
    },

    async create(input: CreateAccountInput): Promise<{ account: AccountRecord; apiKey: string }> {
      const domain = normalizeDomain(input.domain);
      if (!DOMAIN_RE.test(domain)) throw badInput(`domain '${input.domain}' is not a valid DNS name`);
      const country = (input.defaultCountry ?? 'UA').toUpperCase();
      if (!isKnownCountry(country)) throw badInput(`defaultCountry '${country}' is not a known country code`);
      const apiKey = input.apiKey ?? randomToken(32);
      if (apiKey.length < 16 || apiKey.length > 512)
        throw badInput('apiKey must be 16 to 512 characters long');
      if (await store.accounts.byDomain(domain))
        throw new DomainError('CONFLICT', `account ${domain} already exists`);
      if (await store.accounts.byApiKeyHash(hashSecret(apiKey)))
        throw new DomainError('CONFLICT', 'this API key is already used by another account');
      const account = await store.accounts.create({
        domain,
        name: input.name?.trim() || domain,
        apiKeyHash: hashSecret(apiKey),
        defaultCountry: country,
        apiUserId: null,
        createdAt: clock.now(),
      });
      return { account, apiKey };
    },

    /** A new key, shown once; the old key stops working and every session of the account ends. */
    async rotateKey(accountId: number): Promise<{ account: AccountRecord; apiKey: string }> {
      const apiKey = randomToken(32);
      const rotated = await store.transaction(async (tx) => {
        const account = await tx.accounts.byId(accountId);
        if (!account) throw new DomainError('ACCOUNT_NOT_FOUND', 'account not found');
        await tx.accounts.update(accountId, { apiKeyHash: hashSecret(apiKey) });
        await tx.sessions.deleteForAccount(accountId);
        return { account, apiKey };
      });
      // After the commit: a process that reads the account then sees the new key.
      announce({ kind: 'account.changed', accountId });
      return rotated;
    },

    async update(accountId: number, patch: AccountPatch): Promise<AccountRecord> {
      if (patch.defaultCountry !== undefined && !isKnownCountry(patch.defaultCountry))
        throw badInput(`defaultCountry '${patch.defaultCountry}' is not a known country code`);
      if (patch.apiUserId !== undefined && patch.apiUserId !== null) {
        if (!(await store.directory.employees.get(accountId, patch.apiUserId)))
          throw badInput(`apiUserId ${patch.apiUserId} is not an employee of this account`);
      }
      if (patch.phones !== undefined && patch.phones !== null && !isPhoneMode(patch.phones))
        throw badInput(`phones must be one of ${PHONE_MODES.join(', ')} (or null for the default)`);
      await store.accounts.update(accountId, {
        name: patch.name?.trim(),
        defaultCountry: patch.defaultCountry,
        apiUserId: patch.apiUserId,
        recordingsNeedSession: patch.recordingsNeedSession,
        contactsPriority: patch.contactsPriority,
        phones: patch.phones,
      });
      announce({ kind: 'account.changed', accountId });
      const a = await store.accounts.byId(accountId);
      if (!a) throw new DomainError('ACCOUNT_NOT_FOUND', 'account not found');
      return a;
    },
  };
}
export type AccountService = ReturnType<typeof createAccountService>;
