// The CRM side of "the PBX calls the CRM": one handler for call.settings lookups, call events
// and UTM batches, with adapters for node:http, Express-style middleware and Fastify.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createMemoryDedupeStore, type DedupeStore } from './dedupe.ts';
import { createIpMatcher, resolveClientIp } from './ip.ts';
import { classifyPayload, parseBody } from './parse.ts';
import { verifyWebhookSignature, WebhookVerificationError } from './signature.ts';
import type {
  CallEvent,
  CallEventName,
  CallEventOf,
  CallSettingsAnswer,
  CallSettingsRequest,
  DeliveryContext,
  UtmItem,
} from './types.ts';

type MaybePromise<T> = T | Promise<T>;

/**
 * Callbacks per call event name; each receives the event narrowed to that name.
 * @example
 * ```ts
 * const on: CallEventHandlers = { 'call.bridge': (e) => markAnswered(e.uuid, e.bridgeAt) };
 * ```
 */
export type CallEventHandlers = {
  [N in CallEventName]?: (event: CallEventOf<N>, ctx: DeliveryContext) => MaybePromise<void>;
};

/**
 * Options of {@link createWebhookHandler}.
 * @example
 * ```ts
 * const opts: WebhookHandlerOptions = { allowIps: PHONET_SOURCE_IPS, onCallEvent: (e) => console.log(e.event) };
 * ```
 */
export interface WebhookHandlerOptions {
  /**
   * Answers a `call.settings` lookup: what the CRM knows about `otherLegNum`, or null. The PBX
   * waits about 2 s (spec #16); after `settingsTimeoutMs` the handler answers `{otherLeg:null}`.
   */
  onCallSettings?: (
    request: CallSettingsRequest,
    ctx: DeliveryContext,
  ) => MaybePromise<CallSettingsAnswer | null | undefined>;
  /** Every call event (after `on[event.event]`, when both are set). Throwing answers 500: the PBX retries. */
  onCallEvent?: (event: CallEvent, ctx: DeliveryContext) => MaybePromise<void>;
  /** Per-name callbacks with the event narrowed to that name. */
  on?: CallEventHandlers;
  /** A UTM batch (only the items not seen before, by `callParentUuid`, when deduplicating). */
  onUtm?: (items: UtmItem[], ctx: DeliveryContext) => MaybePromise<void>;
  /** Addresses / CIDR ranges allowed to deliver (e.g. {@link PHONET_SOURCE_IPS}); others get 403. Default: anyone. */
  allowIps?: readonly string[];
  /** Proxies whose `X-Forwarded-For` is believed (addresses / CIDR). Default: none. */
  trustedProxies?: readonly string[];
  /** Drop repeated `(uuid, event)` deliveries (spec #11): true (default, in-memory LRU), false, or your store. */
  dedupe?: boolean | DedupeStore;
  /** Standard Webhooks secret (`whsec_…` or base64): when set, unsigned or badly signed deliveries get 401. */
  secret?: string | Uint8Array;
  /** Largest accepted clock difference of `webhook-timestamp` (default 300 s). */
  signatureToleranceSec?: number;
  /** Answer `{otherLeg:null}` when `onCallSettings` takes longer (default 1500 ms, under the PBX's 2 s). */
  settingsTimeoutMs?: number;
  /** Larger bodies get 413 (default 1 MiB). */
  maxBodyBytes?: number;
  /** Told about failures of your callbacks (they also answer 500). */
  onError?: (error: unknown, ctx: DeliveryContext) => void;
}

/**
 * A delivery as the core sees it, whatever the framework.
 * @example
 * ```ts
 * const r = await handler.handle({ method: 'POST', headers: { 'content-type': 'application/json' }, remoteAddress: '127.0.0.1', body: '{"request":"call.settings","otherLegNum":"+380442246595"}' });
 * ```
 */
export interface WebhookRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string | undefined;
  body: string | Uint8Array;
}

/**
 * The answer to send back.
 * @example
 * ```ts
 * res.writeHead(r.status, r.headers).end(r.body);
 * ```
 */
export interface WebhookResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The part of a Fastify instance the plugin uses (no dependency on fastify). */
interface FastifyInstanceLike {
  // biome-ignore lint/suspicious/noExplicitAny: structural stand-in for fastify's overloaded methods
  removeAllContentTypeParsers(...args: any[]): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: see above
  addContentTypeParser(...args: any[]): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: see above
  post(...args: any[]): unknown;
}

/**
 * A webhook receiver: `handle` for any framework, `node`, `express` and `fastify` adapters.
 * @example
 * ```ts
 * http.createServer(handler.node).listen(3000);
 * app.post('/phonet', handler.express);          // Express, before any body parser
 * await fastify.register(handler.fastify, { path: '/phonet' });
 * ```
 */
