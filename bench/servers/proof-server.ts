// Dzvin as `npm run proof` runs it: a separate process (so a crash is seen as one), buildApp with
// the configuration parseConfig reads from the environment the proof sets (production mode, a
// short session idle time, a small body limit), on 127.0.0.1:0. Creates the proof's four accounts
// (each with an API user, ext 001) and sends `{port, accounts}` over IPC; exits cleanly on SIGTERM.
import type { AddressInfo } from 'node:net';
import { buildApp, parseConfig } from '../../packages/server/src/index.ts';

const config = { ...parseConfig(process.env), host: '127.0.0.1', port: 0 };
const built = await buildApp(config, { logger: false });
const accounts: Record<string, { domain: string; apiKey: string }> = {};
for (const name of ['a', 'b', 'c', 'd']) {
  const domain = `proof-${name}.localhost`;
  const { account, apiKey } = await built.services.accounts.create({ domain, defaultCountry: 'UA' });
  const owner = await built.services.directory.employees.create(account, {
    displayName: `Owner of ${domain}`,
    ext: '001',
    email: `owner@${domain}`,
  });
  await built.services.accounts.update(account.id, { apiUserId: owner.id });
  accounts[name] = { domain, apiKey };
}
await built.app.listen({ host: config.host, port: 0 });
process.send?.({ port: (built.app.server.address() as AddressInfo).port, accounts });

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
