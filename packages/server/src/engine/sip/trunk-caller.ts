import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Trunk } from '@dzvin/protocol';
import type { AccountRecord } from '../../domain/ports.ts';
import { parseNameAddr } from './header-values.ts';
import { getHeader, type SipRequest } from './message.ts';
import { isSipUri, parseUri } from './uri.ts';

/**
 * Who a carrier's INVITE is for (IP-authenticated peering, issue 15; trunks with registration are
 * issue 16). Kamailio relays an INVITE that claims none of our employees unmarked, with
 * `X-Dzvin-Source: <proto>:<ip>:<port>` (the address it came from; Kamailio strips that header
 * from anyone else). The dialled number (the DID) is where the trunk says (`sipDidFrom`): the
 * request URI's user part, the `To` user's, or `either` (the request URI's when it is a number,
 * else To's); the trunk with that number whose `sipPeers` name the source address — or whose SIP
 * carrier's host is that address (a carrier that takes our registration, or our calls out,
 * delivers its calls from the same place) — takes the call, and the caller is the `From` user (a
 * number, or `anonymous`).
 *
 * Refused: no source, a number no trunk has or a source the number's trunk does not allow 403
 * (the same answer, so nobody learns which numbers exist); a caller without a number (`From:
 * anonymous`) 433 Anonymity Disallowed (RFC 5079) — the call could not be told to a CRM.
 */
export interface TrunkCallerDeps {
  trunksByNumber(number: string): Promise<{ accountId: number; trunk: Trunk }[]>;
  accountById(id: number): Promise<AccountRecord | null>;
}

export type TrunkCaller =
  | { ok: true; account: AccountRecord; trunk: Trunk; from: string; source: string }
  | { ok: false; status: 403 | 433; reason: string; source: string | null };

/** The address of Kamailio's `X-Dzvin-Source: udp:203.0.113.7:5060` (IPv6 too), or null. */
export function sourceAddress(value: string | undefined): string | null {
  const m = /^\s*[a-z]+:(.+):\d+\s*$/i.exec(value ?? '');
  if (!m) return null;
  const address = m[1].replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return isIP(address) ? address : null;
}

/** The E.164 form of a DID as a carrier writes it (`+380…`, `380…`, `00380…`), or null. */
export function didNumber(user: string | undefined): string | null {
  if (!user) return null;
  const digits = user.replace(/[\s().-]/g, '');
  const m = /^(?:\+|00)?(\d{7,15})$/.exec(digits);
  return m ? `+${m[1]}` : null;
}

function userOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const na = parseNameAddr(value);
  const uri = na.ok ? na.value.uri : null;
  return uri && isSipUri(uri) ? uri.user : undefined;
}

/** A carrier host's addresses, looked up at most once a minute per name (an IP literal is itself). */
const carrierAddressCache = new Map<string, { at: number; addresses: Promise<string[]> }>();
const CARRIER_ADDRESS_TTL_MS = 60_000;

export function carrierAddresses(host: string): Promise<string[]> {
  const literal = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (isIP(literal)) return Promise.resolve([literal]);
  const now = Date.now();
  const hit = carrierAddressCache.get(literal);
  if (hit && now - hit.at < CARRIER_ADDRESS_TTL_MS) return hit.addresses;
  // A name that does not resolve allows nothing (and is asked again after the TTL).
  const addresses = lookup(literal, { all: true, verbatim: true }).then(
    (all) => all.map((a) => a.address.toLowerCase()),
    () => [],
  );
  if (carrierAddressCache.size > 1000) carrierAddressCache.clear();
  carrierAddressCache.set(literal, { at: now, addresses });
  return addresses;
}

/** Whether `source` may deliver calls to `trunk`: one of its `sipPeers`, or its carrier's host. */
async function allowedSource(trunk: Trunk, source: string): Promise<boolean> {
  if (trunk.sipPeers.includes(source)) return true;
  return trunk.sipCarrier ? (await carrierAddresses(trunk.sipCarrier.host)).includes(source) : false;
}

export async function trunkCaller(req: SipRequest, deps: TrunkCallerDeps): Promise<TrunkCaller> {
  const source = sourceAddress(getHeader(req, 'X-Dzvin-Source'));
  if (!source) return { ok: false, status: 403, reason: 'Forbidden', source };
  const target = parseUri(req.uri);
  const uriNumber = didNumber(target.ok && isSipUri(target.uri) ? target.uri.user : undefined);
  const toNumber = didNumber(userOf(getHeader(req, 'To')));
  // Each number with where it was found; a trunk takes it only from where it says its number is
  // (`sipDidFrom`; `either`: the request URI's, else To's).
  const candidates: { number: string; from: 'request-uri' | 'to' }[] = [];
  if (uriNumber) candidates.push({ number: uriNumber, from: 'request-uri' });
  if (toNumber) candidates.push({ number: toNumber, from: 'to' });
  const takes = (trunk: Trunk, from: 'request-uri' | 'to') =>
    trunk.sipDidFrom === from || (trunk.sipDidFrom === 'either' && (from === 'request-uri' || !uriNumber));
  for (const { number, from: where } of candidates) {
    for (const { accountId, trunk } of await deps.trunksByNumber(number)) {
      if (!takes(trunk, where)) continue;
      if (!(await allowedSource(trunk, source))) continue;
      const account = await deps.accountById(accountId);
      if (!account) continue;
      const from = userOf(getHeader(req, 'From'));
      // Calls are joined to CRMs by the caller's number: a call without one cannot be routed.
      if (!from || !/\d{3}/.test(from))
        return { ok: false, status: 433, reason: 'Anonymity Disallowed', source };
      return { ok: true, account, trunk, from, source };
    }
  }
  return { ok: false, status: 403, reason: 'Forbidden', source };
}
