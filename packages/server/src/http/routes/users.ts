import { type User, UserList, UserStatus } from '@dzvin/protocol';
import type { FastifyReply } from 'fastify';
import { type App, errorResponses, type Services } from '../route-kit.ts';

/** `GET /rest/users`, `GET /rest/user/status`. */
export function userRoutes(app: App, s: Services) {
  // The directory hands out the same list object for as long as it remembers an account's
  // employees (and a new one after any change), so the route's own serializer runs once per
  // list, not once per request: integrations poll this endpoint.
  const serialized = new WeakMap<readonly User[], string>();
  app.get(
    '/rest/users',
    {
      schema: {
        tags: ['Phonet: users'],
        summary: "The account's employees",
        response: { 200: UserList, ...errorResponses(403) },
      },
    },
    // The reply is widened to FastifyReply: its typed send() expects the users as objects.
    async (request, reply) => {
      const users = await s.directory.users(request.account);
      let json = serialized.get(users);
      if (json === undefined) {
        json = String(reply.serialize(users));
        serialized.set(users, json);
      }
      return (reply as FastifyReply).type('application/json; charset=utf-8').send(json);
    },
  );
  app.get(
    '/rest/user/status',
    {
      schema: {
        tags: ['Phonet: users'],
        summary: 'Status of the employee the API key acts as: 0 online, 1 offline, 2 not monitored',
        response: { 200: UserStatus, ...errorResponses(403) },
      },
    },
    (request) => s.directory.userStatus(request.account),
  );
}
