import { type Static, Type } from 'typebox';
import { EpochMs, Id, Nullable } from './common.ts';

/** A delivery's state: `failed` = a final answer (4xx other than 408/429), `dead` = retried too long. */
export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed', 'dead'] as const;
export const DeliveryStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('delivered'),
  Type.Literal('failed'),
  Type.Literal('dead'),
]);
export type DeliveryStatus = Static<typeof DeliveryStatus>;

/**
 * One webhook delivery (a call event or a UTM batch to one CRM connection) as the delivery log
 * shows it (`GET /api/v1/crm-connections/{id}/deliveries`).
 * @example `{ "id": 7, "connectionId": 2, "kind": "event", "event": "call.dial", "orderKey": "47a9…", "status": "delivered", "attempts": 1, "createdAt": 1764190000000, "nextAttemptAt": 1764190000000, "lastAttemptAt": 1764190000004, "lastStatus": 200, "lastError": null, "lastLatencyMs": 3, "responseExcerpt": "ok", "deliveredAt": 1764190000004, "webhookId": "msg_…", "payload": "{\"event\":\"call.dial\",…}" }`
 */
export const Delivery = Type.Object({
  id: Type.Integer(),
  connectionId: Type.Integer(),
  kind: Type.String({ description: 'event | utm' }),
  event: Nullable(Type.String()),
  orderKey: Type.String({
    description: 'Deliveries with the same key go to a connection in order (the call uuid)',
  }),
  status: DeliveryStatus,
  attempts: Type.Integer(),
  createdAt: EpochMs,
  nextAttemptAt: Nullable(EpochMs),
  lastAttemptAt: Nullable(EpochMs),
  lastStatus: Nullable(Type.Integer({ description: 'HTTP status of the last attempt' })),
  lastError: Nullable(Type.String()),
  lastLatencyMs: Nullable(Type.Integer()),
  responseExcerpt: Nullable(Type.String({ description: 'The first 1 KB of the last answer' })),
  deliveredAt: Nullable(EpochMs),
  webhookId: Type.String({ description: 'Standard Webhooks webhook-id, stable across retries' }),
  payload: Type.String({ description: 'The JSON body, as text' }),
});
export type Delivery = Static<typeof Delivery>;

/**
 * One attempt of a delivery (`GET /api/v1/deliveries/{id}/attempts`, oldest first). A delivery
 * attempted again keeps every earlier attempt here; the last one is also the delivery's `last…`.
 */
export const DeliveryAttempt = Type.Object({
  attempt: Type.Integer({ description: '1 for the first attempt' }),
  at: EpochMs,
  status: Nullable(
    Type.Integer({ description: 'HTTP status of the answer; null when there was none (see error)' }),
  ),
  error: Nullable(Type.String()),
  latencyMs: Nullable(Type.Integer()),
  responseExcerpt: Nullable(Type.String({ description: 'The first 1 KB of the answer' })),
});
export type DeliveryAttempt = Static<typeof DeliveryAttempt>;

export const DeliveryListQuery = Type.Object({
  status: Type.Optional(DeliveryStatus),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  before: Type.Optional(
    Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Ids below this (paging)' }),
  ),
});
export type DeliveryListQuery = Static<typeof DeliveryListQuery>;

export const DeliveryReplayRequest = Type.Object({
  statuses: Type.Optional(
    Type.Array(DeliveryStatus, { minItems: 1, maxItems: 4, description: 'Default: failed and dead' }),
  ),
});
export type DeliveryReplayRequest = Static<typeof DeliveryReplayRequest>;
export const DeliveryReplayResponse = Type.Object({ replayed: Type.Integer() });
export type DeliveryReplayResponse = Static<typeof DeliveryReplayResponse>;

export const DeliveryTestResponse = Type.Object({ enqueued: Type.Integer(), uuid: Type.String() });
export type DeliveryTestResponse = Static<typeof DeliveryTestResponse>;

export const DeliveryIdParams = Type.Object({ id: Id });
