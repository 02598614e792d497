// The Phonet REST API (/rest/…) through @dzvin/sdk's PhonetClient: session cookie, one
// re-authorization on 403, auto-pagination. The domain it signs in to comes from the flags,
// the environment or the profile, else it is asked of Dzvin's admin API.
import { PhonetApiError, PhonetClient, PhonetConnectionError, PhonetError } from '@dzvin/sdk';
import { type ConnectionFlags, type Env, resolveConnection } from './connection.ts';
import { ApiError, ConnectionError, createAdminClient } from './http-client.ts';
import { createOutput, type Output } from './output.ts';

/**
 * A PhonetClient and the output of a command, from its flags and the environment.
 * @example
 * const { client, out } = await openPhonet(flags, env);
 * out.result(await client.calls.active(), () => …);
 */
export async function openPhonet(
  flags: ConnectionFlags & { json?: boolean },
  env: Env,
): Promise<{ client: PhonetClient; out: Output; url: string }> {
  const conn = resolveConnection(flags, env);
  const domain =
    conn.domain?.trim() ||
    (await createAdminClient({ url: conn.url, apiKey: conn.apiKey }).account.get()).domain;
  const client = new PhonetClient({ domain, apiKey: conn.apiKey, baseUrl: conn.url });
  return { client, out: createOutput({ json: !!flags.json }), url: conn.url };
}

/**
 * Runs SDK calls, turning its errors into the CLI's (same messages and exit codes as the admin
 * commands): an HTTP refusal is an ApiError (exit 1), no answer a ConnectionError (exit 3).
 */
export async function sdk<T>(url: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fromSdkError(e, url);
  }
}

/** The CLI's error for one of the SDK's (anything else unchanged). */
export function fromSdkError(e: unknown, url: string): unknown {
  if (e instanceof PhonetApiError) return new ApiError(e.status ?? 0, e.text.trim() || 'no reason given');
  if (e instanceof PhonetConnectionError) return new ConnectionError(url, e.detail);
  if (e instanceof PhonetError) return new ApiError(e.status ?? 0, e.message);
  return e;
}
