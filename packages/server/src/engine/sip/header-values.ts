/**
 * Structured header values (RFC 3261 §20, grammar in §25.1): comma-separated lists, generic
 * parameters, name-addr / addr-spec (From, To, Contact, Route, Record-Route), Via and CSeq.
 * Every parser takes one unfolded value and returns a result instead of throwing, so bad input
 * from the wire can become a 400 (or a drop) in message.ts.
 */
import { formatHostPort, formatParams, formatUri, type Params, parseUri, setParam, type Uri } from './uri.ts';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

/** RFC 3261 token: method names, header names, parameter names, transport names. */
export const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const TOKEN_CHAR = /[A-Za-z0-9\-.!%*_+`'~]/;
/** Trims SP and HT only: String.prototype.trim would also eat a BOM or NBSP that is part of a value. */
export function trimLws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

const isWs = (c: string | undefined) => c === ' ' || c === '\t';

function skipWs(s: string, i: number): number {
  while (isWs(s[i])) i++;
  return i;
}

/** Index just past the closing quote of the quoted-string starting at `i`, or -1 (RFC 4475 quotbal). */
function quotedEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === '"') return j + 1;
  }
  return -1;
}

function unquote(q: string): string {
  return q.slice(1, -1).replace(/\\(.)/gs, '$1');
}

/** Quotes a display name, escaping `"` and `\` (§25.1 quoted-pair). */
export function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Splits a header value on the commas that separate list elements (§7.3.1): commas inside a
 * quoted string or a `<…>` URI belong to the element. Elements are trimmed; empty ones are kept
 * so the caller can reject `a,,b`.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"') {
      const end = quotedEnd(value, i);
      if (end < 0) break; // unterminated: leave the rest in one element for its parser to reject
      i = end - 1;
    } else if (c === '<') angle = true;
    else if (c === '>') angle = false;
    else if (c === ',' && !angle) {
      out.push(trimLws(value.slice(start, i)));
      start = i + 1;
    }
  }
  out.push(trimLws(value.slice(start)));
  return out;
}

/**
 * Generic parameters from `s[i]` to the end: `*( SEMI token [ EQUAL (token / host / quoted) ] )`
 * with optional whitespace around `;` and `=` (RFC 4475 wsinv). Names are lower-cased (they are
 * case-insensitive); quoted values keep their quotes so they format back unchanged.
 */
