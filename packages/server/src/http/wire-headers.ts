import {
  type IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  ServerResponse,
} from 'node:http';

/**
 * Names whose canonical spelling is not "capitalize each part" (RFC 9110's registry, and how a
 * servlet container writes them).
 */
const SPECIAL: Record<string, string> = {
  etag: 'ETag',
  'www-authenticate': 'WWW-Authenticate',
  'content-md5': 'Content-MD5',
  te: 'TE',
  dnt: 'DNT',
  'x-xss-protection': 'X-XSS-Protection',
};

/** Header names are few (our own code sets them); the bound only guards against surprises. */
const CACHE_MAX = 1000;
const cache = new Map<string, string>();

/** `content-type` → `Content-Type`, `etag` → `ETag`, `x-accel-buffering` → `X-Accel-Buffering`. */
export function canonicalHeaderName(name: string): string {
  let c = cache.get(name);
  if (c === undefined) {
    const lower = name.toLowerCase();
    c =
      SPECIAL[lower] ??
      lower
        .split('-')
        .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
        .join('-');
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(name, c);
  }
  return c;
}

type Headers = OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined;

/**
 * The same headers under canonical names: an object, a flat `[name, value, …]` list, or (what
 * Node also accepts at run time) a list of `[name, value]` pairs.
 */
function canonicalHeaders(headers: Headers): Headers {
  if (!headers) return headers;
  if (Array.isArray(headers)) {
    if (Array.isArray(headers[0]))
      return (headers as unknown as [string, OutgoingHttpHeader][]).map(([k, v]) => [
        canonicalHeaderName(k),
        v,
      ]) as unknown as OutgoingHttpHeader[];
    const out = headers.slice();
    for (let i = 0; i < out.length; i += 2) out[i] = canonicalHeaderName(String(out[i]));
    return out;
  }
  let changed = false;
  for (const k in headers)
    if (canonicalHeaderName(k) !== k) {
      changed = true;
      break;
    }
  if (!changed) return headers;
  const out: OutgoingHttpHeaders = {};
  for (const k in headers) out[canonicalHeaderName(k)] = headers[k];
  return out;
}

/** Node ≥ 15.13 has it (the names as set, not lower-cased); @types/node 20 does not declare it. */
type RawHeaderNames = { getRawHeaderNames(): string[] };

/**
 * A ServerResponse that writes every header name in canonical case (`Set-Cookie`, `Content-Type`,
 * `Retry-After`, `ETag`…), as the Phonet cloud (a Java servlet server) does. Fastify keeps names
 * lower-case, and Phonet clients in the wild look headers up by their exact name: a PHP (Guzzle)
 * client fails with "Failed fetch cookies from headers" on `set-cookie` (issue #13).
 *
 * Every way a response starts goes through `writeHead`: Fastify's own call with its header
 * object, streams (headers set through `setHeader`, then Node's implicit `writeHead` on the first
 * write) and hijacked replies (SSE). Names set earlier with `setHeader` are renamed in place
 * (same lower-case key, so nothing is sent twice); names passed to `writeHead` are renamed
 * before Node sees them. Installed once for the server (`http.createServer`'s `ServerResponse`
 * option), so a request costs a few cached look-ups and no closure.
 */
export class CanonicalServerResponse<
  Request extends IncomingMessage = IncomingMessage,
> extends ServerResponse<Request> {
  override writeHead(
    statusCode: number,
    statusMessage?: string,
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this;
  override writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  override writeHead(
    statusCode: number,
    reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    if (!this.headersSent)
      for (const name of (this as unknown as RawHeaderNames).getRawHeaderNames()) {
        const c = canonicalHeaderName(name);
        if (c !== name) this.setHeader(c, this.getHeader(name) as OutgoingHttpHeader);
      }
    if (typeof reason === 'string') return super.writeHead(statusCode, reason, canonicalHeaders(headers));
    return super.writeHead(statusCode, canonicalHeaders(reason));
  }
}

/** Fastify's `http` option that installs it: `Fastify({ http: canonicalHeaderServerOptions, … })`. */
export const canonicalHeaderServerOptions = { ServerResponse: CanonicalServerResponse };
