import type { User, UserStatus } from '@dzvin/protocol';
import type { Requester } from './phonet-client.ts';

/** `client.users`. @internal */
export function createUsersApi(c: Requester) {
  return {
    /**
     * The account's employees (`GET /rest/users`).
     * @example
     * ```ts
     * const byExt = new Map((await client.users.list()).map((u) => [u.ext, u]));
     * ```
     */
    list(opts: { signal?: AbortSignal } = {}): Promise<User[]> {
      return c.request({ method: 'GET', path: '/rest/users', signal: opts.signal });
    },
    /**
     * Status of the employee the API key acts as (`GET /rest/user/status`): 0 online, 1 offline,
     * 2 not monitored.
     * @example
     * ```ts
     * const { status } = await client.users.status();
     * ```
     */
    status(opts: { signal?: AbortSignal } = {}): Promise<UserStatus> {
      return c.request({ method: 'GET', path: '/rest/user/status', signal: opts.signal });
    },
  };
}
