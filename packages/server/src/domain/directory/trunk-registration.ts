// A trunk's registration at its carrier as the admin API answers it (issue 16): what the process
// registering it last wrote (store.carrierRegistrations), read by whichever process serves the
// request. The engine (engine/sip/carrier-registrations.ts) writes; this only reads.
import type { CarrierRegistration, Trunk } from '@dzvin/protocol';
import type { CarrierRegistrationRecord } from '../ports.ts';

/**
 * What makes a registration a new one: a change of any of these re-registers. The row written for
 * a registration carries it, so a row left from settings since changed is not answered.
 */
export function carrierRegistrationKey(accountId: number, t: Trunk): string {
  const c = t.sipCarrier;
  if (!c) return '';
  return [accountId, t.id, t.number, c.host, c.port, c.transport, c.username, c.hasPassword].join('|');
}

const OFF: CarrierRegistration = {
  state: 'off',
  expiresAt: null,
  lastStatus: null,
  lastError: null,
  lastAttemptAt: null,
  nextAttemptAt: null,
  failures: 0,
};

/**
 * The trunk's registration now. `register` off: `off`. No row for these settings yet: `pending`
 * (the next directory read of the registering process takes it up). A `registered` row past its
 * expiry (the process that kept it died and none has taken over yet): `failed`, saying so.
 */
export function registrationView(
  accountId: number,
  trunk: Trunk,
  row: CarrierRegistrationRecord | undefined,
  now: number,
): CarrierRegistration {
  if (!trunk.sipCarrier?.register) return OFF;
  if (!row || row.configKey !== carrierRegistrationKey(accountId, trunk)) return { ...OFF, state: 'pending' };
  const { state, expiresAt, lastStatus, lastError, lastAttemptAt, nextAttemptAt, failures } = row;
  if (state === 'registered' && expiresAt !== null && expiresAt <= now)
    return {
      state: 'failed',
      expiresAt: null,
      lastStatus,
      lastError: 'expired: not refreshed in time (the process registering it may have stopped)',
      lastAttemptAt,
      nextAttemptAt,
      failures,
    };
  return { state, expiresAt, lastStatus, lastError, lastAttemptAt, nextAttemptAt, failures };
}
