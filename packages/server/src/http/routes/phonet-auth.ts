import {
  AuthorizeRequest,
  AuthorizeResponse,
  EmployeeSignInRequest,
  EmployeeSignInResponse,
} from '@dzvin/protocol';
import { Type } from 'typebox';
import { type App, errorResponses, type Services } from '../route-kit.ts';
import { sessionCookie, sessionToken } from '../session.ts';

/** `POST /rest/security/authorize` (spec #4, #5) and Dzvin's sign-out. */
export function phonetAuthRoutes(app: App, s: Services, sessionIdleSec: number) {
  app.post(
    '/rest/security/authorize',
    {
      schema: {
        tags: ['Phonet: session'],
        summary:
          'Authorize with the API key (and the domain, optional when the Host is the account domain); answers Set-Cookie: JSESSIONID',
        body: AuthorizeRequest,
        response: { 200: AuthorizeResponse, ...errorResponses(400, 403, 429) },
      },
    },
    async (request, reply) => {
      const { token, account } = await s.auth.authorize({
        host: request.hostname,
        ip: request.ip,
        domain: request.body.domain,
        apiKey: request.body.apiKey,
      });
      reply.header('set-cookie', sessionCookie(token));
      return { domain: account.domain, sessionIdleTimeoutSec: sessionIdleSec };
    },
  );

  app.post(
    '/api/v1/session/employee',
    {
      schema: {
        tags: ['Dzvin: account'],
        summary:
          "An employee signs in to the console with their ext and SIP password; answers Set-Cookie: JSESSIONID of a session that sees only the employee's own calls, the contacts book and their phone",
        body: EmployeeSignInRequest,
        response: { 200: EmployeeSignInResponse, ...errorResponses(400, 403, 429) },
      },
    },
    async (request, reply) => {
      const { token, account, employee } = await s.auth.authorizeEmployee({
        host: request.hostname,
        ip: request.ip,
        domain: request.body.domain,
        ext: request.body.ext,
        password: request.body.password,
      });
      reply.header('set-cookie', sessionCookie(token));
      return { domain: account.domain, sessionIdleTimeoutSec: sessionIdleSec, employee };
    },
  );

  app.post(
    '/api/v1/session/sign-out',
    {
      schema: {
        tags: ['Dzvin: account'],
        summary: 'End the current session (the JSESSIONID cookie stops working)',
        response: { 204: Type.Null({ description: 'Signed out' }) },
      },
    },
    async (request, reply) => {
      const token = sessionToken(request.headers.cookie);
      if (token) await s.auth.signOut(token);
      reply.header('set-cookie', `${sessionCookie('')}; Max-Age=0`);
      return reply.code(204).send(null);
    },
  );
}
