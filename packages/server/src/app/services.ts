import type { Cluster } from '../cluster/cluster.ts';
import { createAccountService } from '../domain/accounts/account-service.ts';
import { createAuthService } from '../domain/accounts/auth-service.ts';
import { defaultPhoneMode } from '../domain/accounts/phone-mode.ts';
import { createHistoryService } from '../domain/calls/history-service.ts';
import { createContactService } from '../domain/crm/contact-service.ts';
import { createDirectoryService } from '../domain/directory/directory-service.ts';
import type { Store } from '../domain/ports.ts';
import type { Services } from '../http/route-kit.ts';
import { type AppContext, every } from './context.ts';

/** The use cases the HTTP layer calls, with the caches the processes of a cluster keep in step. */
export function createServices(ctx: AppContext, deps: { store: Store; cluster: Cluster }): Services {
  const { app, config, clock } = ctx;
  const { store, cluster } = deps;
  const auth = createAuthService({
    store,
    clock,
    settings: {
      sessionIdleMs: config.sessionIdleSec * 1000,
      maxFailuresPerIp: config.auth.maxFailuresPerIp,
      maxFailuresPerDomain: config.auth.maxFailuresPerDomain,
      failureWindowMs: config.auth.failureWindowSec * 1000,
    },
  });
  const services: Services = {
    auth,
    accounts: createAccountService({ store, clock, defaultPhones: defaultPhoneMode(config.mode) }),
    directory: createDirectoryService({ store, clock }),
    contacts: createContactService({ store, clock }),
    history: createHistoryService({ store }),
  };
  // Sign-out and key rotation reach every process's session memory at once (SESSION_CACHE_MS
  // still bounds it if a message is lost).
  auth.shareRevocations((m) => cluster.publish(m));
  cluster.subscribe((m) => auth.applyRevocation(m));
  // Account changes (name, default country, API user, settings) likewise reach every process's
  // account cache at once (ACCOUNT_CACHE_MS bounds it otherwise).
  services.accounts.shareChanges((m) => cluster.publish(m));
  cluster.subscribe((m) => services.accounts.applyChange(m));
  every(app, 5 * 60_000, () => {
    auth.prune().catch((err) => app.log.warn({ err }, 'session prune failed'));
  });
  return services;
}
