// An employee's SIP password (issue 15): the softphone's user is the ext, the realm the account's
// domain. Dzvin keeps only HA1 = MD5(ext:domain:password) (RFC 2617 §3.2.2.2), all a digest
// verifier (Kamailio's pv_*_authenticate with flag 1) needs; the password itself is never stored,
// returned or logged.
import { createHash } from 'node:crypto';
import { SIP_PASSWORD_LIMITS } from '@dzvin/protocol';
import { badInput } from '../errors.ts';

/** HA1 for MD5 digest with realm = the account's domain (lower-cased, as SIP compares hosts). */
export function sipHa1(ext: string, domain: string, password: string): string {
  return createHash('md5').update(`${ext}:${domain.toLowerCase()}:${password}`).digest('hex');
}

/**
 * Printable ASCII without spaces: what every phone's keypad and config file can hold. The
 * reason of a refusal never repeats the password.
 */
export function checkSipPassword(password: string): void {
  const { minLength, maxLength } = SIP_PASSWORD_LIMITS;
  if (password.length < minLength || password.length > maxLength)
    throw badInput(`password must be ${minLength} to ${maxLength} characters (got ${password.length})`);
  if (!/^[\x21-\x7e]+$/.test(password))
    throw badInput('password may hold printable ASCII characters only, without spaces');
}
