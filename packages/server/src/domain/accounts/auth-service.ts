import type { Clock } from '../clock.ts';
import { sipHa1 } from '../directory/sip-password.ts';
import { DomainError } from '../errors.ts';
import type { AccountRecord, Store } from '../ports.ts';
import { hashSecret, randomToken, sameHash } from '../secrets.ts';
import { normalizeDomain } from './account-service.ts';

export interface AuthSettings {
  /** A session ends after this much idle time (spec #5). */
  sessionIdleMs: number;
  /** Failed authorize attempts allowed per client IP within `failureWindowMs`. */
  maxFailuresPerIp: number;
  /** Failed authorize attempts allowed per account domain within `failureWindowMs`. */
  maxFailuresPerDomain: number;
  failureWindowMs: number;
}

export const DEFAULT_AUTH_SETTINGS: AuthSettings = {
  sessionIdleMs: 30 * 60_000,
  maxFailuresPerIp: 20,
  maxFailuresPerDomain: 50,
  failureWindowMs: 10 * 60_000,
};

const isIpLiteral = (host: string) => /^[\d.:[\]]+$/.test(host);

/** Refresh `last_seen_at` at most this often, so reads do not turn into writes. */
const TOUCH_EVERY_MS = 30_000;

/**
 * A session checked against the database is trusted from memory this long. Sign-out and key
 * rotation act at once in the process that handles them and within this time in the others
 * (several processes share one database); it keeps the hot path free of session queries.
 */
export const SESSION_CACHE_MS = 5_000;
const SESSION_CACHE_MAX = 100_000;

/**
 * Who a session is: the account (signed in with its API key), or one of its employees (signed
 * in with their ext and SIP password, for the console's Phone: `employeeId` set, and the HTTP
 * layer lets them use only what http/employee-scope.ts lists).
 */
export interface SessionView {
  account: AccountRecord;
  employeeId: number | null;
}

interface CachedSession {
  tokenHash: string;
  accountId: number;
  employeeId: number | null;
  lastSeenAt: number;
  checkedAt: number;
  /** The last full check's outcome for a Host that names this account (or is an IP), for `resolveSessionNow`. */
  resolved?: { host: string; view: SessionView };
}

/**
 * What one process tells the others when sessions end (sign-out: `tokenHash`; key rotation:
 * `accountId`), so their memory of those sessions goes at once rather than within
 * SESSION_CACHE_MS. The bound still holds if a message is lost.
 */
export interface SessionRevocation {
  kind: 'auth.revoked';
  tokenHash?: string;
  accountId?: number;
}

export interface AuthorizeInput {
  /** The request's Host without port (spec #4 routes by it). */
  host: string;
  ip: string;
  /** The body's `domain`; optional when the Host is an account domain (spec #4). */
  domain?: string;
  apiKey: string;
}

export interface EmployeeSignInInput {
  host: string;
  ip: string;
  domain?: string;
  ext: string;
  /** The employee's SIP password, checked against the stored HA1 (MD5(ext:domain:password)). */
  password: string;
}

/**
 * Sessions as the document describes them: `authorize` with domain + API key (the key alone on
 * the account's own Host) gives a `JSESSIONID`; a missing, unknown or idle-expired session is a
 * 403 (spec #5).
 */
