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

/**
 * `POST /api/v1/session/employee` (Dzvin): an employee signs in to the console with their ext and
 * SIP password (the one their phones register with). The same Host rule as authorize: `domain`
 * may be left out on the account's own Host. The session it opens sees only the employee's own
 * calls, the contacts book and their phone (`GET /api/v1/me`).
 */
export const EmployeeSignInRequest = Type.Object({
  domain: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
  ext: Type.String({ minLength: 1, maxLength: 20 }),
  password: Type.String({ minLength: 1, maxLength: 512 }),
});
export type EmployeeSignInRequest = Static<typeof EmployeeSignInRequest>;

export const EmployeeSignInResponse = Type.Object({
  domain: Type.String(),
  sessionIdleTimeoutSec: Type.Integer(),
  employee: Type.Object({ id: Type.Integer(), ext: Type.String(), displayName: Type.String() }),
});
export type EmployeeSignInResponse = Static<typeof EmployeeSignInResponse>;

/**
 * `GET /api/v1/me` (Dzvin): who the session is. An employee's session also gets what its browser
 * phone registers with: Kamailio's WebSocket (`wsUrl`, a path like `/sip` is on the console's own
 * origin, wss: on https), the AoR `ext@domain`, and the digest HA1 of their SIP password (realm =
 * domain; it only works for that ext and realm). `phone` is null with `phoneUnavailable` saying why
 * when the server has no WebSocket SIP listener.
 */
export const Me = Type.Object({
  domain: Type.String(),
  name: Type.String(),
  employee: Type.Union([
    Type.Object({ id: Type.Integer(), ext: Type.String(), displayName: Type.String() }),
    Type.Null(),
  ]),
  phone: Type.Union([
    Type.Object({
      wsUrl: Type.String(),
      ext: Type.String(),
      domain: Type.String(),
      ha1: Type.String(),
      displayName: Type.String(),
    }),
    Type.Null(),
  ]),
  phoneUnavailable: Type.Union([Type.String(), Type.Null()]),
});
export type Me = Static<typeof Me>;
