import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  ADMIN_PREFIX,
  Delivery,
  DeliveryAttempt,
  DeliveryIdParams,
  DeliveryListQuery,
  DeliveryReplayRequest,
  DeliveryReplayResponse,
  type DeliveryStatus,
  DeliveryTestResponse,
  IdParams,
} from '@dzvin/protocol';
import { Type } from 'typebox';
import type { Clock } from '../../domain/clock.ts';
import { DomainError, notFound } from '../../domain/errors.ts';
import type { DeliveryRecord, Store } from '../../domain/ports.ts';
import type { EventStream, StreamEvent } from '../../integrations/event-stream.ts';
import type { Outbox } from '../../integrations/outbox/outbox.ts';
import { callEventPayload } from '../../integrations/outbox/payload.ts';
import { type App, errorResponses, type Services } from '../route-kit.ts';

const view = (d: DeliveryRecord): Delivery => ({
  id: d.id,
  connectionId: d.connectionId,
  kind: d.kind,
  event: d.event,
  orderKey: d.orderKey,
  status: d.status,
  attempts: d.attempts,
  createdAt: d.createdAt,
  nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt : null,
  lastAttemptAt: d.lastAttemptAt,
  lastStatus: d.lastStatus,
  lastError: d.lastError,
  lastLatencyMs: d.lastLatencyMs,
  responseExcerpt: d.responseExcerpt,
  deliveredAt: d.deliveredAt,
  webhookId: d.webhookId,
  payload: d.payload,
});

const HEARTBEAT_MS = 15_000;

/**
 * The delivery log with replay, a "send test" per connection (spec #18, Dzvin extensions) and
 * the live event stream (Server-Sent Events), under /api/v1/.
 */
