// A Dzvin server process for the carrier-registration cluster test: buildApp over the PostgreSQL
// database DZVIN_CHILD_DB with the SIP engine at DZVIN_CHILD_SIP_PORT (Kamailio's edge at
// DZVIN_CHILD_EDGE_PORT, its JSON-RPC at DZVIN_CHILD_RPC_URL), the trunks read every
// DZVIN_CHILD_SYNC_MS; the demo account DZVIN_CHILD_DOMAIN / DZVIN_CHILD_API_KEY seeded. Prints
// `ready <base url> <cluster node id>` once it listens. SIGTERM shuts it down; the test SIGKILLs it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, defaultConfig, ensureDemoAccount } from '../../src/index.ts';

const env = process.env;
const recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-registrar-child-rec-'));
const config = defaultConfig({
  databaseUrl: env.DZVIN_CHILD_DB!,
  port: 0,
  logLevel: 'silent',
  recordingsDir,
  demo: { enabled: true, domain: env.DZVIN_CHILD_DOMAIN!, apiKey: env.DZVIN_CHILD_API_KEY, country: 'UA' },
  sip: {
    listen: { address: '127.0.0.1', port: Number(env.DZVIN_CHILD_SIP_PORT) },
    edge: { address: '127.0.0.1', port: Number(env.DZVIN_CHILD_EDGE_PORT) },
    rtpengine: { address: '127.0.0.1', port: Number(env.DZVIN_CHILD_NG_PORT) },
    kamailioRpcUrl: env.DZVIN_CHILD_RPC_URL!,
    carrierSyncMs: Number(env.DZVIN_CHILD_SYNC_MS ?? 1000),
  },
});
const built = await buildApp(config, { logger: false });
await ensureDemoAccount(built.services, built.store, config.demo);
await built.app.listen({ host: '127.0.0.1', port: 0 });
const address = built.app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
process.on('SIGTERM', () => {
  built
    .close()
    .then(() => process.exit(0))
    .catch(() => process.exit(1));
});
process.stdout.write(`ready http://127.0.0.1:${port} ${built.cluster.nodeId}\n`);