export interface WebhookHandler {
  /** The framework-free core. */
  handle(request: WebhookRequest): Promise<WebhookResponse>;
  /** `(req, res)` for `http.createServer` (any method other than POST gets 405). */
  node(req: IncomingMessage, res: ServerResponse): void;
  /** `(req, res, next)` middleware: Express, Connect, Polka… Non-POST requests go to `next()`. */
  express(
    req: IncomingMessage & { body?: unknown },
    res: ServerResponse,
    next: (err?: unknown) => void,
  ): void;
  /** A Fastify plugin registering `POST {path}` (default `/`) with its own raw-body parser. */
  fastify: (instance: FastifyInstanceLike, opts: { path?: string }) => Promise<void>;
}

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };
const TEXT_TYPE = { 'content-type': 'text/plain; charset=utf-8' };
const text = (status: number, body: string): WebhookResponse => ({ status, headers: { ...TEXT_TYPE }, body });
const json = (status: number, body: unknown): WebhookResponse => ({
  status,
  headers: { ...JSON_TYPE },
  body: JSON.stringify(body),
});

/**
 * Builds a receiver for what the PBX POSTs to a CRM: `call.settings` lookups (answered with
 * `{otherLeg}` in time), call events (typed and narrowed; repeats dropped on `(uuid, event)`),
 * UTM batches. Bodies are read leniently (JSON or forms). With `allowIps` other senders get 403;
 * with `secret` deliveries must carry a valid Standard Webhooks signature (else 401). A callback
 * that throws answers 500, so the PBX delivers again.
 * @example
 * ```ts
 * import http from 'node:http';
 * import { createWebhookHandler, PHONET_SOURCE_IPS } from '@dzvin/sdk';
 * const handler = createWebhookHandler({
 *   allowIps: PHONET_SOURCE_IPS,
 *   onCallSettings: async ({ otherLegNum }) => {
 *     const c = await crm.findByPhone(otherLegNum);
 *     return c ? { name: c.name, url: c.url, urlText: c.name, responsibleEmployeeExt: c.ownerExt } : null;
 *   },
 *   on: { 'call.hangup': (e) => crm.logCall(e.uuid, e.bridgeAt !== null) },
 *   onUtm: (items) => crm.saveUtm(items),
 * });
 * http.createServer(handler.node).listen(3000, '127.0.0.1');
 * ```
 */
