// What an employee's own session may use (signed in with their ext and SIP password, for the
// console's Phone, issue 18): their own calls (live, hang up, click-to-call from their ext, their
// history legs and recordings), the contacts book to read and to add notes to, the colleagues'
// names and exts (to transfer to), and `GET /api/v1/me` for their phone's settings. Nothing of
// the account's settings, keys, integrations, directory or other employees' calls. The listed
// routes filter what they answer to the employee (calls-live.ts, calls-history.ts, the event
// stream); everything else answers 403 with the reason.
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../domain/errors.ts';

const CONTACTS = '/rest/crm/contacts/v2';
const ALLOWED = new Set([
  'GET /api/v1/me',
  'GET /api/v1/events/stream',
  'GET /rest/users',
  'GET /rest/calls/active/v3',
  'GET /rest/calls/active/:uuid/hangup',
  'POST /rest/calls/active/:uuid/hangup',
  'POST /rest/user/makeCall',
  'GET /rest/calls/users.api',
  `GET ${CONTACTS}/`,
  `GET ${CONTACTS}/searchByOLNum`,
  `GET ${CONTACTS}/:id`,
  `GET ${CONTACTS}/:id/notes`,
  `POST ${CONTACTS}/:id/notes`,
]);

/** Throws a 403 when the request's session is an employee's and the route is not theirs to use. */
export function checkEmployeeScope(request: FastifyRequest): void {
  if (request.employeeId === null) return;
  const method = request.method === 'HEAD' ? 'GET' : request.method;
  const route = request.routeOptions.url ?? request.url;
  if (ALLOWED.has(`${method} ${route}`)) return;
  throw new DomainError(
    'EMPLOYEE_SCOPE',
    `An employee's session cannot use ${method} ${route}: it sees the employee's own calls, contacts and phone; sign in with the account's API key for the rest`,
  );
}
