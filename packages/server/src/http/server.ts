import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController } from 'fastify';
import type { Config } from '../config.ts';
import { registerErrorHandling } from './errors.ts';
import { registerNulGuard } from './nul-guard.ts';
import { parseQuery, registerBodyParsers } from './parsing.ts';
import type { App } from './route-kit.ts';
import { clientErrorHandler, registerValidation } from './validation.ts';
import { canonicalHeaderServerOptions } from './wire-headers.ts';

/**
 * The Fastify instance with what every route shares: logging, limits, the router's options,
 * error mapping, validation, body parsers and the NUL guard. Created before anything else, so
 * the parts of the app log through it and tie their shutdown to its `onClose` hooks.
 */
export function createHttpServer(
  config: Pick<Config, 'logLevel' | 'bodyLimitBytes' | 'trustProxy'>,
  opts: { logger?: boolean } = {},
): App {
  const app = Fastify({
    // Request lines are logged at debug level only: a PBX API is chatty and its clients poll.
    logger: opts.logger === false ? false : { level: config.logLevel },
    logController: new LogController({
      disableRequestLogging: config.logLevel !== 'debug' && config.logLevel !== 'trace',
    }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    clientErrorHandler,
    // Header names in canonical case on the wire (`Set-Cookie`…): Phonet clients match them exactly.
    http: canonicalHeaderServerOptions,
    routerOptions: { ignoreTrailingSlash: true, querystringParser: parseQuery, maxParamLength: 200 },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorateRequest('account', null as never);
  app.decorateRequest('employeeId', null);
  registerErrorHandling(app);
  registerValidation(app);
  registerBodyParsers(app);
  registerNulGuard(app);
  return app;
}

/**
 * Where the server listens, as another process or a browser on this machine reaches it (a
 * wildcard address becomes 127.0.0.1); null before `listen` and after `close`.
 */
export function listeningAddress(app: App): { host: string; port: number } | null {
  const address = app.server.address();
  if (!address || typeof address === 'string') return null;
  const host =
    address.address === '0.0.0.0' || address.address === '::'
      ? '127.0.0.1'
      : address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address;
  return { host, port: address.port };
}
