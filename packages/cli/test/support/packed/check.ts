// Type-checked (tsc --noEmit) in a fresh TypeScript project, with moduleResolution node16 and
// bundler: the client, the webhook handler and the event types of the installed packages.
import http from 'node:http';
import type { Contact as ContactType, EventLeg } from '@dzvin/protocol';
import { Contact } from '@dzvin/protocol';
import { PhonetClient, PhonetError } from '@dzvin/sdk';
import { buildCallEvent } from '@dzvin/sdk/testing';
import { type CallEvent, createWebhookHandler, PHONET_SOURCE_IPS } from '@dzvin/sdk/webhooks';

const client = new PhonetClient({ domain: 'acme.phonet.com.ua', apiKey: 'k', baseUrl: 'http://127.0.0.1:1' });
export async function use(): Promise<string[]> {
  const { uuid }: { uuid: string } = await client.calls.make({ legExt: '001', otherLegNum: '+380993034330' });
  const out: string[] = [uuid];
  for await (const call of client.calls.company({ from: Date.now() - 86_400_000, to: Date.now() }))
    out.push(call.uuid);
  return out;
}
const handler = createWebhookHandler({
  allowIps: PHONET_SOURCE_IPS,
  on: {
    'call.bridge': (e) => {
      const at: number = e.bridgeAt;
      return void at;
    },
  },
  onCallEvent: (e: CallEvent) => {
    const leg: EventLeg | null = e.leg;
    return void leg;
  },
});
http.createServer(handler.node);
export const sample = buildCallEvent('call.hangup');
export const schemaId: unknown = Contact;
export const isError = (e: unknown): e is PhonetError => e instanceof PhonetError;
export type C = ContactType;
// @ts-expect-error legExt is required
void client.calls.make({ otherLegNum: '1' });
