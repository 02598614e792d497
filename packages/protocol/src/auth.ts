import { type Static, Type } from 'typebox';

/**
 * `POST /rest/security/authorize` body. `domain` may be left out when the request's Host is the
 * account's domain (`https://{domain}/rest/security/authorize`, as some clients post only the
 * key); from any other Host it names the account (spec #4).
 * @example `{ "domain": "demo.localhost", "apiKey": "bHGbn240QSjFJgydW0WyZ3v6UeNDT8CV" }`
 * @example `{ "apiKey": "bHGbn240QSjFJgydW0WyZ3v6UeNDT8CV" }` (sent to Host `demo.localhost`)
 */
export const AuthorizeRequest = Type.Object({
  domain: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 253,
      description: 'The account domain; optional when the Host is that domain',
    }),
  ),
  apiKey: Type.String({ minLength: 1, maxLength: 512 }),
});
export type AuthorizeRequest = Static<typeof AuthorizeRequest>;

/**
 * Body of a successful authorize (the document only promises the `Set-Cookie` header; Dzvin adds
 * this small JSON object so clients that parse the body do not break).
 */
export const AuthorizeResponse = Type.Object({
  domain: Type.String(),
  sessionIdleTimeoutSec: Type.Integer(),
});
export type AuthorizeResponse = Static<typeof AuthorizeResponse>;

/** Name of the session cookie (spec decision #5). */
export const SESSION_COOKIE = 'JSESSIONID';
