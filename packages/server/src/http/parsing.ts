import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { badInput } from '../domain/errors.ts';

const MAX_QUERY_KEYS = 200;

/**
 * Query strings the way real Phonet clients send arrays (spec #7): repeated keys
 * (`a=1&a=2`) and PHP style (`a[]=1`, `a[0]=1`) all become `a: ['1', '2']`.
 */
export function parseQuery(qs: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null);
  let n = 0;
  for (const [rawKey, value] of new URLSearchParams(qs)) {
    if (++n > MAX_QUERY_KEYS) break;
    const m = /^(.+?)\[\d*\]$/.exec(rawKey);
    const key = m ? m[1] : rawKey;
    const prev = out[key];
    if (prev === undefined) out[key] = m ? [value] : value;
    else out[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/**
 * Request bodies: strict-but-safe JSON (no `__proto__` tricks), and — because `curl --data`
 * without a header sends form encoding — a body that starts like JSON is read as JSON whatever
 * its Content-Type; real form bodies are read as forms.
 */
export function registerBodyParsers(app: FastifyInstance) {
  app.removeAllContentTypeParsers();
  const parse = (contentType: string, body: string): unknown => {
    const text = body.trim();
    if (text === '') return undefined;
    if (/^[[{"]/.test(text) || /json/i.test(contentType)) {
      try {
        return sjson.parse(text, undefined, { protoAction: 'remove', constructorAction: 'remove' });
      } catch (e) {
        throw badInput(`Malformed JSON body: ${(e as Error).message}`);
      }
    }
    if (/x-www-form-urlencoded/i.test(contentType)) return Object.fromEntries(new URLSearchParams(text));
    throw badInput(`Unsupported body: send application/json`);
  };
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    try {
      done(null, parse(String(req.headers['content-type'] ?? ''), body as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
}