export function createWebhookHandler(o: WebhookHandlerOptions): WebhookHandler {
  const isAllowed = o.allowIps ? createIpMatcher(o.allowIps) : undefined;
  const isTrustedProxy = o.trustedProxies?.length ? createIpMatcher(o.trustedProxies) : undefined;
  const store: DedupeStore | undefined =
    o.dedupe === false
      ? undefined
      : o.dedupe === true || o.dedupe === undefined
        ? createMemoryDedupeStore()
        : o.dedupe;
  const maxBodyBytes = o.maxBodyBytes ?? 1024 * 1024;
  const settingsTimeoutMs = o.settingsTimeoutMs ?? 1500;

  /** Who is calling, or the refusal. */
  function admit(
    headers: WebhookRequest['headers'],
    remoteAddress: string | undefined,
  ): WebhookResponse | string {
    const ip = resolveClientIp(remoteAddress, headers['x-forwarded-for'], isTrustedProxy);
    if (isAllowed && !isAllowed(ip)) return text(403, 'Forbidden');
    return ip;
  }

  async function handle(req: WebhookRequest): Promise<WebhookResponse> {
    if (req.method.toUpperCase() !== 'POST')
      return { ...text(405, 'Method Not Allowed'), headers: { ...TEXT_TYPE, allow: 'POST' } };
    const admitted = admit(req.headers, req.remoteAddress);
    if (typeof admitted !== 'string') return admitted;
    return processDelivery(req, admitted);
  }

  async function processDelivery(req: WebhookRequest, ip: string): Promise<WebhookResponse> {
    const raw = typeof req.body === 'string' ? req.body : Buffer.from(req.body).toString('utf8');
    if (Buffer.byteLength(raw) > maxBodyBytes) return text(413, 'Payload Too Large');
    let webhookId: string | null = null;
    if (o.secret !== undefined) {
      try {
        webhookId = verifyWebhookSignature(o.secret, req.headers, req.body, {
          toleranceSec: o.signatureToleranceSec,
        });
      } catch (e) {
        if (e instanceof WebhookVerificationError) return text(401, `Invalid signature: ${e.message}`);
        throw e;
      }
    }
    const ctx: DeliveryContext = { ip, webhookId, headers: req.headers };
    let body: unknown;
    try {
      const ct = req.headers['content-type'];
      body = parseBody(raw, Array.isArray(ct) ? ct[0] : ct);
    } catch {
      return text(400, 'Bad Request: the body is neither JSON nor a form');
    }
    const d = classifyPayload(body);
    try {
      switch (d.kind) {
        case 'settings':
          return json(200, { otherLeg: await answerSettings(d.request, ctx) });
        case 'event':
          return await deliverEvent(d.event, ctx);
        case 'utm':
          return await deliverUtm(d.items, ctx);
        default:
          return json(202, { ok: true, ignored: 'not a call.settings request, call event or UTM batch' });
      }
    } catch (e) {
      o.onError?.(e, ctx);
      return text(500, 'The receiver failed to handle the delivery');
    }
  }

  async function answerSettings(
    r: CallSettingsRequest,
    ctx: DeliveryContext,
  ): Promise<CallSettingsAnswer | null> {
    if (!o.onCallSettings) return null;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), settingsTimeoutMs);
    });
    try {
      const answer = await Promise.race([Promise.resolve(o.onCallSettings(r, ctx)), late]);
      return answer ?? null;
    } finally {
      clearTimeout(timer);
    }
  }

  async function deliverEvent(e: CallEvent, ctx: DeliveryContext): Promise<WebhookResponse> {
    const key = `${e.uuid}:${e.event}`;
    if (store && !(await store.claim(key))) return json(200, { ok: true, duplicate: true });
    try {
      const named = o.on?.[e.event] as
        | ((ev: CallEvent, c: DeliveryContext) => MaybePromise<void>)
        | undefined;
      if (named) await named(e, ctx);
      if (o.onCallEvent) await o.onCallEvent(e, ctx);
    } catch (err) {
      await store?.release(key);
      throw err;
    }
    return json(200, { ok: true });
  }

  async function deliverUtm(items: UtmItem[], ctx: DeliveryContext): Promise<WebhookResponse> {
    const fresh: UtmItem[] = [];
    for (const item of items)
      if (!store || (await store.claim(`utm:${item.callParentUuid}`))) fresh.push(item);
    if (fresh.length === 0) return json(200, { ok: true, duplicate: items.length > 0 });
    try {
      if (o.onUtm) await o.onUtm(fresh, ctx);
    } catch (err) {
      if (store) for (const item of fresh) await store.release(`utm:${item.callParentUuid}`);
      throw err;
    }
    return json(200, { ok: true, accepted: fresh.length });
  }

  /** Reads a node request body up to the limit; null when over it. */
  function readBody(req: IncomingMessage): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (c: Buffer) => {
        if (over) return;
        size += c.length;
        if (size > maxBodyBytes) {
          over = true;
          chunks.length = 0;
        } else chunks.push(c);
      });
      req.on('end', () => resolve(over ? null : Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  function send(res: ServerResponse, r: WebhookResponse) {
    if (res.headersSent) return;
    res.writeHead(r.status, { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) });
    res.end(r.body);
  }

  async function fromNode(
    req: IncomingMessage,
    res: ServerResponse,
    preRead?: { body: string | Uint8Array },
  ) {
    const admitted = admit(req.headers, req.socket.remoteAddress);
    if (typeof admitted !== 'string') {
      req.resume();
      return send(res, admitted);
    }
    const body = preRead ? preRead.body : await readBody(req);
    if (body === null) return send(res, text(413, 'Payload Too Large'));
    send(
      res,
      await processDelivery(
        { method: 'POST', headers: req.headers, remoteAddress: req.socket.remoteAddress, body },
        admitted,
      ),
    );
  }

  return {
    handle,
    node(req, res) {
      if (req.method !== 'POST') {
        req.resume();
        return send(res, { ...text(405, 'Method Not Allowed'), headers: { ...TEXT_TYPE, allow: 'POST' } });
      }
      fromNode(req, res).catch((e) => {
        if (!res.headersSent) send(res, text(500, 'The receiver failed'));
        else res.destroy(e);
      });
    },
    express(req, res, next) {
      if (req.method !== 'POST') return next();
      let preRead: { body: string | Uint8Array } | undefined;
      // A body parser mounted before us already read the stream: use what it kept.
      if (typeof req.body === 'string' || req.body instanceof Uint8Array) preRead = { body: req.body };
      else if (req.body !== undefined && req.readableEnded) {
        if (o.secret !== undefined)
          return next(
            new Error(
              'createWebhookHandler: signature checks need the raw body; mount the handler before body parsers (or use express.raw())',
            ),
          );
        preRead = { body: JSON.stringify(req.body) };
      }
      fromNode(req, res, preRead).catch(next);
    },
    async fastify(instance, opts) {
      // Encapsulated: this raw-body parser applies to the webhook route only.
      instance.removeAllContentTypeParsers();
      instance.addContentTypeParser(
        '*',
        { parseAs: 'buffer', bodyLimit: maxBodyBytes },
        (_r: unknown, b: Buffer, done: (e: null, b: Buffer) => void) => done(null, b),
      );
      instance.post(
        opts?.path ?? '/',
        async (
          request: { headers: WebhookRequest['headers']; body?: Buffer; raw: IncomingMessage },
          reply: {
            code(n: number): unknown;
            headers(h: Record<string, string>): unknown;
            send(b: string): unknown;
          },
        ) => {
          const r = await handle({
            method: 'POST',
            headers: request.headers,
            remoteAddress: request.raw.socket.remoteAddress,
            body: request.body ?? '',
          });
          reply.code(r.status);
          reply.headers(r.headers);
          return reply.send(r.body);
        },
      );
    },
  };
}
