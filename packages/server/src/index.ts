/** @dzvin/server — the PBX. `buildApp(config)` is the composition root. */
export { type BuiltApp, buildApp } from './app.ts';
export { type Config, ConfigError, defaultConfig, parseConfig } from './config.ts';
export { ensureDemoAccount } from './demo.ts';
export { createAccountService } from './domain/accounts/account-service.ts';
export { type Clock, createManualClock, systemClock } from './domain/clock.ts';
export { DomainError } from './domain/errors.ts';
export { SipDaemonError } from './engine/sip/edge/daemons.ts';
export { startServer } from './main.ts';
export { createStore } from './store/create-store.ts';
export { openDatabase } from './store/db.ts';
