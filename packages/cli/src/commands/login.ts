import type { Command } from 'commander';
import {
  type ConnectionFlags,
  checkUrl,
  connectionOptions,
  DEFAULT_PROFILE,
  DEFAULT_URL,
  type Env,
  profilesPath,
  readProfiles,
  saveProfile,
} from '../connection.ts';
import { CliError } from '../errors.ts';
import { createAdminClient } from '../http-client.ts';
import { createOutput } from '../output.ts';
import { type JsonFlag, jsonOption } from './shared.ts';

/** `dzvin login`: check a key against the server, then save it as a profile (0600). */
export function registerLogin(program: Command, env: Env) {
  jsonOption(
    connectionOptions(
      program.command('login').description('check an API key against the server and save it as a profile'),
    ),
  ).action(async (o: ConnectionFlags & JsonFlag) => {
    const out = createOutput({ json: !!o.json });
    const name = o.profile ?? (env.DZVIN_PROFILE || undefined) ?? DEFAULT_PROFILE;
    const file = profilesPath(env);
    // Re-running login refreshes a profile: what is not given now comes from the saved one.
    const saved = readProfiles(file)[name] ?? {};
    const url = checkUrl(o.url ?? (env.DZVIN_URL || undefined) ?? saved.url ?? DEFAULT_URL);
    const apiKey = o.apiKey ?? (env.DZVIN_API_KEY || undefined) ?? saved.apiKey;
    if (!apiKey) throw new CliError('no API key: pass --api-key (or set DZVIN_API_KEY)');
    const account = await createAdminClient({ url, apiKey }).account.get();
    const domain = o.domain ?? (env.DZVIN_DOMAIN || undefined);
    if (domain !== undefined && domain.trim().toLowerCase() !== account.domain)
      throw new CliError(`the key belongs to ${account.domain}, not ${domain}; nothing saved`);
    saveProfile(file, name, { url, apiKey, domain: account.domain });
    out.result({ profile: name, file, url, domain: account.domain }, () =>
      out.line(
        `Signed in to ${account.domain} (${account.name}) at ${url}; saved as profile '${name}' in ${file}.`,
      ),
    );
  });
}