export function deliveryRoutes(
  app: App,
  s: Services,
  deps: { store: Store; outbox: Outbox; stream: EventStream; clock: Clock },
) {
  const tags = ['Dzvin: deliveries'];
  const { store, outbox, clock } = deps;

  app.get(
    `${ADMIN_PREFIX}/crm-connections/:id/deliveries`,
    {
      schema: {
        tags,
        summary: 'Delivery log of a CRM connection, newest first',
        params: IdParams,
        querystring: DeliveryListQuery,
        response: { 200: Type.Array(Delivery), ...errorResponses(400, 403, 404) },
      },
    },
    async (r) => {
      await s.directory.crm.get(r.account, r.params.id);
      const rows = await store.outbox.list(r.account.id, {
        connectionId: r.params.id,
        status: r.query.status,
        limit: r.query.limit ?? 50,
        beforeId: r.query.before,
      });
      return rows.map(view);
    },
  );

  app.get(
    `${ADMIN_PREFIX}/deliveries/:id`,
    {
      schema: {
        tags,
        summary: 'One delivery',
        params: DeliveryIdParams,
        response: { 200: Delivery, ...errorResponses(400, 403, 404) },
      },
    },
    async (r) => {
      const d = await store.outbox.get(r.account.id, r.params.id);
      if (!d) throw notFound('NOT_FOUND', `Delivery ${r.params.id} not found`);
      return view(d);
    },
  );

  app.get(
    `${ADMIN_PREFIX}/deliveries/:id/attempts`,
    {
      schema: {
        tags,
        summary: 'Every attempt of one delivery, oldest first (answers, errors, latencies)',
        params: DeliveryIdParams,
        response: { 200: Type.Array(DeliveryAttempt), ...errorResponses(400, 403, 404) },
      },
    },
    async (r): Promise<DeliveryAttempt[]> => {
      const list = await store.outbox.attempts(r.account.id, r.params.id);
      if (!list) throw notFound('NOT_FOUND', `Delivery ${r.params.id} not found`);
      return list.map((a) => ({
        attempt: a.attempt,
        at: a.at,
        status: a.httpStatus,
        error: a.error,
        latencyMs: a.latencyMs,
        responseExcerpt: a.excerpt,
      }));
    },
  );

  app.post(
    `${ADMIN_PREFIX}/deliveries/:id/replay`,
    {
      schema: {
        tags,
        summary: 'Send one delivery again (whatever its status), with a fresh retry window',
        params: DeliveryIdParams,
        response: { 200: DeliveryReplayResponse, ...errorResponses(400, 403, 404) },
      },
    },
    async (r) => {
      const replayed = await store.outbox.replay(r.account.id, { ids: [r.params.id] }, clock.now());
      if (!replayed) throw notFound('NOT_FOUND', `Delivery ${r.params.id} not found`);
      outbox.notify();
      return { replayed };
    },
  );

  app.post(
    `${ADMIN_PREFIX}/crm-connections/:id/deliveries/replay`,
    {
      schema: {
        tags,
        summary: 'Send again every failed and dead delivery of a connection (or those of `statuses`)',
        params: IdParams,
        body: Type.Optional(DeliveryReplayRequest),
        response: { 200: DeliveryReplayResponse, ...errorResponses(400, 403, 404) },
      },
    },
    async (r) => {
      await s.directory.crm.get(r.account, r.params.id);
      const statuses: DeliveryStatus[] = r.body?.statuses ?? ['failed', 'dead'];
      const replayed = await store.outbox.replay(
        r.account.id,
        { connectionId: r.params.id, statuses },
        clock.now(),
      );
      outbox.notify();
      return { replayed };
    },
  );

  app.post(
    `${ADMIN_PREFIX}/crm-connections/:id/test`,
    {
      schema: {
        tags,
        summary:
          'Send a sample call.dial event to this connection (through the outbox, signed if it has a secret)',
        params: IdParams,
        response: { 200: DeliveryTestResponse, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (r) => {
      const c = await s.directory.crm.get(r.account, r.params.id);
      if (!c.eventsUrl) throw new DomainError('CONFLICT', 'The connection has no eventsUrl');
      const uuid = randomUUID().replaceAll('-', '');
      const now = clock.now();
      const payload = callEventPayload(
        'call.dial',
        {
          uuid,
          accountId: r.account.id,
          parentUuid: null,
          direction: 4,
          leg: { type: 1, id: 0, ext: '000', displayName: 'Dzvin test' },
          leg2: null,
          otherLegNum: '+380000000000',
          otherLegName: null,
          otherLegs: [],
          trunkNum: '+380000000000',
          trunkName: 'Dzvin test',
          dialAt: now,
          bridgeAt: null,
          lastEvent: 'call.dial',
        },
        r.account.domain,
        now,
      );
      await outbox.enqueue(store, [
        { accountId: r.account.id, connectionId: c.id, kind: 'event', orderKey: uuid, payload },
      ]);
      outbox.notify();
      return { enqueued: 1, uuid };
    },
  );

  const open = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });
  app.get(
    `${ADMIN_PREFIX}/events/stream`,
    {
      schema: {
        tags,
        summary:
          'Live call events of the account (Server-Sent Events): `event: call.dial|call.bridge|call.hangup`, `data:` the webhook payload (and `call.update`, a Dzvin extension in the same shape: a call went into an IVR); heartbeats every 15 s; Last-Event-ID resumes within recent events',
        response: {
          200: {
            description: 'text/event-stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errorResponses(403),
        },
      },
    },
    (r, reply) => {
      const lastRaw = r.headers['last-event-id'];
      const last = typeof lastRaw === 'string' && /^[\w.:-]{1,64}$/.test(lastRaw) ? lastRaw : undefined;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': dzvin live events\nretry: 2000\n\n');
      open.add(res);
      // An employee's own session: the events of the calls they are on.
      const mine = r.employeeId;
      const send = (e: StreamEvent) => {
        if (mine !== null && e.data.leg?.id !== mine && e.data.leg2?.id !== mine) return;
        res.write(`id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
      };
      const sub = deps.stream.subscribe(r.account, send, last);
      for (const e of sub.missed) send(e);
      const beat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
      beat.unref();
      const done = () => {
        clearInterval(beat);
        sub.unsubscribe();
        open.delete(res);
      };
      res.on('close', done);
      r.raw.on('close', done);
    },
  );
}
