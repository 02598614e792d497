// The document's advice: check the remote address of PBX requests against Phonet's addresses.
// Proxy-aware only through an explicit list of trusted proxies (X-Forwarded-For is otherwise
// whatever the sender wrote).
import { BlockList, isIP } from 'node:net';

/**
 * The addresses Phonet's PBX sends webhooks from, as the document publishes them.
 * @example
 * ```ts
 * createWebhookHandler({ allowIps: PHONET_SOURCE_IPS, onCallEvent });
 * ```
 */
export const PHONET_SOURCE_IPS: readonly string[] = Object.freeze([
  '89.184.65.208',
  '89.184.82.130',
  '89.184.67.228',
  '89.184.82.191',
  '89.184.65.137',
  '95.213.132.131',
]);

/**
 * An address as the allowlist compares it: `::ffff:1.2.3.4` → `1.2.3.4`, brackets and zone ids
 * removed, IPv6 in lower case.
 * @example
 * ```ts
 * normalizeIp('::ffff:89.184.65.208'); // '89.184.65.208'
 * ```
 */
export function normalizeIp(ip: string): string {
  let s = ip.trim().replace(/^\[|\]$/g, '');
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(s);
  return m ? m[1] : s.toLowerCase();
}

/**
 * A matcher of addresses and CIDR ranges (`10.0.0.0/8`, `::1`, `2001:db8::/32`).
 * @example
 * ```ts
 * const isInternal = createIpMatcher(['127.0.0.1', '10.0.0.0/8']);
 * isInternal('10.1.2.3'); // true
 * ```
 */
export function createIpMatcher(entries: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const raw of entries) {
    const [addr, bits] = raw.trim().split('/');
    const a = normalizeIp(addr);
    const family = isIP(a);
    if (family === 0) throw new TypeError(`not an IP address or CIDR range: '${raw}'`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(a, type);
    else {
      const prefix = Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32))
        throw new TypeError(`bad prefix length in '${raw}'`);
      list.addSubnet(a, prefix, type);
    }
  }
  return (ip: string) => {
    const a = normalizeIp(ip);
    const family = isIP(a);
    return family !== 0 && list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * The client's address: the socket peer, or — when the peer is a trusted proxy — the right-most
 * `X-Forwarded-For` entry that is not a trusted proxy.
 * @example
 * ```ts
 * resolveClientIp('10.0.0.2', '89.184.65.208, 10.0.0.2', createIpMatcher(['10.0.0.0/8'])); // '89.184.65.208'
 * ```
 */
export function resolveClientIp(
  remote: string | undefined,
  forwardedFor: string | string[] | undefined,
  isTrustedProxy: ((ip: string) => boolean) | undefined,
): string {
  let ip = normalizeIp(remote ?? '');
  if (!isTrustedProxy?.(ip) || !forwardedFor) return ip;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((h) => normalizeIp(h))
    .filter((h) => h !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    ip = hops[i];
    if (isIP(ip) === 0) return ip;
    if (!isTrustedProxy(ip)) return ip;
  }
  return ip;
}