export function createAuthService(deps: { store: Store; clock: Clock; settings: AuthSettings }) {
  const { store, clock, settings } = deps;
  // Keyed by the token itself, so a request whose session is remembered costs no SHA-256 (the
  // token arrives in every request anyway; the database keeps only its hash).
  const cache = new Map<string, CachedSession>();
  const forget = (accountId: number) => {
    for (const [k, v] of cache) if (v.accountId === accountId) cache.delete(k);
  };
  const forgetToken = (tokenHash: string) => {
    for (const [k, v] of cache) if (v.tokenHash === tokenHash) cache.delete(k);
  };
  let announce: (m: SessionRevocation) => void = () => {};

  /** The account a Host names, if it names one (spec #4). */
  async function accountForHost(host: string, fresh = false): Promise<AccountRecord | null> {
    if (!host || isIpLiteral(host)) return null; // IP literals never name an account
    return store.accounts.byDomain(normalizeDomain(host), { fresh });
  }

  async function checkRateLimit(keys: string[]) {
    const since = clock.now() - settings.failureWindowMs;
    for (const key of keys) {
      const max = key.startsWith('ip:') ? settings.maxFailuresPerIp : settings.maxFailuresPerDomain;
      if ((await store.authFailures.count(key, since)) >= max) {
        throw new DomainError(
          'TOO_MANY_ATTEMPTS',
          'Too many failed authorization attempts; try again later',
          {
            retryAfterSec: Math.ceil(settings.failureWindowMs / 1000),
          },
        );
      }
    }
  }

  /**
   * The account a sign-in names (spec #4: the Host, or the body's domain), after the rate limits;
   * `fail` records a failed attempt and gives the error to throw.
   */
  async function signInAccount(input: { host: string; ip: string; domain?: string }) {
    const hostAccount = await accountForHost(input.host, true);
    // spec #4: the Host names the account, so a body with the key alone is enough there
    // (clients post `{apiKey}` to https://{domain}/…); from any other Host the body must name it.
    // Not a failed attempt: like a body that fails validation, it tries no key.
    if (input.domain === undefined && !hostAccount)
      throw new DomainError(
        'BAD_INPUT',
        "Invalid body 'domain': is required when the Host does not name an account",
      );
    const bodyDomain = input.domain === undefined ? undefined : normalizeDomain(input.domain);
    const keys = [`ip:${input.ip}`, `domain:${hostAccount?.domain ?? bodyDomain}`];
    await checkRateLimit(keys);
    const fail = async (message: string, code: 'BAD_CREDENTIALS' | 'WRONG_ACCOUNT' = 'BAD_CREDENTIALS') => {
      await store.authFailures.record(keys, clock.now());
      return new DomainError(code, message);
    };
    if (hostAccount && bodyDomain !== undefined && hostAccount.domain !== bodyDomain)
      throw await fail(
        `domain ${input.domain} does not match the host ${hostAccount.domain}`,
        'WRONG_ACCOUNT',
      );
    const account =
      hostAccount ??
      (bodyDomain === undefined ? null : await store.accounts.byDomain(bodyDomain, { fresh: true }));
    return { account, fail };
  }

  async function openSession(accountId: number, employeeId: number | null): Promise<string> {
    const token = randomToken(32);
    const now = clock.now();
    await store.sessions.create({
      tokenHash: hashSecret(token),
      accountId,
      employeeId,
      createdAt: now,
      lastSeenAt: now,
    });
    return token;
  }

  return {
    accountForHost,

    async authorize(input: AuthorizeInput): Promise<{ token: string; account: AccountRecord }> {
      const { account, fail } = await signInAccount(input);
      // Same answer for an unknown domain and a wrong key: do not reveal which domains exist.
      if (!account || !sameHash(account.apiKeyHash, hashSecret(input.apiKey)))
        throw await fail('Invalid domain or API key');
      return { token: await openSession(account.id, null), account };
    },

    /**
     * An employee signs in to the console with their ext and SIP password (the one their phones
     * register with): the same Host rules, limits and failure records as `authorize`, and one
     * answer for an unknown domain, an unknown ext, no SIP password and a wrong one.
     */
    async authorizeEmployee(input: EmployeeSignInInput): Promise<{
      token: string;
      account: AccountRecord;
      employee: { id: number; ext: string; displayName: string };
    }> {
      const { account, fail } = await signInAccount(input);
      const employee = account ? await store.directory.employees.byExt(account.id, input.ext) : null;
      const ha1 = account && employee ? await store.sipCredentials.ha1Of(account.id, employee.id) : null;
      if (
        !account ||
        !employee ||
        !ha1 ||
        !sameHash(ha1, sipHa1(employee.ext, account.domain, input.password))
      )
        throw await fail('Invalid domain, ext or password');
      return {
        token: await openSession(account.id, employee.id),
        account,
        employee: { id: employee.id, ext: employee.ext, displayName: employee.displayName },
      };
    },

    /** Who a live session is (the account, or one of its employees), or a 403 DomainError. */
    async resolveSession(token: string | undefined, host: string): Promise<SessionView> {
      if (!token)
        throw new DomainError('NO_SESSION', 'No session: authorize first (POST /rest/security/authorize)');
      const now = clock.now();
      let session = cache.get(token);
      if (!session || now - session.checkedAt > SESSION_CACHE_MS) {
        const tokenHash = session?.tokenHash ?? hashSecret(token);
        const found = await store.sessions.find(tokenHash);
        if (!found) {
          cache.delete(token);
          throw new DomainError('NO_SESSION', 'Session is not valid: authorize again');
        }
        if (cache.size >= SESSION_CACHE_MAX) cache.clear();
        session = {
          tokenHash,
          accountId: found.accountId,
          employeeId: found.employeeId,
          lastSeenAt: Math.max(found.lastSeenAt, session?.lastSeenAt ?? 0),
          checkedAt: now,
        };
        cache.set(token, session);
      }
      const { tokenHash } = session;
      if (now - session.lastSeenAt > settings.sessionIdleMs) {
        cache.delete(token);
        await store.sessions.delete(tokenHash);
        throw new DomainError('SESSION_EXPIRED', 'Session expired: authorize again');
      }
      const account = await store.accounts.byId(session.accountId);
      if (!account) throw new DomainError('NO_SESSION', 'Session is not valid: authorize again');
      const hostAccount = await accountForHost(host);
      if (hostAccount && hostAccount.id !== account.id)
        throw new DomainError(
          'WRONG_ACCOUNT',
          `Session belongs to another account than ${hostAccount.domain}`,
        );
      // Touch well within the idle time, or a short idle time (10 s is allowed) would expire a
      // session in constant use (found by the hostile-input proof).
      if (now - session.lastSeenAt > Math.min(TOUCH_EVERY_MS, settings.sessionIdleMs / 4)) {
        session.lastSeenAt = now;
        await store.sessions.touch(tokenHash, now);
      }
      // Remembered only when the Host's answer cannot change without the account changing too:
      // it names this account, or it is an IP. (A Host naming no account may name a new one.)
      const view =
        session.resolved?.view.account === account
          ? session.resolved.view
          : { account, employeeId: session.employeeId };
      if (hostAccount || isIpLiteral(host)) session.resolved = { host, view };
      return view;
    },

    /**
     * `resolveSession` answered from memory, synchronously, when it would read and write nothing:
     * the session was checked within SESSION_CACHE_MS and needs no touch, the same Host passed the
     * full check before, and the account is still the object the account cache holds (fresh, not
     * updated since). Otherwise null: call `resolveSession`. The hot REST reads go through here; a
     * chain of promises per request cost more than the checks.
     */
    resolveSessionNow(token: string | undefined, host: string): SessionView | null {
      const session = token === undefined ? undefined : cache.get(token);
      const r = session?.resolved;
      if (!session || !r || r.host !== host) return null;
      const now = clock.now();
      if (now - session.checkedAt > SESSION_CACHE_MS) return null;
      if (now - session.lastSeenAt > Math.min(TOUCH_EVERY_MS, settings.sessionIdleMs / 4)) return null;
      return store.accounts.cachedById(session.accountId) === r.view.account ? r.view : null;
    },

    /** Dzvin's admin API also accepts `Authorization: Bearer <apiKey>` (scripts, the CLI). */
    async resolveApiKey(apiKey: string, host: string, ip: string): Promise<AccountRecord> {
      const hostAccount = await accountForHost(host);
      const keys = [`ip:${ip}`];
      await checkRateLimit(keys);
      const account = await store.accounts.byApiKeyHash(hashSecret(apiKey));
      if (!account || (hostAccount && hostAccount.id !== account.id)) {
        await store.authFailures.record(keys, clock.now());
        throw new DomainError('BAD_CREDENTIALS', 'Invalid API key');
      }
      return account;
    },

    async signOut(token: string): Promise<void> {
      cache.delete(token);
      const tokenHash = hashSecret(token);
      await store.sessions.delete(tokenHash);
      // After the delete: a process that re-reads the session then finds none.
      announce({ kind: 'auth.revoked', tokenHash });
    },

    /** Drops every process's memory of an account's sessions (after they were deleted). */
    forgetAccount(accountId: number) {
      forget(accountId);
      announce({ kind: 'auth.revoked', accountId });
    },

    /** Sends this process's revocations to the others (the cluster's publish). */
    shareRevocations(publish: (m: SessionRevocation) => void) {
      announce = publish;
    },

    /** A revocation another process published: forgets what it names. Anything else is ignored. */
    applyRevocation(raw: unknown) {
      const m = raw as Partial<SessionRevocation> | null;
      if (m?.kind !== 'auth.revoked') return;
      if (typeof m.tokenHash === 'string') forgetToken(m.tokenHash);
      if (Number.isSafeInteger(m.accountId)) forget(m.accountId as number);
    },

    /** Housekeeping: idle sessions and old failure records. */
    async prune(): Promise<void> {
      const now = clock.now();
      await store.sessions.deleteIdleBefore(now - settings.sessionIdleMs);
      await store.authFailures.prune(now - settings.failureWindowMs);
    },
  };
}
export type AuthService = ReturnType<typeof createAuthService>;
