import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { DomainError, ERROR_CODES } from '../domain/errors.ts';

/** Plain-text error bodies, as the document promises (spec #6). */
export function sendText(reply: FastifyReply, status: number, text: string) {
  return reply.code(status).type('text/plain; charset=utf-8').send(text);
}

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * The database is away (PostgreSQL restarting, connections refused or cut, SQLite locked past
 * its busy timeout): the request may succeed if sent again, so 503 + Retry-After, not a 500.
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | null;
  const code = err?.code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'SQLITE_BUSY', 'SQLITE_LOCKED'].includes(code))
    return true;
  // PostgreSQL: connection exceptions (08…), operator intervention (57P…), too many connections.
  if (/^(08...|57P0[1-4]|53300)$/.test(code)) return true;
  const msg = err?.message ?? '';
  return /Connection terminated|timeout exceeded when trying to connect|the database system is (starting up|shutting down)|is not currently accepting connections|terminating connection due to administrator command/i.test(
    msg,
  );
}

function validationText(err: FastifyError): string {
  const [first] = err.validation ?? [];
  const where = err.validationContext ?? 'request';
  const path = first?.instancePath?.replace(/^\//, '').replaceAll('/', '.') ?? '';
  const missing = (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
  const name = missing ?? path;
  const msg = missing ? 'is required' : (first?.message ?? 'is invalid');
  if (where === 'querystring' || where === 'params') return `Invalid parameter '${name}': ${msg}`;
  return name ? `Invalid ${where} '${name}': ${msg}` : `Invalid ${where}: ${msg}`;
}

/**
 * One table from failure to HTTP: DomainError codes via ERROR_CODES, Fastify's own client
 * errors keep their 4xx status, unique-index races are 409, a database that is away is 503
 * (Retry-After), everything else is a logged 500
 * with no internals in the body.
 */
export function registerErrorHandling(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof DomainError) {
      if (err.retryAfterSec) reply.header('retry-after', String(err.retryAfterSec));
      return sendText(reply, ERROR_CODES[err.code], err.message);
    }
    if (err.validation) return sendText(reply, 400, validationText(err));
    if (isUniqueViolation(err)) return sendText(reply, 409, 'Conflict: that value is already taken');
    if (isDatabaseUnavailable(err)) {
      request.log.warn({ err }, 'database unavailable');
      reply.header('retry-after', '5');
      return sendText(reply, 503, 'Database unavailable; try again shortly');
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendText(reply, status, err.message);
    request.log.error({ err }, 'unhandled error');
    return sendText(reply, 500, 'Internal server error');
  });
  app.setNotFoundHandler((request, reply) =>
    sendText(reply, 404, `Not found: ${request.method} ${request.url.split('?')[0]}`),
  );
}
