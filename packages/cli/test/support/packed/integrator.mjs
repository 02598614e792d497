// An integrator's plain-ESM program using the installed @dzvin/sdk (run by packed-packages.test.ts
// in a fresh project): sign in, list users, receive the call's webhooks through
// createWebhookHandler on node:http, place a call, hang it up, page the history.
import http from 'node:http';
import { Contact } from '@dzvin/protocol';
import { DzvinAdminClient, PhonetClient } from '@dzvin/sdk';
import { createWebhookHandler } from '@dzvin/sdk/webhooks';

const [baseUrl, domain, apiKey] = process.argv.slice(2);
const events = [];
let seen = () => {};
const handler = createWebhookHandler({
  onCallSettings: () => ({ name: 'Packed Integrator' }),
  onCallEvent: (e) => {
    events.push({ event: e.event, uuid: e.uuid });
    seen();
  },
});
const receiver = http.createServer(handler.node);
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${receiver.address().port}/phonet`;
const waitFor = (event, uuid) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`no ${event} webhook in 20 s: ${JSON.stringify(events)}`)),
      20_000,
    );
    seen = () => {
      if (events.some((e) => e.event === event && e.uuid === uuid)) {
        clearTimeout(t);
        resolve();
      }
    };
    seen();
  });

const admin = new DzvinAdminClient({ baseUrl, apiKey });
await admin.crmConnections.create({ name: 'packed test', callSettingsUrl: url, eventsUrl: url });
const client = new PhonetClient({ domain, apiKey, baseUrl });
const users = await client.users.list();
const from = Date.now() - 1000;
const { uuid } = await client.calls.make({ legExt: '001', otherLegNum: '+380993034330' });
await waitFor('call.dial', uuid);
await client.calls.hangup(uuid);
await waitFor('call.hangup', uuid);
const history = await client.calls.company({ from, to: Date.now() + 1000, pageSize: 1 }).toArray();
receiver.close();
console.log(
  JSON.stringify({
    users: users.map((u) => u.ext),
    uuid,
    events: events.filter((e) => e.uuid === uuid).map((e) => e.event),
    history: history.map((h) => h.uuid),
    contactSchema: typeof Contact === 'object' && Contact !== null,
  }),
);
