/**
 * Which phones an account's employees use (issue 15, "Hybrid office"): an account setting the
 * call core applies when it picks a phone driver (call-core.ts `driverFor`), in one place.
 *
 * - `hybrid`: an employee whose phone is registered rings on it (SIP); the others are answered
 *   by simulated phones.
 * - `real`: only real phones; an employee with none registered is offline (a direct call ends
 *   no answer, a ring group skips them). A real caller is never "answered" by a simulated phone.
 * - `simulated`: every employee's phone is simulated, registered or not (a sandbox).
 *
 * External parties stay simulated in every mode until trunks exist (issue 11).
 */
import { PHONE_MODES, type PhoneMode } from '@dzvin/protocol';

export { PHONE_MODES, type PhoneMode };

/** The default of an account that has not chosen: simulation is off in production. */
export const defaultPhoneMode = (mode: 'local' | 'production'): PhoneMode =>
  mode === 'production' ? 'real' : 'hybrid';

/** The account's setting, or the server's default when it has none (null). */
export const phoneModeOf = (account: { phones: PhoneMode | null }, fallback: PhoneMode): PhoneMode =>
  account.phones ?? fallback;

export const isPhoneMode = (v: unknown): v is PhoneMode =>
  typeof v === 'string' && (PHONE_MODES as readonly string[]).includes(v);

/**
 * Whether a phone driver may serve an endpoint of an account in `mode`: `hybrid` any driver,
 * `simulated` only simulated ones, `real` only real phones for employees (an external party
 * stays simulated until trunks exist). The call core asks this when it picks a driver.
 */
export function driverAllowed(
  mode: PhoneMode,
  endpoint: 'employee' | 'external',
  simulated: boolean,
): boolean {
  if (mode === 'hybrid') return true;
  if (mode === 'simulated') return simulated;
  return endpoint === 'external' || !simulated;
}
