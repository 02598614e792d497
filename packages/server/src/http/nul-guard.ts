import type { FastifyInstance } from 'fastify';
import { badInput } from '../domain/errors.ts';

/** Whether any string (or key) in a parsed value holds U+0000; iterative, so any depth is fine. */
export function containsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return true;
    } else if (Array.isArray(v)) stack.push(...v);
    else if (v !== null && typeof v === 'object')
      for (const k of Object.keys(v)) {
        if (k.includes('\u0000')) return true;
        stack.push((v as Record<string, unknown>)[k]);
      }
  }
  return false;
}

/**
 * A NUL character anywhere in a request's path parameters, query or body is a 400 (spec #6), on
 * every database alike: PostgreSQL text cannot hold one (it was a 500 there), and no Phonet field
 * has a use for it. Runs before validation and before the session guards.
 */
export function registerNulGuard(app: FastifyInstance) {
  // Callback style: it runs on every request, and an async hook costs a promise each time.
  app.addHook('preValidation', (request, _reply, done) => {
    if (containsNul(request.params) || containsNul(request.query) || containsNul(request.body))
      return done(badInput('Text must not contain NUL characters (U+0000)'));
    done();
  });
}
