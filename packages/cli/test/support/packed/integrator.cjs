// The same kit from CommonJS (require): the client, the webhook receiver, the testing helpers
// and the protocol schemas, against the running Dzvin and a local receiver.
const http = require('node:http');
const { PhonetClient, createWebhookHandler } = require('@dzvin/sdk');
const webhooks = require('@dzvin/sdk/webhooks');
const { buildCallEvent, deliverWebhook } = require('@dzvin/sdk/testing');
const { Contact } = require('@dzvin/protocol');
const { contactExample } = require('@dzvin/protocol/fixtures');

async function main() {
  const [baseUrl, domain, apiKey] = process.argv.slice(2);
  const client = new PhonetClient({ domain, apiKey, baseUrl });
  const users = await client.users.list();
  const got = [];
  const handler = createWebhookHandler({ onCallEvent: (e) => got.push(e.event) });
  const receiver = http.createServer(handler.node);
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const res = await deliverWebhook(
    `http://127.0.0.1:${receiver.address().port}/`,
    buildCallEvent('call.dial'),
  );
  receiver.close();
  console.log(
    JSON.stringify({
      users: users.map((u) => u.ext),
      delivered: res.status,
      got,
      sameHandler: webhooks.createWebhookHandler === createWebhookHandler,
      contactSchema: typeof Contact === 'object',
      fixture: typeof contactExample === 'object',
    }),
  );
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
