import { SESSION_COOKIE } from '@dzvin/protocol';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { AuthService } from '../domain/accounts/auth-service.ts';
import type { AccountRecord } from '../domain/ports.ts';
import { checkEmployeeScope } from './employee-scope.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in account; set by the session guard. */
    account: AccountRecord;
    /**
     * The employee of an employee's own session (the console's Phone), whose routes are limited
     * to http/employee-scope.ts and filtered to them; null for the account's session or API key.
     */
    employeeId: number | null;
  }
}

const SESSION_PREFIX = `${SESSION_COOKIE}=`;
const TOKEN = /^[A-Za-z0-9]{16,128}$/;

/** The JSESSIONID value from a Cookie header; tolerant of spacing, quoting and other cookies. */
export function sessionToken(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  // The common case, `JSESSIONID=<token>` alone, without splitting and trimming.
  if (cookieHeader.startsWith(SESSION_PREFIX) && TOKEN.test(cookieHeader.slice(SESSION_PREFIX.length)))
    return cookieHeader.slice(SESSION_PREFIX.length);
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const v = part
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (TOKEN.test(v)) return v;
  }
  return undefined;
}

/** The documented cookie, exactly (spec #5). */
export const sessionCookie = (token: string) => `${SESSION_COOKIE}=${token}; Path=/; HttpOnly`;

/**
 * preHandler for Phonet's REST API: a live session or 403. Callback style, so a session answered
 * from memory (`resolveSessionNow`) costs no promise; anything else takes `resolveSession`.
 */
export function requireSession(auth: AuthService) {
  return (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const token = sessionToken(request.headers.cookie);
    const host = request.hostname;
    const known = auth.resolveSessionNow(token, host);
    if (known) {
      request.account = known.account;
      request.employeeId = known.employeeId;
      if (known.employeeId !== null) return scoped(request, done);
      return done();
    }
    auth.resolveSession(token, host).then((view) => {
      request.account = view.account;
      request.employeeId = view.employeeId;
      scoped(request, done);
    }, done);
  };
}

function scoped(request: FastifyRequest, done: HookHandlerDoneFunction) {
  try {
    checkEmployeeScope(request);
  } catch (err) {
    return done(err as Error);
  }
  done();
}

/**
 * preHandler for Dzvin's admin API: `Authorization: Bearer <apiKey>` or a session cookie (an
 * employee's session: only the routes of http/employee-scope.ts).
 */
export function requireAdmin(auth: AuthService) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (m) {
      request.account = await auth.resolveApiKey(m[1], request.hostname, request.ip);
      request.employeeId = null;
      return;
    }
    const view = await auth.resolveSession(sessionToken(request.headers.cookie), request.hostname);
    request.account = view.account;
    request.employeeId = view.employeeId;
    checkEmployeeScope(request);
  };
}
