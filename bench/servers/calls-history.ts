// Dzvin as the history part of `npm run bench:calls` runs it: `buildApp` over the database named
// by argv[2] (recordings under argv[3]), logger off, on 127.0.0.1:0. Sends `{ type: 'ready', port }`
// over IPC once listening; exits (closing the app and the database, so `--cpu-prof` can write its
// profile) on SIGTERM/SIGINT or when the parent goes away.
import type { AddressInfo } from 'node:net';
import { buildApp, defaultConfig } from '../../packages/server/src/index.ts';

const [databaseUrl, recordingsDir] = process.argv.slice(2);
if (!databaseUrl || !recordingsDir) throw new Error('usage: calls-history.ts <databaseUrl> <recordingsDir>');
const built = await buildApp(defaultConfig({ databaseUrl, recordingsDir, port: 0, logLevel: 'warn' }), {
  logger: false,
});
await built.app.listen({ host: '127.0.0.1', port: 0 });
process.send?.({ type: 'ready', port: (built.app.server.address() as AddressInfo).port });

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
