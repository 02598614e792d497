/**
 * @dzvin/protocol — every wire shape of the Phonet HTTP integration API (and Dzvin's additions)
 * as TypeBox schemas with inferred types. Depends on nothing of ours.
 * @example
 * ```ts
 * import { Contact, type Contact as ContactT } from '@dzvin/protocol';
 * ```
 */
export * from './admin.ts';
export * from './auth.ts';
export * from './calls.ts';
export * from './common.ts';
export * from './contacts.ts';
export * from './deliveries.ts';
export * from './directions.ts';
export * from './notes.ts';
export * from './sim.ts';
export * from './tracking.ts';
export * from './users.ts';
