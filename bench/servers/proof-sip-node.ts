// The Dzvin process of the `sip` part of `npm run proof` (bench/lib/proof-sip.ts): buildApp with the
// configuration parseConfig reads from the environment the proof sets (DZVIN_SIP=external with the
// proof's own Kamailio and rtpengine, DATABASE_URL a SQLite file that outlives a SIGKILL), on
// 127.0.0.1:0, Dzvin's log (warn and up, JSON lines) on stdout, where the proof counts errors.
//
// A separate process so that a crash is seen as one and a SIGKILL is a real one. On its first start
// (no account yet) it creates the proof's account with an API user (ext 001); a restart over the
// same file finds it. Sends `{port, created, apiKey?}` over IPC. PROOF_SIP_MEDIA_TIMEOUT_MS shortens
// the engine's media timeout (30 s by default) so a call whose media died ends within the part's
// bounds. Exits cleanly on SIGTERM/SIGINT or when the proof goes away.
import type { AddressInfo } from 'node:net';
import { buildApp, parseConfig } from '../../packages/server/src/index.ts';

const DOMAIN = process.env.PROOF_SIP_DOMAIN ?? 'sip-proof.localhost';
const parsed = parseConfig(process.env);
if (!parsed.sip) throw new Error('proof-sip-node: DZVIN_SIP=external and its four variables are required');
const mediaTimeoutMs = Number(process.env.PROOF_SIP_MEDIA_TIMEOUT_MS) || undefined;
const config = {
  ...parsed,
  host: '127.0.0.1',
  port: 0,
  sip: { ...parsed.sip, pollMs: 500, ...(mediaTimeoutMs ? { mediaTimeoutMs } : {}) },
};
const built = await buildApp(config, { logger: true });
let apiKey: string | undefined;
let created = false;
if (!(await built.store.accounts.byDomain(DOMAIN))) {
  const made = await built.services.accounts.create({ domain: DOMAIN, defaultCountry: 'UA' });
  const owner = await built.services.directory.employees.create(made.account, {
    displayName: 'Олена',
    ext: '001',
    email: `owner@${DOMAIN}`,
  });
  await built.services.accounts.update(made.account.id, { apiUserId: owner.id });
  apiKey = made.apiKey;
  created = true;
}
await built.app.listen({ host: config.host, port: 0 });
process.send?.({ port: (built.app.server.address() as AddressInfo).port, pid: process.pid, created, apiKey });

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await built.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.on('disconnect', stop);
