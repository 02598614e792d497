import type { Socket } from 'node:net';
import { Ajv } from 'ajv';
import type { FastifyInstance } from 'fastify';

/**
 * Two validators: query strings and path parameters arrive as text, so they are coerced
 * (`limit=30` → 30, a single `field=x` → `['x']`); JSON bodies are typed already, so a wrong
 * type there is a 400, never silently converted (`"id": true` must not become contact 1).
 */
export function registerValidation(app: FastifyInstance) {
  const base = { useDefaults: true, removeAdditional: true, allErrors: false, strict: false } as const;
  const text = new Ajv({ ...base, coerceTypes: 'array' });
  const json = new Ajv({ ...base, coerceTypes: false });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? json : text).compile(schema));
}

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (a request line or headers
 * over the limit, garbage on the socket) also answer in plain text (spec #6).
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket) {
  if (!socket.writable) return socket.destroy();
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : 400;
  const reason =
    status === 431
      ? 'Request line or headers too large'
      : status === 413
        ? 'Request too large'
        : `Bad request: ${err.code ?? 'malformed HTTP'}`;
  const body = Buffer.from(reason, 'utf8');
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 413 ? 'Payload Too Large' : 'Bad Request'}\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${reason}`,
  );
}
