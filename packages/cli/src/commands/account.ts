import { type Account, type AccountPatch, PHONE_MODES, type PhoneMode } from '@dzvin/protocol';
import { type Command, InvalidArgumentError } from 'commander';
import type { ConnectionFlags, Env } from '../connection.ts';
import { CliError, EXIT } from '../errors.ts';
import { type Column, createOutput, type Output, time } from '../output.ts';
import { adminCommand, type JsonFlag, jsonOption, open, parseId } from './shared.ts';

const ACCOUNT_COLUMNS: Column<Account>[] = [
  { header: 'domain', value: (a) => a.domain },
  { header: 'name', value: (a) => a.name },
  { header: 'country', value: (a) => a.defaultCountry },
  { header: 'api user', value: (a) => a.apiUserId },
  { header: 'phones', value: (a) => (a.phonesDefault ? `${a.phones} (default)` : a.phones) },
  { header: 'created', value: (a) => time(a.createdAt) },
];

/**
 * Operator commands work on the database itself (DATABASE_URL, as the server reads it), so they
 * need no running server and no key: that is how the first key of an account comes to exist.
 */
async function withAccounts<T>(
  env: Env,
  fn: (deps: {
    accounts: ReturnType<typeof import('@dzvin/server/operator').createAccountService>;
    store: ReturnType<typeof import('@dzvin/server/operator').createStore>;
    description: string;
  }) => Promise<T>,
): Promise<T> {
  const server = await import('@dzvin/server/operator');
  let config: import('@dzvin/server/operator').Config;
  try {
    config = server.parseConfig(env);
  } catch (e) {
    if (e instanceof server.ConfigError) throw new CliError(e.message, EXIT.USAGE);
    throw e;
  }
  let database: Awaited<ReturnType<typeof server.openDatabase>>;
  try {
    database = await server.openDatabase(config.databaseUrl, { poolSize: 1 });
  } catch (e) {
    const code = networkCode(e);
    if (code)
      throw new CliError(
        `cannot connect to the database ${redact(config.databaseUrl)}: ${code}`,
        EXIT.CANNOT_CONNECT,
      );
    throw new CliError(
      `cannot open the database ${redact(config.databaseUrl)}: ${(e as Error).message}`,
      EXIT.USAGE,
    );
  }
  try {
    const store = server.createStore(database.db);
    const accounts = server.createAccountService({ store, clock: server.systemClock });
    return await fn({ accounts, store, description: database.description });
  } catch (e) {
    // The account service refuses with a DomainError (bad domain, taken domain or key): its message is for people.
    if (e instanceof server.DomainError) throw new CliError(e.message, EXIT.REFUSED);
    throw e;
  } finally {
    await database.close();
  }
}

const NETWORK_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET'];

/** The network failure behind a database error, if any (the migrator wraps it into its message). */
function networkCode(e: unknown): string | undefined {
  for (
    let cur = e, depth = 0;
    cur && typeof cur === 'object' && depth < 5;
    cur = (cur as Error).cause, depth++
  ) {
    const { code, message } = cur as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && NETWORK_CODES.includes(code)) return code;
    const named = NETWORK_CODES.find((c) => typeof message === 'string' && message.includes(c));
    if (named) return named;
  }
  return undefined;
}

