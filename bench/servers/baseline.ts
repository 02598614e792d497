// The baseline of the API benchmark: bare Fastify 5, one route, no plugins, no logger. Prints
// `{"port":N}` on stdout once listening on 127.0.0.1; exits on SIGTERM/SIGINT or when its
// parent goes away (stdin closes).
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: (app.server.address() as AddressInfo).port })}\n`);

const stop = async () => {
  await app.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop).resume();
