// The `dzvin` command. Reads the environment once, here, and hands it to every command.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerAccount } from './commands/account.ts';
import { registerCalls } from './commands/calls.ts';
import { registerContacts } from './commands/contacts.ts';
import { registerDirectory } from './commands/directory.ts';
import { registerEvents } from './commands/events.ts';
import { registerListen } from './commands/listen.ts';
import { registerLogin } from './commands/login.ts';
import { registerServe } from './commands/serve.ts';
import { registerSim } from './commands/sim.ts';
import type { Env } from './connection.ts';
import { CliError, EXIT } from './errors.ts';
import { ApiError, ConnectionError } from './http-client.ts';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The whole command tree; `env` stands in for process.env. */
export function buildProgram(env: Env): Command {
  const program = new Command('dzvin')
    .description(
      'Dzvin, an open Phonet-compatible cloud PBX: run the server, manage accounts and the directory, place, list and simulate calls, import and export contacts, watch events and webhooks',
    )
    .version(version)
    // Usage errors become exceptions so that one place maps everything to exit codes.
    .exitOverride()
    .showHelpAfterError('(add --help for more)')
    .addHelpText(
      'after',
      `
Admin-API commands connect with --url/--api-key, or DZVIN_URL/DZVIN_API_KEY, or a profile saved
by \`dzvin login\` (flags > environment > profile). Operator commands (serve, account create,
account rotate-key) use DATABASE_URL directly.

Exit codes: 0 ok, 1 refused by the server (also: some contacts of an import failed), 2 bad usage
or configuration, 3 cannot connect.`,
    );
  registerServe(program, env);
  registerLogin(program, env);
  registerAccount(program, env);
  registerDirectory(program, env);
  registerCalls(program, env);
  registerContacts(program, env);
  registerEvents(program, env);
  registerListen(program, env);
  registerSim(program, env);
  return program;
}

/** Runs one command line; resolves to the exit code. Errors are explained on stderr in one line. */
export async function run(argv: string[], env: Env): Promise<number> {
  const program = buildProgram(env);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.OK;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (e) {
    // commander has already printed its message (or the help/version it was asked for).
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    if (e instanceof ApiError) {
      process.stderr.write(`dzvin: ${e.reason} (HTTP ${e.status})\n`);
      return EXIT.REFUSED;
    }
    if (e instanceof ConnectionError) {
      process.stderr.write(`dzvin: cannot connect to ${e.url} (${e.detail})\n`);
      return EXIT.CANNOT_CONNECT;
    }
    if (e instanceof CliError) {
      process.stderr.write(`dzvin: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(
      `dzvin: ${env.DZVIN_DEBUG ? ((e as Error)?.stack ?? e) : ((e as Error)?.message ?? e)}\n`,
    );
    return EXIT.REFUSED;
  }
}

// The event loop decides when to exit (`serve` keeps listening); only the code is set here.
process.exitCode = await run(process.argv.slice(2), process.env);
