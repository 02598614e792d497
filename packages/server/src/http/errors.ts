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
 * errors keep their 4xx status, unique-index races are 409, everything else is a logged 500
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
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendText(reply, status, err.message);
    request.log.error({ err }, 'unhandled error');
    return sendText(reply, 500, 'Internal server error');
  });
  app.setNotFoundHandler((request, reply) =>
    sendText(reply, 404, `Not found: ${request.method} ${request.url.split('?')[0]}`),
  );
}
