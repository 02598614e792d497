import {
  ADMIN_PREFIX,
  CallbackRequest,
  CallbackResponse,
  IdParams,
  PublicDomainParams,
  TrackingNumber,
  TrackingNumberCreate,
  TrackingSessionResponse,
  VisitInfo,
} from '@dzvin/protocol';
import { Type } from 'typebox';
import type { TrackingService } from '../../integrations/tracking.ts';
import { type App, errorResponses } from '../route-kit.ts';

/** The account's tracking pool (admin API): trunk numbers dedicated to call tracking. */
export function trackingAdminRoutes(app: App, tracking: TrackingService) {
  const base = `${ADMIN_PREFIX}/tracking/numbers`;
  const tags = ['Dzvin: call tracking'];
  app.get(
    base,
    {
      schema: {
        tags,
        summary: 'The tracking pool',
        response: { 200: Type.Array(TrackingNumber), ...errorResponses(403) },
      },
    },
    (r) => tracking.numbers.list(r.account),
  );
  app.post(
    base,
    {
      schema: {
        tags,
        summary: 'Add a trunk number of the account to the tracking pool',
        body: TrackingNumberCreate,
        response: { 201: TrackingNumber, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (r, reply) => reply.code(201).send(await tracking.numbers.add(r.account, r.body.number)),
  );
  app.delete(
    `${base}/:id`,
    {
      schema: {
        tags,
        summary: 'Remove a number from the tracking pool',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(400, 403, 404) },
      },
    },
    async (r, reply) => {
      await tracking.numbers.remove(r.account, r.params.id);
      return reply.code(204).send(null);
    },
  );
}

/**
 * Public endpoints for websites (no session; keyed by account domain), with CORS so a page on
 * any origin can call them. The client IP is the request's (`DZVIN_TRUST_PROXY` behind a proxy).
 */
export function trackingPublicRoutes(app: App, tracking: TrackingService) {
  const prefix = `${ADMIN_PREFIX}/public/:domain`;
  const tags = ['Dzvin: call tracking (public)'];
  app.addHook('onSend', async (req, reply, payload) => {
    if (req.url.startsWith(`${ADMIN_PREFIX}/public/`)) {
      reply.header('access-control-allow-origin', '*');
      reply.header('access-control-allow-methods', 'POST, OPTIONS');
      reply.header('access-control-allow-headers', 'content-type');
      reply.header('access-control-max-age', '86400');
    }
    return payload;
  });
  for (const path of ['tracking/sessions', 'callback'])
    app.options(
      `${prefix}/${path}`,
      { schema: { tags, summary: 'CORS preflight', params: PublicDomainParams } },
      (_r, reply) => reply.code(204).send(null),
    );
  app.post(
    `${prefix}/tracking/sessions`,
    {
      schema: {
        tags,
        summary: 'A website session: reserve a tracking number for its window',
        description:
          'Registers the visit (UTM parameters, Google client id, referrer; the IP is the request’s) and answers a number of the account’s tracking pool, reserved for this session for DZVIN_TRACKING_SESSION_SECONDS (the least recently given free one). An incoming call to it within the window is sent in UTM batches with label `calltracker`. 409 when every number is in use.',
        params: PublicDomainParams,
        body: VisitInfo,
        response: { 201: TrackingSessionResponse, ...errorResponses(400, 404, 409, 429) },
      },
    },
    async (r, reply) =>
      reply.code(201).send(await tracking.startSession(r.params.domain, r.body ?? {}, r.ip || null)),
  );
  app.post(
    `${prefix}/callback`,
    {
      schema: {
        tags,
        summary: 'Callback widget: the PBX calls the visitor back',
        description:
          'Rings `target` (an employee or ring group ext; default: the destination of the default trunk) and, when someone answers, the visitor’s number. Sent in UTM batches with label `callcatcher` (plus `firstcall` when the number never called the account before).',
        params: PublicDomainParams,
        body: CallbackRequest,
        response: { 201: CallbackResponse, ...errorResponses(400, 404, 409, 429) },
      },
    },
    async (r, reply) => reply.code(201).send(await tracking.callback(r.params.domain, r.body, r.ip || null)),
  );
}
