// A CommonJS TypeScript file (node16): require() of the SDK gets the CommonJS declarations.
import sdk = require('@dzvin/sdk');
import webhooks = require('@dzvin/sdk/webhooks');

export const client = new sdk.PhonetClient({ domain: 'acme.phonet.com.ua', apiKey: 'k' });
export const handler = webhooks.createWebhookHandler({ onCallEvent: (e) => void e.uuid });
