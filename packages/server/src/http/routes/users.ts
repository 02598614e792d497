import { UserList, UserStatus } from '@dzvin/protocol';
import { type App, errorResponses, type Services } from '../route-kit.ts';

/** `GET /rest/users`, `GET /rest/user/status`. */
export function userRoutes(app: App, s: Services) {
  app.get(
    '/rest/users',
    {
      schema: {
        tags: ['Phonet: users'],
        summary: "The account's employees",
        response: { 200: UserList, ...errorResponses(403) },
      },
    },
    (request) => s.directory.users(request.account),
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
