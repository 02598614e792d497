// A reference for the API benchmark's searchByOLNum: what the same lookup costs with nothing of
// Dzvin's HTTP pipeline around it. Bare Fastify 5 (no plugins, hooks, schema or logger), one
// route doing exactly Dzvin's data path: the number normalized as Dzvin does it (`normalizePhone`)
// and the contacts read as JSON text by Dzvin's own store (`contacts.byPhoneJson`) over the
// database named by argv[2], for the account argv[3]; no session, Host check, validation, NUL
// guard or metrics. Prints `{"port":N}` on stdout once listening on 127.0.0.1; exits on
// SIGTERM/SIGINT or when its parent goes away (stdin closes).
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { normalizePhone } from '../../packages/server/src/domain/phone.ts';
import { createStore, openDatabase } from '../../packages/server/src/index.ts';

const [databaseUrl, account] = process.argv.slice(2);
const accountId = Number(account);
if (!databaseUrl || !Number.isSafeInteger(accountId))
  throw new Error('usage: search-floor.ts <databaseUrl> <accountId>');
const database = await openDatabase(databaseUrl);
const store = createStore(database.db);

const app = Fastify({ logger: false });
app.get('/rest/crm/contacts/v2/searchByOLNum', async (request, reply) => {
  const phone = normalizePhone(String((request.query as { otherLegNum?: unknown }).otherLegNum ?? ''), 'UA');
  if (phone === null) return reply.code(400).type('text/plain; charset=utf-8').send('not a phone number');
  return reply
    .type('application/json; charset=utf-8')
    .send(await store.contacts.byPhoneJson(accountId, phone, 0, 50));
});
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: (app.server.address() as AddressInfo).port })}\n`);

const stop = async () => {
  await app.close();
  await database.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop).resume();
