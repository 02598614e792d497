/**
 * SIP and SIPS URIs (RFC 3261 §19.1, grammar in §25.1). Other schemes (tel:, urn:, anything a
 * peer invents — RFC 4475 unkscm/novelsc) are kept opaque: a UA must be able to carry them and
 * answer 416 itself, so the parser never rejects a message for an unknown scheme.
 *
 * User, password, parameter and header parts are stored percent-decoded (RFC 3261 §19.1.4
 * compares URIs after decoding: `sip:%75ser@h` is `sip:user@h`) and re-escaped when formatted.
 */

/** URI parameters and header parameters: lower-cased name → value (null for a bare flag). */
export type Params = Record<string, string | null>;

export interface SipUri {
  scheme: 'sip' | 'sips';
  user?: string;
  password?: string;
  /** Host name, IPv4 address or IPv6 reference with its brackets (`[2001:db8::10]`). */
  host: string;
  port?: number;
  params: Params;
  headers: Record<string, string>;
}

export interface OtherUri {
  /** Lower-cased scheme, e.g. `tel`. */
  scheme: string;
  /** Everything after the first colon, as received. */
  opaque: string;
}

export type Uri = SipUri | OtherUri;

export function isSipUri(u: Uri): u is SipUri {
  return u.scheme === 'sip' || u.scheme === 'sips';
}

/** Sets an own property even for names like `__proto__` (parameter names come from the wire). */
export function setParam<T>(obj: Record<string, T>, name: string, value: NoInfer<T>): void {
  Object.defineProperty(obj, name, { value, enumerable: true, writable: true, configurable: true });
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?$|^[A-Za-z0-9]$/;
const IPV6_REF = /^\[[0-9A-Fa-f:.]+\]$/;
/** Characters allowed unescaped anywhere in a URI part we parse (no space, no controls, no <>"). */
const URI_CHARS = /^[A-Za-z0-9\-_.!~*'()%;/?:@&=+$,[\]#`]*$/;

/** Percent-decodes; a `%` not followed by two hex digits is kept as is (RFC 4475 esc02). */
export function unescapePercent(s: string): string {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; ) {
    if (s[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      // Non-ASCII input (already UTF-8 decoded by the message parser) goes back to its bytes.
      const ch = String.fromCodePoint(s.codePointAt(i)!);
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      i += ch.length;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Escapes every character outside `allowed` (a regex of one unescaped character). */
function escapePercent(s: string, allowed: RegExp): string {
  let out = '';
  for (const ch of s) {
    if (allowed.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

// §25.1: user = 1*( unreserved / escaped / user-unreserved ); password; paramchar; hnv.
const USER_CHAR = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/]$/;
const PASSWORD_CHAR = /^[A-Za-z0-9\-_.!~*'()&=+$,]$/;
const PARAM_CHAR = /^[A-Za-z0-9\-_.!~*'()[\]/:&+$]$/;
const HEADER_CHAR = /^[A-Za-z0-9\-_.!~*'()[\]/?:+$]$/;

export type UriResult = { ok: true; uri: Uri } | { ok: false; reason: string };

/** Parses a URI as found in a Request-URI or inside `<…>`. */
export function parseUri(text: string): UriResult {
  const colon = text.indexOf(':');
  if (colon <= 0 || !SCHEME.test(text.slice(0, colon))) return { ok: false, reason: 'Bad URI scheme' };
  const scheme = text.slice(0, colon).toLowerCase();
  const rest = text.slice(colon + 1);
  if (!URI_CHARS.test(rest) || rest.length === 0) return { ok: false, reason: 'Bad URI' };
  if (scheme !== 'sip' && scheme !== 'sips') return { ok: true, uri: { scheme, opaque: rest } };

  // '@' may only appear in userinfo (params and headers must escape it), so the last one ends it;
  // the user part itself may hold ';' and '?' (RFC 4475 semiuri, intmeth).
  const at = rest.lastIndexOf('@');
  let user: string | undefined;
  let password: string | undefined;
  let hostPart = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const pw = userinfo.indexOf(':');
    user = unescapePercent(pw >= 0 ? userinfo.slice(0, pw) : userinfo);
    if (pw >= 0) password = unescapePercent(userinfo.slice(pw + 1));
    if (user === '') return { ok: false, reason: 'Bad URI user' };
  }

  const q = hostPart.indexOf('?');
  const headersPart = q >= 0 ? hostPart.slice(q + 1) : undefined;
  const beforeHeaders = q >= 0 ? hostPart.slice(0, q) : hostPart;
  const [hostport, ...paramParts] = beforeHeaders.split(';');

  const hp = parseHostPort(hostport);
  if (!hp) return { ok: false, reason: 'Bad URI host' };

  const params: Params = {};
  for (const p of paramParts) {
    if (p === '') return { ok: false, reason: 'Bad URI parameter' };
    const eq = p.indexOf('=');
    const name = unescapePercent(eq >= 0 ? p.slice(0, eq) : p).toLowerCase();
    if (name === '') return { ok: false, reason: 'Bad URI parameter' };
    setParam(params, name, eq >= 0 ? unescapePercent(p.slice(eq + 1)) : null);
  }

  const headers: Record<string, string> = {};
  if (headersPart !== undefined) {
    for (const h of headersPart.split('&')) {
      const eq = h.indexOf('=');
      if (eq <= 0) return { ok: false, reason: 'Bad URI header' };
      setParam(headers, unescapePercent(h.slice(0, eq)), unescapePercent(h.slice(eq + 1)));
    }
  }

  const uri: SipUri = { scheme, host: hp.host, params, headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (hp.port !== undefined) uri.port = hp.port;
  return { ok: true, uri };
}

/** `host[:port]` with IPv6 references; the host is lower-cased (host names compare case-blind). */
export function parseHostPort(text: string): { host: string; port?: number } | undefined {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return undefined;
    host = text.slice(0, end + 1);
    const after = text.slice(end + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return undefined;
      portText = after.slice(1);
    }
    if (!IPV6_REF.test(host)) return undefined;
  } else {
    const c = text.indexOf(':');
    host = c >= 0 ? text.slice(0, c) : text;
    if (c >= 0) portText = text.slice(c + 1);
    if (!HOSTNAME.test(host)) return undefined;
  }
  if (portText === undefined) return { host: host.toLowerCase() };
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return { host: host.toLowerCase(), port };
}

export function formatHostPort(host: string, port?: number): string {
  return port === undefined ? host : `${host}:${port}`;
}

export function formatParams(params: Params, escaped = false): string {
  let out = '';
  for (const [k, v] of Object.entries(params)) {
    const name = escaped ? escapePercent(k, PARAM_CHAR) : k;
    out += v === null ? `;${name}` : `;${name}=${escaped ? escapePercent(v, PARAM_CHAR) : v}`;
  }
  return out;
}

export function formatUri(u: Uri): string {
  if (!isSipUri(u)) return `${u.scheme}:${u.opaque}`;
  let out = `${u.scheme}:`;
  if (u.user !== undefined) {
    out += escapePercent(u.user, USER_CHAR);
    if (u.password !== undefined) out += `:${escapePercent(u.password, PASSWORD_CHAR)}`;
    out += '@';
  }
  out += formatHostPort(u.host, u.port) + formatParams(u.params, true);
  const hs = Object.entries(u.headers);
  if (hs.length > 0)
    out += `?${hs.map(([k, v]) => `${escapePercent(k, HEADER_CHAR)}=${escapePercent(v, HEADER_CHAR)}`).join('&')}`;
  return out;
}