/** A database URL safe to print: no password. */
function redact(url: string): string {
  if (!/^postgres(ql)?:\/\//i.test(url)) return url;
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

/** `--phones`: one of the modes, or 'default' (sent as null: the server's default). */
function parsePhones(v: string): PhoneMode | 'default' {
  const mode = v.trim().toLowerCase();
  if (mode === 'default' || (PHONE_MODES as readonly string[]).includes(mode)) return mode as PhoneMode;
  throw new InvalidArgumentError(`expected one of ${PHONE_MODES.join(', ')} or default`);
}

function printNewKey(out: Output, domain: string, apiKey: string, headline: string) {
  out.result({ domain, apiKey }, () => {
    out.line(headline);
    out.line(`API key: ${apiKey}`);
    out.line('Shown only this once: Dzvin stores only a hash of it. Keep it somewhere safe.');
  });
}

export function registerAccount(program: Command, env: Env) {
  const account = program
    .command('account')
    .description('accounts: create and re-key (on the database), show and change (over HTTP)');

  jsonOption(
    account
      .command('create')
      .description('create an account in the database named by DATABASE_URL and print its API key once')
      .argument('<domain>', 'the account domain, a DNS name (e.g. acme.localhost)')
      .option('--name <name>', 'display name (default: the domain)')
      .option('--country <code>', 'default country for national numbers, ISO 3166-1 alpha-2', 'UA')
      .option('--api-key <key>', 'use this key (16 to 512 characters) instead of a random one'),
  ).action(async (domain: string, o: { name?: string; country: string; apiKey?: string } & JsonFlag) => {
    const out = createOutput({ json: !!o.json });
    const {
      account: a,
      apiKey,
      description,
    } = await withAccounts(env, async ({ accounts, description }) => ({
      ...(await accounts.create({ domain, name: o.name, defaultCountry: o.country, apiKey: o.apiKey })),
      description,
    }));
    printNewKey(
      out,
      a.domain,
      apiKey,
      `Created account ${a.domain} (${a.name}, ${a.defaultCountry}) in ${description}.`,
    );
  });

  jsonOption(
    account
      .command('rotate-key')
      .description(
        'give an account a new API key (in the database named by DATABASE_URL); the old key and its sessions stop working',
      )
      .argument('<domain>', 'the account domain'),
  ).action(async (domain: string, o: JsonFlag) => {
    const out = createOutput({ json: !!o.json });
    const { account: a, apiKey } = await withAccounts(env, async ({ accounts, store, description }) => {
      const found = await store.accounts.byDomain(domain.trim().toLowerCase().replace(/\.$/, ''));
      if (!found) throw new CliError(`no account ${domain} in ${description}`, EXIT.REFUSED);
      return accounts.rotateKey(found.id);
    });
    printNewKey(
      out,
      a.domain,
      apiKey,
      `New API key for ${a.domain}; the old key and every session of the account stopped working.`,
    );
  });

  adminCommand(account.command('show').description('the account the API key belongs to')).action(
    async (o: ConnectionFlags & JsonFlag) => {
      const { client, out } = open(o, env);
      const a = await client.account.get();
      out.result(a, () => out.record(a, ACCOUNT_COLUMNS));
    },
  );

  adminCommand(
    account
      .command('set')
      .description('change the name, default country, API user or phones of the account')
      .option('--name <name>', 'display name')
      .option('--country <code>', 'default country, ISO 3166-1 alpha-2 (e.g. UA)')
      .option('--api-user <id>', "the employee the API key acts as, or 'none'", (v) =>
        v === 'none' ? null : parseId(v),
      )
      .option(
        '--phones <mode>',
        "which phones the employees use: simulated, real (registered phones only; others offline), hybrid (registered phones, the others simulated) or 'default' (hybrid in DZVIN_MODE=local, real in production)",
        parsePhones,
      ),
  ).action(
    async (
      o: ConnectionFlags &
        JsonFlag & {
          name?: string;
          country?: string;
          apiUser?: number | null;
          phones?: PhoneMode | 'default';
        },
    ) => {
      const patch: AccountPatch = {};
      if (o.name !== undefined) patch.name = o.name;
      if (o.country !== undefined) patch.defaultCountry = o.country.toUpperCase();
      if (o.apiUser !== undefined) patch.apiUserId = o.apiUser;
      if (o.phones !== undefined) patch.phones = o.phones === 'default' ? null : o.phones;
      if (Object.keys(patch).length === 0)
        throw new CliError('nothing to change: pass --name, --country, --api-user or --phones');
      const { client, out } = open(o, env);
      const a = await client.account.update(patch);
      out.result(a, () => {
        out.line(`Updated account ${a.domain}.`);
        out.record(a, ACCOUNT_COLUMNS);
      });
    },
  );
}
