import { type Static, Type } from 'typebox';
import { Nullable } from './common.ts';

/**
 * One employee as `GET /rest/users` returns it.
 * @example `{ "id": 30, "displayName": "Иван Иванов", "ext": "901", "email": "ivan@example.com" }`
 */
export const User = Type.Object({
  id: Type.Integer(),
  displayName: Type.String(),
  ext: Type.String(),
  email: Nullable(Type.String()),
});
export type User = Static<typeof User>;
export const UserList = Type.Array(User);

/** `GET /rest/user/status` values. */
export const USER_STATUS = { online: 0, offline: 1, notMonitored: 2 } as const;

/**
 * `GET /rest/user/status` body.
 * @example `{ "status": 1 }`
 */
export const UserStatus = Type.Object({
  status: Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], {
    description: '0 online, 1 offline, 2 not monitored',
  }),
});
export type UserStatus = Static<typeof UserStatus>;
