import { Type } from 'typebox';
import type { Cluster } from '../cluster/cluster.ts';
import {
  type createClusterEngine,
  PEER_PATH,
  type PeerRequest,
  ROUTED_OPS,
  TRAFFIC_OPS,
} from '../cluster/cluster-engine.ts';
import type { App } from './route-kit.ts';
import { listeningAddress } from './server.ts';

/**
 * The cluster's internal API: another process of the same database asks about calls this
 * process's engine owns, authenticated by the secret the processes share through the database.
 * And joining: once the server listens, this process tells the others where to reach it. (It
 * leaves when the cluster closes, after the calls and deliveries: app.ts.)
 */
export async function clusterApi(
  app: App,
  deps: {
    cluster: Cluster;
    engine: Pick<ReturnType<typeof createClusterEngine>, 'serve' | 'adoptPeerSettings'>;
    /** The URL peers reach this process at (DZVIN_NODE_URL); default: the listening address. */
    nodeUrl: string | undefined;
  },
): Promise<void> {
  const { cluster, engine } = deps;
  if (cluster.shared)
    app.post(
      PEER_PATH,
      {
        schema: {
          hide: true,
          body: Type.Object({
            op: Type.Union([
              Type.Literal('active'),
              Type.Literal('sim.settings'),
              ...TRAFFIC_OPS.map((o) => Type.Literal(o)),
              ...ROUTED_OPS.map((o) => Type.Literal(o)),
            ]),
            accountId: Type.Optional(Type.Integer({ minimum: 1 })),
            uuid: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            arg: Type.Optional(Type.String({ maxLength: 64 })),
          }),
        },
      },
      async (r, reply) => {
        if (!cluster.verify(r.headers.authorization))
          return reply.code(403).type('text/plain; charset=utf-8').send('Not a process of this cluster');
        const body = r.body as { op: string; accountId?: number; uuid?: string; arg?: string };
        if (body.op !== 'sim.settings' && body.accountId === undefined)
          return reply.code(400).type('text/plain; charset=utf-8').send('accountId is required');
        if ((ROUTED_OPS as readonly string[]).includes(body.op) && !body.uuid)
          return reply.code(400).type('text/plain; charset=utf-8').send('uuid is required');
        return engine.serve(body as PeerRequest);
      },
    );

  app.addHook('onListen', async () => {
    const address = listeningAddress(app);
    if (!address) return;
    const joined = await cluster.join(deps.nodeUrl ?? `http://${address.host}:${address.port}`).then(
      () => true,
      (err) => {
        app.log.error({ err }, 'cluster: could not join; retrying with the heartbeat');
        return false;
      },
    );
    // The simulated office as the others have it (behaviours set before this process started).
    if (joined)
      await engine
        .adoptPeerSettings()
        .catch((err) => app.log.warn({ err }, 'cluster: could not take the simulator settings from a peer'));
  });
}
