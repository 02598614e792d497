import type { Cluster } from '../cluster/cluster.ts';
import type { SipEngine } from '../engine/sip/sip-engine.ts';
import type { Services } from '../http/route-kit.ts';
import type { AppContext } from './context.ts';

const SYNC = 'carrier-registrations.sync';

/**
 * A trunk changed through the admin API: the trunks that register at their carriers are read again
 * at once — here and, in a cluster, in every process (the one registering the trunk may be
 * another) — rather than at the next periodic read (every 15 s).
 */
export function openCarrierRegistrations(
  ctx: AppContext,
  deps: { services: Services; sip: SipEngine; cluster: Cluster },
) {
  const resync = () => void deps.sip.carrierRegistrations.sync().catch(ctx.logError);
  deps.services.directory.onTrunksChanged(() => {
    resync();
    deps.cluster.publish({ kind: SYNC });
  });
  const off = deps.cluster.subscribe((m) => {
    if ((m as { kind?: unknown } | null)?.kind === SYNC) resync();
  });
  ctx.app.addHook('onClose', async () => {
    off();
    deps.services.directory.onTrunksChanged(null);
  });
}
