import { createHmac } from 'node:crypto';

/** The HMAC key of a Standard Webhooks secret, decoded exactly as the SDK's receiver does. */
export function webhookSecretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/** Standard Webhooks headers for one attempt: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. */
export function signatureHeaders(
  secret: string,
  webhookId: string,
  timestampSec: number,
  body: string,
): Record<string, string> {
  const mac = createHmac('sha256', webhookSecretKey(secret))
    .update(`${webhookId}.${timestampSec}.${body}`)
    .digest('base64');
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': `v1,${mac}`,
  };
}
