// The digest credentials Kamailio checks (deploy/kamailio/dzvin.cfg, htable `cred`).
//
// An employee's SIP identity is `<ext>@<account domain>`: user = ext, realm = domain. Dzvin keeps
// only HA1 = MD5(ext:domain:password) (RFC 2617 §3.2.2.2), which is all a digest verifier needs
// and never the password itself; Kamailio is told the same HA1 (pv_*_authenticate flag 1).
import { sipHa1 } from '../../../domain/directory/sip-password.ts';
import type { SipIdentity } from '../../../domain/ports.ts';

/** Who a credential belongs to: the employee's ext on the account's domain (the domain's port). */
export type { SipIdentity };

/** The htable / usrloc key: `ext@domain`, the domain lower-cased as SIP compares hosts. */
export function sipAor(id: SipIdentity): string {
  return `${id.ext}@${id.domain.toLowerCase()}`;
}

/** HA1 for MD5 digest with realm = the account's domain. */
export function digestHa1(id: SipIdentity, password: string): string {
  return sipHa1(id.ext, id.domain, password);
}
