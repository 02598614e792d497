/**
 * What operator tools (the `dzvin account …` commands) need, without loading the HTTP stack:
 * configuration, the database and the account service.
 */
export { type Config, ConfigError, parseConfig } from './config.ts';
export { createAccountService } from './domain/accounts/account-service.ts';
export { systemClock } from './domain/clock.ts';
export { DomainError } from './domain/errors.ts';
export { createStore } from './store/create-store.ts';
export { openDatabase } from './store/db.ts';
