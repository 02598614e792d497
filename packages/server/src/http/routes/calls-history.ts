import { CallHistoryQuery, CallHistoryRecord } from '@dzvin/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { type App, errorResponses, type Services } from '../route-kit.ts';

const tags = ['Phonet: call history'];
const CallHistoryList = Type.Array(CallHistoryRecord);

/** Recording links point at the scheme and Host the client called (behind a proxy: X-Forwarded-*). */
const baseUrl = (request: FastifyRequest) => `${request.protocol}://${request.host}`;

const PAGING =
  'timeFrom/timeTo required (ms; below 1e12 read as seconds), limit 0..50 (default 50), offset; newest first';

const ENDPOINTS = [
  ['company', 'Finished company calls, one record each (directions 1/2/4 in any encoding)'],
  ['missed', 'Incoming calls nobody answered and nobody has answered a call with that number since'],
  ['users', 'Employee call legs and pause records (directions 1/2/4, 32 pause, 64 unpause)'],
] as const;

/** `GET /rest/calls/company.api`, `/rest/calls/missed.api`, `/rest/calls/users.api`. */
export function callHistoryRoutes(app: App, s: Services) {
  for (const [name, summary] of ENDPOINTS)
    app.get(
      `/rest/calls/${name}.api`,
      {
        schema: {
          tags,
          summary,
          description: PAGING,
          querystring: CallHistoryQuery,
          response: { 200: CallHistoryList, ...errorResponses(400, 403) },
        },
      },
      // The store answers JSON text (the records built by the database); a string sent as
      // application/json goes out as it is, without a second serialization.
      // (The reply is widened to FastifyReply: its typed send() expects the records as objects.)
      async (request, reply) =>
        (reply as FastifyReply)
          .type('application/json; charset=utf-8')
          .send(
            name === 'users'
              ? await s.history.users(request.account, request.query, baseUrl(request), request.employeeId)
              : await s.history[name](request.account, request.query, baseUrl(request)),
          ),
    );
}
