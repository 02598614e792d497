import { ErrorText } from '@dzvin/protocol';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { AccountService } from '../domain/accounts/account-service.ts';
import type { AuthService } from '../domain/accounts/auth-service.ts';
import type { HistoryService } from '../domain/calls/history-service.ts';
import type { ContactService } from '../domain/crm/contact-service.ts';
import type { DirectoryService } from '../domain/directory/directory-service.ts';

/** The Fastify instance every route plugin gets: TypeBox schemas type the handlers. */
export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** The use cases the HTTP layer calls. */
export interface Services {
  auth: AuthService;
  accounts: AccountService;
  directory: DirectoryService;
  contacts: ContactService;
  history: HistoryService;
}

const REASONS: Record<number, string> = {
  400: 'Bad parameters (plain-text reason)',
  403: 'No session, an expired session, or bad credentials',
  404: 'Unknown id (or an id of another account)',
  409: 'Conflicts with existing data',
  413: 'Body too large',
  429: 'Too many failed attempts (Retry-After)',
};

/** OpenAPI entries for the plain-text error answers of a route (spec #6). */
export function errorResponses(...codes: number[]) {
  return Object.fromEntries(
    codes.map((c) => [
      c,
      { description: REASONS[c] ?? 'Error', content: { 'text/plain': { schema: ErrorText } } },
    ]),
  );
}
