import type { Command } from 'commander';
import type { Env } from '../connection.ts';
import { CliError, EXIT } from '../errors.ts';

/** `dzvin serve` (and `npm start`): the PBX itself, configured from the environment (see README). */
export function registerServe(program: Command, env: Env) {
  program
    .command('serve')
    .description('run the PBX server (configured by HOST, PORT, DATABASE_URL… as documented in README.md)')
    .action(async () => {
      // Imported here so admin-API commands do not load the server, its database drivers and Fastify.
      const { ConfigError, parseConfig, SipDaemonError, startServer } = await import('@dzvin/server');
      let config: ReturnType<typeof parseConfig>;
      try {
        config = parseConfig(env);
      } catch (e) {
        if (e instanceof ConfigError) throw new CliError(e.message, EXIT.USAGE);
        throw e;
      }
      try {
        await startServer(config);
      } catch (e) {
        // DZVIN_SIP=on without Kamailio or rtpengine installed (or their ports taken): what to do.
        if (e instanceof SipDaemonError) throw new CliError(e.message, EXIT.USAGE);
        throw e;
      }
    });
}
