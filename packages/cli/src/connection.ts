// Which server and key a command talks to: flags > environment > profile file > defaults.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { CliError } from './errors.ts';

export type Env = Record<string, string | undefined>;

export const DEFAULT_URL = 'http://127.0.0.1:8080';
export const DEFAULT_PROFILE = 'default';

/** One saved connection in profiles.json. */
export interface Profile {
  url?: string;
  apiKey?: string;
  /** The account's domain, as the server named it at login; the Phonet REST commands sign in with it. */
  domain?: string;
}

/** The connection flags every admin-API command takes (and `login`). */
export interface ConnectionFlags {
  url?: string;
  domain?: string;
  apiKey?: string;
  profile?: string;
}

export interface Connection {
  url: string;
  apiKey: string;
  domain: string | undefined;
}

/** `$XDG_CONFIG_HOME/dzvin/profiles.json`, else `~/.config/dzvin/profiles.json`. */
export function profilesPath(env: Env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'dzvin', 'profiles.json');
}

/** Every profile in the file; a missing file is no profiles, an unreadable one is a config error. */
export function readProfiles(file: string): Record<string, Profile> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CliError(
      `${file} must hold a JSON object of profiles, like { "default": { "url": …, "apiKey": … } }`,
    );
  return parsed as Record<string, Profile>;
}

/**
 * Adds or replaces one profile. The file holds API keys, so it is written 0600 (in a 0700
 * directory) through a temporary file and a rename: a reader never sees half a file.
 */
export function saveProfile(file: string, name: string, profile: Profile): void {
  const all = readProfiles(file);
  all[name] = profile;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
    fs.chmodSync(tmp, 0o600); // the umask may have narrowed it further, never widened; be exact
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new CliError(`cannot write ${file}: ${(e as Error).message}`);
  }
}

/** Adds --url, --domain, --api-key and --profile to a command. */
export function connectionOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', `server base URL (env DZVIN_URL, default ${DEFAULT_URL})`)
    .option(
      '--domain <domain>',
      'account domain for the Phonet REST sign-in (env DZVIN_DOMAIN; default: asked of the server)',
    )
    .option('--api-key <key>', 'account API key (env DZVIN_API_KEY)')
    .option('--profile <name>', `profile in profiles.json (env DZVIN_PROFILE, default '${DEFAULT_PROFILE}')`);
}

/** A checked http(s) base URL without a trailing slash. */
export function checkUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(`'${raw}' is not a URL; expected something like ${DEFAULT_URL}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new CliError(`'${raw}' must be an http:// or https:// URL`);
  if (u.search || u.hash) throw new CliError(`'${raw}' must be a base URL, without ?query or #fragment`);
  return u.toString().replace(/\/+$/, '');
}

/** The profile a command reads: --profile, DZVIN_PROFILE or 'default' (which may be absent). */
export function loadProfile(
  flags: ConnectionFlags,
  env: Env,
): { name: string; file: string; profile: Profile } {
  const file = profilesPath(env);
  const explicit = flags.profile ?? (env.DZVIN_PROFILE || undefined);
  const name = explicit ?? DEFAULT_PROFILE;
  const all = readProfiles(file);
  const profile = Object.hasOwn(all, name) ? all[name] : undefined;
  if (explicit !== undefined && !profile)
    throw new CliError(`no profile '${name}' in ${file}; save one with: dzvin login --profile ${name}`);
  if (profile !== undefined && (!profile || typeof profile !== 'object'))
    throw new CliError(`profile '${name}' in ${file} must be an object like { "url": …, "apiKey": … }`);
  return { name, file, profile: profile ?? {} };
}

/** Resolves the connection, field by field: flags > environment > profile > default. */
export function resolveConnection(flags: ConnectionFlags, env: Env): Connection {
  const { profile, name, file } = loadProfile(flags, env);
  const url = flags.url ?? (env.DZVIN_URL || undefined) ?? profile.url ?? DEFAULT_URL;
  const apiKey = flags.apiKey ?? (env.DZVIN_API_KEY || undefined) ?? profile.apiKey;
  const domain = flags.domain ?? (env.DZVIN_DOMAIN || undefined) ?? profile.domain;
  if (!apiKey)
    throw new CliError(
      `no API key: pass --api-key, set DZVIN_API_KEY, or save a profile with \`dzvin login\` (looked for profile '${name}' in ${file})`,
    );
  return { url: checkUrl(url), apiKey, domain };
}
