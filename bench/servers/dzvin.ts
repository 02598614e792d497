// Dzvin as the API benchmark runs it: `buildApp` over the database named by argv[2], logger off,
// on 127.0.0.1:0. Prints `{"port":N}` on stdout once listening; exits (closing the app and the
// database, so `--cpu-prof` can write its profile) on SIGTERM/SIGINT or when stdin closes.
import type { AddressInfo } from 'node:net';
import { buildApp, defaultConfig } from '../../packages/server/src/index.ts';

const databaseUrl = process.argv[2];
if (!databaseUrl) throw new Error('usage: dzvin.ts <databaseUrl>');
const built = await buildApp(defaultConfig({ databaseUrl, port: 0, logLevel: 'warn' }), { logger: false });
await built.app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: (built.app.server.address() as AddressInfo).port })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await built.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop).resume();
