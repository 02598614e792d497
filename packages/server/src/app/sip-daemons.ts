import type { ManagedSipConfig } from '../engine/sip/edge/daemons.ts';
import { type ManagedSip, startManagedSip } from '../engine/sip/edge/daemons.ts';
import type { AppContext } from './context.ts';

/**
 * `DZVIN_SIP=on`: starts Dzvin's own rtpengine and Kamailio (engine/sip/edge/daemons.ts) before
 * the SIP engine. Their onClose hooks are registered before the engine's, so (hooks run newest
 * first) the B2BUA closes, then Kamailio, then rtpengine. A daemon that exits while Dzvin runs is
 * logged as an error with its last log lines; Dzvin keeps serving (simulated calls still work).
 */
export async function openManagedSip(ctx: AppContext, config: ManagedSipConfig): Promise<ManagedSip> {
  const { app } = ctx;
  const managed = await startManagedSip(config);
  app.addHook('onClose', async () => {
    await managed.rtpengine.stop();
    managed.release();
    app.log.info(`DZVIN_SIP=on: rtpengine (pid ${managed.rtpengine.pid}) stopped`);
  });
  app.addHook('onClose', async () => {
    await managed.kamailio.stop();
    app.log.info(`DZVIN_SIP=on: Kamailio (pid ${managed.kamailio.pid}) stopped`);
  });
  for (const [name, daemon] of [
    ['Kamailio', managed.kamailio],
    ['rtpengine', managed.rtpengine],
  ] as const) {
    daemon.onCrash(({ code, signal }) => {
      const tail = daemon.log().trimEnd().split('\n').slice(-15).join('\n');
      app.log.error(
        { daemon: name, daemonPid: daemon.pid, code, signal },
        `DZVIN_SIP=on: ${name} (pid ${daemon.pid}) exited unexpectedly (${code ?? signal}); real phones do not work until Dzvin is restarted. Its last log lines:\n${tail}`,
      );
    });
  }
  return managed;
}
