/**
 * `@dzvin/sdk/webhooks`: the receiver of what a Phonet-compatible PBX POSTs to a CRM.
 * @example
 * ```ts
 * import { createWebhookHandler, PHONET_SOURCE_IPS } from '@dzvin/sdk/webhooks';
 * const handler = createWebhookHandler({ allowIps: PHONET_SOURCE_IPS, onCallEvent: (e) => console.log(e.event, e.uuid) });
 * ```
 */
export { createMemoryDedupeStore, type DedupeStore } from './dedupe.ts';
export {
  type CallEventHandlers,
  createWebhookHandler,
  type WebhookHandler,
  type WebhookHandlerOptions,
  type WebhookRequest,
  type WebhookResponse,
} from './handler.ts';
export { createIpMatcher, normalizeIp, PHONET_SOURCE_IPS, resolveClientIp } from './ip.ts';
export { classifyPayload, type ParsedDelivery, parseBody } from './parse.ts';
export {
  signWebhook,
  verifyWebhookSignature,
  WebhookVerificationError,
  webhookSecretKey,
} from './signature.ts';
export {
  CALL_EVENT_NAMES,
  type CallBridgeEvent,
  type CallDialEvent,
  type CallEvent,
  type CallEventName,
  type CallEventOf,
  type CallHangupEvent,
  type CallSettingsAnswer,
  type CallSettingsRequest,
  type DeliveryContext,
  type LgDirection,
  type UtmItem,
} from './types.ts';
