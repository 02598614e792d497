// Standard Webhooks signatures (https://www.standardwebhooks.com): the signed content is
// `${webhook-id}.${webhook-timestamp}.${body}`, HMAC-SHA256 with the base64-decoded secret
// (optional `whsec_` prefix), sent as `v1,<base64>` (several, space-separated, during rotation).
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Why a signed delivery was refused.
 * @example
 * ```ts
 * try { verifyWebhookSignature(secret, headers, body); } catch (e) { if (e instanceof WebhookVerificationError) res.statusCode = 401; }
 * ```
 */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/**
 * The HMAC key of a Standard Webhooks secret: base64 after an optional `whsec_` prefix.
 * @example
 * ```ts
 * const key = webhookSecretKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
 * ```
 */
export function webhookSecretKey(secret: string | Uint8Array): Buffer {
  if (typeof secret !== 'string') return Buffer.from(secret);
  const b64 = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  const key = Buffer.from(b64, 'base64');
  if (key.length === 0) throw new TypeError('webhook secret: empty after base64 decoding');
  return key;
}

/**
 * The `webhook-signature` value (`v1,<base64>`) of one delivery.
 * @example
 * ```ts
 * const sig = signWebhook('whsec_…', { id: 'msg_1', timestamp: 1764158400, body: '{"event":"call.dial"}' });
 * ```
 */
export function signWebhook(
  secret: string | Uint8Array,
  o: { id: string; timestamp: number; body: string | Uint8Array },
): string {
  const mac = createHmac('sha256', webhookSecretKey(secret));
  mac.update(`${o.id}.${o.timestamp}.`);
  mac.update(o.body);
  return `v1,${mac.digest('base64')}`;
}

const header = (h: Record<string, string | string[] | undefined>, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * Checks the Standard Webhooks headers of a delivery against the raw body: the timestamp within
 * `toleranceSec` (default 5 min) of now, one `v1` signature matching (constant-time compare).
 * Throws {@link WebhookVerificationError}; returns the `webhook-id`.
 * @example
 * ```ts
 * const id = verifyWebhookSignature(process.env.WEBHOOK_SECRET!, req.headers, rawBody);
 * ```
 */
export function verifyWebhookSignature(
  secret: string | Uint8Array,
  headers: Record<string, string | string[] | undefined>,
  body: string | Uint8Array,
  o: { toleranceSec?: number; nowSec?: number } = {},
): string {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  if (!id || !ts || !sigs)
    throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature');
  if (!/^\d{1,12}$/.test(ts.trim()))
    throw new WebhookVerificationError('webhook-timestamp is not a number of seconds');
  const timestamp = Number(ts.trim());
  const now = o.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = o.toleranceSec ?? 300;
  if (Math.abs(now - timestamp) > tolerance)
    throw new WebhookVerificationError('webhook-timestamp is too far from now (replayed or clock skew)');
  const expected = Buffer.from(signWebhook(secret, { id, timestamp, body }).slice(3), 'base64');
  for (const part of sigs.split(' ')) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(part.slice(comma + 1), 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return id;
  }
  throw new WebhookVerificationError('no matching v1 signature');
}
