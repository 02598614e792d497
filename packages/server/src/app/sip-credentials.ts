import type { SipIdentity, Store } from '../domain/ports.ts';
import { createCredentialSync } from '../engine/sip/edge/credential-sync.ts';
import type { SipEngine } from '../engine/sip/sip-engine.ts';
import type { Services } from '../http/route-kit.ts';
import type { AppContext } from './context.ts';

/** Every stored SIP credential with the identity Kamailio checks it under. */
export function storedSipCredentials(store: Store): () => Promise<{ id: SipIdentity; ha1: string }[]> {
  return async () =>
    (await store.sipCredentials.withIdentity()).map((c) => ({
      id: { ext: c.ext, domain: c.domain },
      ha1: c.ha1,
    }));
}

/**
 * Employees' SIP passwords reach Kamailio: each change through the directory is pushed at once,
 * and a resync brings a Kamailio that missed one back in step (engine/sip/edge/credential-sync.ts).
 * The directory also learns who is registered (the admin API's `phone` of each employee).
 */
export function openSipCredentials(
  ctx: AppContext,
  deps: { store: Store; services: Services; sip: SipEngine },
) {
  const { app } = ctx;
  const onError = (err: unknown) =>
    app.log.warn({ err }, 'SIP credentials: Kamailio was not told (it is resynced from the database)');
  const sync = createCredentialSync({
    control: deps.sip.control,
    credentials: storedSipCredentials(deps.store),
    onError,
  });
  deps.services.directory.useSipEdge(sync, onError);
  // The admin API's employees show whether their phone is registered (`phone`).
  deps.services.directory.useRegistrations(deps.sip.contactsOf);
  sync.start();
  app.addHook('onClose', async () => {
    sync.stop();
    deps.services.directory.useSipEdge(null);
    deps.services.directory.useRegistrations(null);
  });
  return sync;
}