export function parseParams(s: string, i: number): Parsed<Params> {
  const params: Params = {};
  for (;;) {
    i = skipWs(s, i);
    if (i >= s.length) return ok(params);
    if (s[i] !== ';') return fail(`unexpected '${s[i]}'`);
    i = skipWs(s, i + 1);
    const nameStart = i;
    while (i < s.length && TOKEN_CHAR.test(s[i])) i++;
    if (i === nameStart) return fail('empty parameter');
    const name = s.slice(nameStart, i).toLowerCase();
    i = skipWs(s, i);
    if (s[i] !== '=') {
      setParam(params, name, null);
      continue;
    }
    i = skipWs(s, i + 1);
    let value: string;
    if (s[i] === '"') {
      const end = quotedEnd(s, i);
      if (end < 0) return fail('unterminated quoted parameter');
      value = s.slice(i, end);
      i = end;
    } else {
      const start = i;
      while (i < s.length && !isWs(s[i]) && s[i] !== ';' && s[i] !== ',') i++;
      value = s.slice(start, i);
      if (value === '' || !/^[A-Za-z0-9\-.!%*_+`'~[\]:]+$/.test(value)) return fail(`bad value of ${name}`);
    }
    setParam(params, name, value);
  }
}

/** A From, To, Contact, Route or Record-Route value. */
export interface NameAddr {
  displayName?: string;
  uri: Uri;
  /** Header parameters (tag, expires, q, lr on Route is a URI parameter instead). */
  params: Params;
}

/**
 * name-addr (`"Name" <uri>;p`, `Name <uri>`, `<uri>`) or addr-spec (`uri;p`, where the
 * parameters belong to the header, §20.10). Whitespace inside `<…>` is an error (RFC 4475
 * badaspec); so is an unquoted display name that is not tokens (baddn), and an addr-spec whose
 * URI would need `<…>` because it has headers (regbadct).
 */
export function parseNameAddr(value: string): Parsed<NameAddr> {
  const s = trimLws(value);
  let displayName: string | undefined;
  let i = 0;
  let uriText: string;
  if (s.startsWith('"')) {
    const end = quotedEnd(s, 0);
    if (end < 0) return fail('unterminated display name');
    displayName = unquote(s.slice(0, end));
    i = skipWs(s, end);
    if (s[i] !== '<') return fail('expected <');
  } else {
    const lt = s.indexOf('<');
    if (lt >= 0) {
      const words = trimLws(s.slice(0, lt));
      if (words !== '') {
        if (!words.split(/[ \t]+/).every((w) => TOKEN.test(w))) return fail('bad display name');
        displayName = words.replace(/[ \t]+/g, ' ');
      }
      i = lt;
    }
  }
  if (s[i] === '<') {
    const gt = s.indexOf('>', i);
    if (gt < 0) return fail('unterminated <');
    uriText = s.slice(i + 1, gt);
    if (/[ \t]/.test(uriText)) return fail('whitespace in URI');
    i = gt + 1;
  } else {
    let j = i;
    while (j < s.length && !isWs(s[j]) && s[j] !== ';') j++;
    uriText = s.slice(i, j);
    if (/[?,]/.test(uriText)) return fail('URI with headers must be in <>');
    i = j;
  }
  const uri = parseUri(uriText);
  if (!uri.ok) return fail(uri.reason);
  const params = parseParams(s, i);
  if (!params.ok) return params;
  const out: NameAddr = { uri: uri.uri, params: params.value };
  if (displayName !== undefined) out.displayName = displayName;
  return ok(out);
}

export function formatNameAddr(n: NameAddr): string {
  const dn = n.displayName !== undefined ? `${quote(n.displayName)} ` : '';
  return `${dn}<${formatUri(n.uri)}>${formatParams(n.params)}`;
}

/** A Contact value: a name-addr, or `*` in a REGISTER that removes every binding (§10.2.2). */
export function parseContact(value: string): Parsed<NameAddr | '*'> {
  return trimLws(value) === '*' ? ok('*') : parseNameAddr(value);
}

export interface Via {
  /** `SIP/2.0` normally; anything else is the caller's to refuse. */
  protocol: string;
  /** Upper-cased: UDP, TCP, TLS, SCTP, WS… (RFC 4475 transports: unknown ones are kept). */
  transport: string;
  host: string;
  port?: number;
  params: Params;
}

/** One Via value: `SIP / 2.0 / UDP host[:port] *(;param)`, whitespace allowed around `/` and `:`. */
export function parseVia(value: string): Parsed<Via> {
  const s = trimLws(value);
  const m =
    /^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+/.exec(
      s,
    );
  if (!m) return fail('bad sent-protocol');
  let i = m[0].length;
  let host: string;
  if (s[i] === '[') {
    const end = s.indexOf(']', i);
    if (end < 0) return fail('bad sent-by');
    host = s.slice(i, end + 1);
    i = end + 1;
  } else {
    const start = i;
    while (i < s.length && /[A-Za-z0-9.-]/.test(s[i])) i++;
    host = s.slice(start, i);
  }
  const hostCheck = /^\[[0-9A-Fa-f:.]+\]$|^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9.])?$/;
  if (!hostCheck.test(host)) return fail('bad sent-by host');
  i = skipWs(s, i);
  let port: number | undefined;
  if (s[i] === ':') {
    i = skipWs(s, i + 1);
    const start = i;
    while (/[0-9]/.test(s[i] ?? '')) i++;
    port = Number(s.slice(start, i));
    if (i === start || i - start > 5 || port < 1 || port > 65535) return fail('bad sent-by port');
  }
  const params = parseParams(s, i);
  if (!params.ok) return params;
  const rport = params.value.rport;
  if (rport !== undefined && rport !== null && !(/^[0-9]{1,5}$/.test(rport) && Number(rport) <= 65535))
    return fail('bad rport');
  const via: Via = {
    protocol: `${m[1]}/${m[2]}`.toUpperCase(),
    transport: m[3].toUpperCase(),
    host: host.toLowerCase(),
    params: params.value,
  };
  if (port !== undefined) via.port = port;
  return ok(via);
}

export function formatVia(v: Via): string {
  return `${v.protocol}/${v.transport} ${formatHostPort(v.host, v.port)}${formatParams(v.params)}`;
}

/** RFC 3261 §8.1.1.7: branches starting with the magic cookie identify RFC 3261 transactions. */
export const MAGIC_COOKIE = 'z9hG4bK';

export interface CSeq {
  seq: number;
  method: string;
}

/** `1*DIGIT LWS Method`; the number must be below 2**31 (§8.1.1.5, RFC 4475 scalar02). */
export function parseCSeq(value: string): Parsed<CSeq> {
  const m = /^([0-9]{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(trimLws(value));
  if (!m) return fail('bad CSeq');
  const seq = Number(m[1]);
  if (seq >= 2 ** 31) return fail('CSeq number too large');
  return ok({ seq, method: m[2] });
}
