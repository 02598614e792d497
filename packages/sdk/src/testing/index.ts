/**
 * `@dzvin/sdk/testing`: sample payloads as the PBX sends them, signed like Dzvin signs them, and
 * a tiny sender — for integrators' own receiver tests.
 * @example
 * ```ts
 * import { buildCallEvent, deliverWebhook } from '@dzvin/sdk/testing';
 * const r = await deliverWebhook('http://127.0.0.1:3000/phonet', buildCallEvent('call.dial'), { secret });
 * assert.equal(r.status, 200);
 * ```
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { signWebhook } from '../webhooks/signature.ts';
import type {
  CallEvent,
  CallEventName,
  CallEventOf,
  CallSettingsRequest,
  UtmItem,
} from '../webhooks/types.ts';

const uuid = () => randomUUID().replaceAll('-', '');

/**
 * A call event with every documented key, realistic defaults (an incoming call to ext 001) and
 * your overrides. `bridgeAt` follows the name: null on dial, set on bridge and hangup.
 * @example
 * ```ts
 * const dial = buildCallEvent('call.dial', { uuid: 'abc', otherLegs: [] });
 * const bridge = buildCallEvent('call.bridge', { uuid: 'abc' });
 * ```
 */
export function buildCallEvent<N extends CallEventName>(
  name: N,
  overrides: Partial<CallEventOf<N>> = {},
): CallEventOf<N> {
  const now = Date.now();
  const dialAt = overrides.dialAt ?? now - 10_000;
  const base = {
    event: name,
    accountDomain: 'demo.localhost',
    uuid: uuid(),
    parentUuid: null,
    dialAt,
    bridgeAt: name === 'call.dial' ? null : dialAt + 4_000,
    serverTime: now,
    lgDirection: 4,
    leg: { id: 1, ext: '001', displayName: 'Олена Коваленко' },
    leg2: null,
    otherLegs: [
      {
        id: 7068,
        name: 'Анастасія Березкіна',
        num: '+380505826633',
        companyName: 'Тестова компанія',
        url: 'http://crm.example/contacts/7068',
        priority: 1,
      },
    ],
    trunkNum: '+380442246595',
    trunkName: 'Головний',
  };
  return { ...base, ...overrides } as CallEvent as CallEventOf<N>;
}

/**
 * The three events of one answered call (dial, bridge, hangup), sharing a uuid.
 * @example
 * ```ts
 * for (const e of buildCallEvents()) await deliverWebhook(url, e);
 * ```
 */
export function buildCallEvents(
  overrides: Partial<CallEvent> = {},
): [CallEventOf<'call.dial'>, CallEventOf<'call.bridge'>, CallEventOf<'call.hangup'>] {
  const shared = { uuid: uuid(), dialAt: Date.now() - 30_000, ...overrides } as Partial<CallEvent>;
  return [
    buildCallEvent('call.dial', shared as Partial<CallEventOf<'call.dial'>>),
    buildCallEvent('call.bridge', shared as Partial<CallEventOf<'call.bridge'>>),
    buildCallEvent('call.hangup', shared as Partial<CallEventOf<'call.hangup'>>),
  ];
}

/**
 * A `call.settings` lookup; `trunkNum` only for incoming calls (pass null for outgoing).
 * @example
 * ```ts
 * const lookup = buildCallSettingsRequest({ otherLegNum: '+380442246595' });
 * ```
 */
export function buildCallSettingsRequest(
  o: Partial<Omit<CallSettingsRequest, 'request'>> = {},
): CallSettingsRequest {
  return { request: 'call.settings', otherLegNum: '+380505826633', trunkNum: '+380442246595', ...o };
}

/**
 * One tracked call of a UTM batch with the documented keys.
 * @example
 * ```ts
 * const batch = [buildUtmItem({ utmSource: 'google' }), buildUtmItem()];
 * ```
 */
export function buildUtmItem(o: Partial<UtmItem> = {}): UtmItem {
  const now = Date.now();
  return {
    utmSource: 'google',
    utmMedium: 'cpc',
    utmCampaign: '(not set)',
    utmContent: '(not set)',
    utmTerm: '(not set)',
    googleClientId: '1340605716.1544986520',
    clientIp: '91.243.203.133',
    referrer: 'https://www.google.com/',
    otherLegNum: '+380505826633',
    trunkSource: '380991280042',
    label: 'calltracker',
    callDate: now,
    callStart: now - 70_000,
    callParentUuid: uuid(),
    ...o,
  };
}

/**
 * A fresh Standard Webhooks secret (`whsec_` + 24 random bytes in base64).
 * @example
 * ```ts
 * const secret = generateWebhookSecret();
 * ```
 */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/**
 * The Standard Webhooks headers for a body: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
 * @example
 * ```ts
 * const body = JSON.stringify(buildCallEvent('call.dial'));
 * const headers = signedHeaders(secret, body);
 * ```
 */
export function signedHeaders(
  secret: string | Uint8Array,
  body: string,
  o: { id?: string; timestamp?: number } = {},
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const id = o.id ?? `msg_${uuid()}`;
  const timestamp = o.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, { id, timestamp, body }),
  };
}

/**
 * The answer of {@link deliverWebhook}.
 * @example
 * ```ts
 * const { status, json } = await deliverWebhook(url, lookup);
 * ```
 */
export interface DeliveryResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body as JSON (undefined when it is not). */
  json: unknown;
}

/**
 * POSTs a payload the way a PBX does: JSON (or a form with `form: true`), signed when `secret`
 * is given, from `localAddress` when given (any 127.0.0.0/8 address on loopback).
 * @example
 * ```ts
 * const r = await deliverWebhook('http://127.0.0.1:3000/', buildCallEvent('call.hangup'), { secret });
 * ```
 */
export function deliverWebhook(
  url: string,
  payload: unknown,
  o: {
    secret?: string | Uint8Array;
    form?: boolean;
    headers?: Record<string, string>;
    localAddress?: string;
    /** Sign with this id/timestamp (e.g. an old timestamp to test replay refusal). */
    signature?: { id?: string; timestamp?: number };
    timeoutMs?: number;
  } = {},
): Promise<DeliveryResult> {
  const body = o.form ? toForm(payload) : JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': o.form ? 'application/x-www-form-urlencoded' : 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...(o.secret !== undefined ? signedHeaders(o.secret, body, o.signature) : {}),
    ...o.headers,
  };
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', headers, localAddress: o.localAddress, agent: false, timeout: o.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('deliverWebhook: no answer in time')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A payload as a PHP-style form (`leg[ext]=001&otherLegs[0][name]=…`); null becomes an empty value.
 * @example
 * ```ts
 * toForm({ event: 'call.dial', leg: { ext: '001' } }); // 'event=call.dial&leg%5Bext%5D=001'
 * ```
 */
export function toForm(payload: unknown): string {
  const params = new URLSearchParams();
  const walk = (prefix: string, v: unknown) => {
    if (v === null || v === undefined) params.append(prefix, '');
    else if (Array.isArray(v)) for (const [i, item] of v.entries()) walk(`${prefix}[${i}]`, item);
    else if (typeof v === 'object')
      for (const [k, x] of Object.entries(v as Record<string, unknown>))
        walk(prefix ? `${prefix}[${k}]` : k, x);
    else params.append(prefix, String(v));
  };
  if (Array.isArray(payload)) walk('utm', payload);
  else walk('', payload);
  return params.toString();
}
