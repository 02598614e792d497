/**
 * SIP/2.0 messages: the parser and serializer under the B2BUA (RFC 3261 §7, §20, §25).
 *
 * A message keeps its headers as an ordered list of (canonical name, one value): compact forms
 * are expanded (`v` → Via), folded lines are unfolded, and list headers (`Via: a, b`) become one
 * entry per element, so every layer above reads `Via` the same way whatever the peer sent.
 * Structured values (Via, CSeq, name-addr) are parsed on demand by header-values.ts; parseMessage
 * has already checked that the ones a transaction and a dialog rely on parse.
 *
 * Nothing here throws on wire input: parseMessage returns a ParseResult saying whether the bytes
 * are a message, a keep-alive, a request to answer with 400/505 (its top Via parses, so the
 * answer can be routed back, §18.2.2) or something to drop (a bad response, an ACK, no Via).
 */
import {
  type CSeq,
  type NameAddr,
  type Parsed,
  parseContact,
  parseCSeq,
  parseNameAddr,
  parseVia,
  splitList,
  TOKEN,
  trimLws,
  type Via,
} from './header-values.ts';
import { isSipUri, parseUri } from './uri.ts';

export interface Header {
  /** Canonical name for the headers we know (`Call-ID`, `CSeq`, `WWW-Authenticate`), else as sent. */
  name: string;
  value: string;
}

interface MessageBase {
  headers: Header[];
  body: Buffer;
}

export interface SipRequest extends MessageBase {
  type: 'request';
  method: string;
  /** The Request-URI as sent (parse with parseUri). */
  uri: string;
}

export interface SipResponse extends MessageBase {
  type: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

export type ParseResult =
  | { kind: 'message'; message: SipMessage }
  /** Only CRLFs (RFC 5626 keep-alive ping): nothing to do. */
  | { kind: 'keepalive' }
  /**
   * A request that must be refused statelessly: answer `status` with `reason` as the phrase.
   * `request` holds whatever headers were read, enough for createResponse to copy Via, From,
   * To, Call-ID and CSeq as they came.
   */
  | { kind: 'reject'; status: 400 | 505; reason: string; request: SipRequest }
  /** Not answerable (a response, an ACK, or no usable top Via): drop, maybe log `reason`. */
  | { kind: 'drop'; reason: string };

// ---------------------------------------------------------------------------------------------
// Header names

const CANONICAL = new Map<string, string>(
  [
    'Accept',
    'Accept-Contact',
    'Accept-Encoding',
    'Accept-Language',
    'Alert-Info',
    'Allow',
    'Allow-Events',
    'Authentication-Info',
    'Authorization',
    'Call-ID',
    'Call-Info',
    'Contact',
    'Content-Disposition',
    'Content-Encoding',
    'Content-Language',
    'Content-Length',
    'Content-Type',
    'CSeq',
    'Date',
    'Error-Info',
    'Event',
    'Expires',
    'From',
    'Identity',
    'Identity-Info',
    'In-Reply-To',
    'Max-Forwards',
    'MIME-Version',
    'Min-Expires',
    'Min-SE',
    'Organization',
    'P-Asserted-Identity',
    'Path',
    'Priority',
    'Proxy-Authenticate',
    'Proxy-Authorization',
    'Proxy-Require',
    'RAck',
    'Reason',
    'Record-Route',
    'Refer-To',
    'Referred-By',
    'Reject-Contact',
    'Replaces',
    'Reply-To',
    'Request-Disposition',
    'Require',
    'Retry-After',
    'Route',
    'RSeq',
    'Server',
    'Service-Route',
    'Session-Expires',
    'Subject',
    'Subscription-State',
    'Supported',
    'Timestamp',
    'To',
    'Unsupported',
    'User-Agent',
    'Via',
    'Warning',
    'WWW-Authenticate',
  ].map((n) => [n.toLowerCase(), n]),
);

/** RFC 3261 §7.3.3 and the IANA registry's compact forms. */
const COMPACT: Record<string, string> = {
  a: 'Accept-Contact',
  b: 'Referred-By',
  c: 'Content-Type',
  d: 'Request-Disposition',
  e: 'Content-Encoding',
  f: 'From',
  i: 'Call-ID',
  j: 'Reject-Contact',
  k: 'Supported',
  l: 'Content-Length',
  m: 'Contact',
  n: 'Identity-Info',
  o: 'Event',
  r: 'Refer-To',
  s: 'Subject',
  t: 'To',
  u: 'Allow-Events',
  v: 'Via',
  x: 'Session-Expires',
  y: 'Identity',
};

/** Headers whose value is a comma-separated list (§7.3.1); the auth headers are not (their commas separate parameters). */
const LIST_HEADERS = new Set([
  'Accept',
  'Accept-Encoding',
  'Accept-Language',
  'Alert-Info',
  'Allow',
  'Allow-Events',
  'Call-Info',
  'Contact',
  'Content-Encoding',
  'Content-Language',
  'Error-Info',
  'In-Reply-To',
  'P-Asserted-Identity',
  'Path',
  'Proxy-Require',
  'Reason',
  'Record-Route',
  'Require',
  'Route',
  'Service-Route',
  'Supported',
  'Unsupported',
  'Via',
  'Warning',
]);

/** Lists of name-addrs or Vias: an empty element there is an error, not something to skip. */
const STRICT_LISTS = new Set(['Via', 'Contact', 'Route', 'Record-Route', 'Path', 'Service-Route']);

/** Headers a message may carry at most once (RFC 4475 multi01, mcl01). */
const SINGLE = ['From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Length', 'Content-Type'];

export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? CANONICAL.get(lower) ?? name;
}

// ---------------------------------------------------------------------------------------------
// Header access

/** Every value of a header, in order (names compare case-insensitively, compact forms expanded). */
export function getHeaders(msg: { headers: Header[] }, name: string): string[] {
  const want = canonicalHeaderName(name).toLowerCase();
  return msg.headers.filter((h) => h.name.toLowerCase() === want).map((h) => h.value);
}

export function getHeader(msg: { headers: Header[] }, name: string): string | undefined {
  return getHeaders(msg, name)[0];
}

/** Replaces every value of `name` with `values`, at the position of the first one (or at the end). */
export function setHeader(msg: { headers: Header[] }, name: string, ...values: string[]): void {
  const canonical = canonicalHeaderName(name);
  const want = canonical.toLowerCase();
  const at = msg.headers.findIndex((h) => h.name.toLowerCase() === want);
  const kept = msg.headers.filter((h) => h.name.toLowerCase() !== want);
  const insert = values.map((value) => ({ name: canonical, value }));
  kept.splice(at < 0 ? kept.length : at, 0, ...insert);
  msg.headers = kept;
}

function parsedOrUndefined<T>(p: Parsed<T> | undefined): T | undefined {
  return p?.ok ? p.value : undefined;
}

export function getVias(msg: SipMessage): Via[] {
  return getHeaders(msg, 'Via')
    .map((v) => parsedOrUndefined(parseVia(v)))
    .filter((v): v is Via => v !== undefined);
}

export function getTopVia(msg: SipMessage): Via | undefined {
  const v = getHeader(msg, 'Via');
  return v === undefined ? undefined : parsedOrUndefined(parseVia(v));
}

export function getCSeq(msg: SipMessage): CSeq | undefined {
  const v = getHeader(msg, 'CSeq');
  return v === undefined ? undefined : parsedOrUndefined(parseCSeq(v));
}

export function getNameAddr(
  msg: SipMessage,
  name: 'From' | 'To' | 'Refer-To' | 'Referred-By',
): NameAddr | undefined {
  const v = getHeader(msg, name);
  return v === undefined ? undefined : parsedOrUndefined(parseNameAddr(v));
}

export function getCallId(msg: SipMessage): string | undefined {
  return getHeader(msg, 'Call-ID');
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Index of the blank line ending the headers and the length of its terminator, accepting bare LF. */
function headerEnd(buf: Buffer, from: number): { at: number; len: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n', from);
  const lf = buf.indexOf('\n\n', from);
  if (crlf < 0 && lf < 0) return undefined;
  if (lf >= 0 && (crlf < 0 || lf < crlf)) return { at: lf, len: 2 };
  return { at: crlf, len: 4 };
}

/**
 * Parses one SIP message from a UDP datagram (§18.3): the body is the Content-Length octets
 * after the blank line (trailing octets are ignored, RFC 4475 dblreq), or the rest of the
 * datagram when Content-Length is absent; a body shorter than Content-Length is an error (clerr).
 */
export function parseMessage(datagram: Buffer): ParseResult {
  let start = 0;
  while (start < datagram.length && (datagram[start] === 0x0d || datagram[start] === 0x0a)) start++;
  if (start >= datagram.length) return { kind: 'keepalive' };

  const end = headerEnd(datagram, start);
  const headText = datagram.toString('utf8', start, end ? end.at : datagram.length);
  const bodyStart = end ? end.at + end.len : datagram.length;
  const rest = datagram.subarray(bodyStart);

  // Unfold (§7.3.1): a line starting with whitespace continues the previous one.
  const lines = headText.split(/\r?\n/);
  const startLine = lines[0];
  const headerLines: string[] = [];
  for (const line of lines.slice(1)) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && headerLines.length > 0)
      headerLines[headerLines.length - 1] += ` ${trimLws(line)}`;
    else headerLines.push(line);
  }

  const headers: Header[] = [];
  let headerError: string | undefined;
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const rawName = colon >= 0 ? line.slice(0, colon).trimEnd() : '';
    if (!TOKEN.test(rawName)) {
      headerError ??= 'Bad header line';
      continue;
    }
    const name = canonicalHeaderName(rawName);
    const value = trimLws(line.slice(colon + 1));
    if (LIST_HEADERS.has(name) && value !== '') {
      for (const element of splitList(value)) {
        if (element === '' && !STRICT_LISTS.has(name)) continue;
        headers.push({ name, value: element });
      }
    } else headers.push({ name, value });
  }

  if (startLine.startsWith('SIP/')) return parseResponse(startLine, headers, headerError, rest);
  return parseRequest(startLine, headers, headerError, rest);
}

type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: string };

function frameBody(headers: Header[], rest: Buffer): BodyResult {
  const cl = getHeaders({ headers }, 'Content-Length');
  if (cl.length === 0) return { ok: true, body: rest };
  if (cl.length > 1) return { ok: false, reason: 'Multiple Content-Length' };
  if (!/^[0-9]{1,10}$/.test(cl[0])) return { ok: false, reason: 'Bad Content-Length' };
  const n = Number(cl[0]);
  if (n > rest.length) return { ok: false, reason: 'Content-Length larger than message' };
  return { ok: true, body: Buffer.from(rest.subarray(0, n)) };
}

function parseResponse(
  line: string,
  headers: Header[],
  headerError: string | undefined,
  rest: Buffer,
): ParseResult {
  // Reason-Phrase may be empty, and some peers drop the space before it (RFC 4475 noreason).
  const m = /^SIP\/([0-9]+\.[0-9]+) ([1-6][0-9]{2})(?: (.*))?$/i.exec(line);
  if (!m) return { kind: 'drop', reason: 'Bad Status-Line' };
  if (m[1] !== '2.0') return { kind: 'drop', reason: 'Unsupported SIP version' };
  if (headerError) return { kind: 'drop', reason: headerError };
  const body = frameBody(headers, rest);
  if (!body.ok) return { kind: 'drop', reason: body.reason };
  const response: SipResponse = {
    type: 'response',
    status: Number(m[2]),
    reason: m[3] ?? '',
    headers,
    body: body.body,
  };
  const problem = checkCommon(response);
  if (problem) return { kind: 'drop', reason: problem };
  return { kind: 'message', message: response };
}

function parseRequest(
  line: string,
  headers: Header[],
  headerError: string | undefined,
  rest: Buffer,
): ParseResult {
  // Exactly single spaces (§7.1; RFC 4475 lwsstart, trws, lwsruri, ltgtruri).
  const parts = line.split(' ');
  const method = parts.length === 3 && TOKEN.test(parts[0]) ? parts[0] : '';
  const request: SipRequest = {
    type: 'request',
    method,
    uri: parts[1] ?? '',
    headers,
    body: Buffer.alloc(0),
  };

  const vias = getHeaders(request, 'Via');
  if (vias.length === 0) return { kind: 'drop', reason: 'No Via' };
  const top = parseVia(vias[0]);
  if (!top.ok || !top.value.protocol.startsWith('SIP/')) return { kind: 'drop', reason: 'Bad top Via' };
  if (method === 'ACK') {
    // An ACK is never answered (§17.2.1), so a bad one can only be dropped.
    const problem = requestProblem(line, parts, headerError, rest, request);
    return problem ? { kind: 'drop', reason: problem.reason } : { kind: 'message', message: request };
  }
  const problem = requestProblem(line, parts, headerError, rest, request);
  if (problem) return { kind: 'reject', status: problem.status, reason: problem.reason, request };
  return { kind: 'message', message: request };
}

/** Fills in the request's body; returns what is wrong with it, if anything. */
function requestProblem(
  line: string,
  parts: string[],
  headerError: string | undefined,
  rest: Buffer,
  request: SipRequest,
): { status: 400 | 505; reason: string } | undefined {
  if (parts.length !== 3 || request.method === '' || parts[1] === '')
    return { status: 400, reason: 'Bad Request-Line' };
  if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(parts[2])) return { status: 400, reason: 'Bad Request-Line' };
  if (parts[2].toUpperCase() !== 'SIP/2.0') return { status: 505, reason: 'Version Not Supported' };
  if (line.includes('\t')) return { status: 400, reason: 'Bad Request-Line' };
  const uri = parseUri(request.uri);
  if (!uri.ok) return { status: 400, reason: 'Bad Request-URI' };
  // §19.1.5: headers are not allowed in a Request-URI (RFC 4475 escruri).
  if (isSipUri(uri.uri) && Object.keys(uri.uri.headers).length > 0)
    return { status: 400, reason: 'Headers in Request-URI' };
  if (headerError) return { status: 400, reason: headerError };
  const body = frameBody(request.headers, rest);
  if (!body.ok) return { status: 400, reason: body.reason };
  request.body = body.body;

  const common = checkCommon(request);
  if (common) return { status: 400, reason: common };
  const cseq = getCSeq(request)!;
  if (cseq.method !== request.method) return { status: 400, reason: 'CSeq method does not match' };
  const mf = getHeader(request, 'Max-Forwards');
  // Leading zeros are fine (RFC 4475 wsinv's 0068); above 255 is not (scalar02).
  if (mf !== undefined && !(/^[0-9]{1,10}$/.test(mf) && Number(mf) <= 255))
    return { status: 400, reason: 'Bad Max-Forwards' };
  for (const c of getHeaders(request, 'Contact'))
    if (!parseContact(c).ok) return { status: 400, reason: 'Bad Contact' };
  for (const name of ['Route', 'Record-Route'])
    for (const r of getHeaders(request, name))
      if (!parseNameAddr(r).ok) return { status: 400, reason: `Bad ${name}` };
  return undefined;
}

/** What both requests and responses need for transactions and dialogs (§8.1.1, §8.2.6.2). */
function checkCommon(msg: SipMessage): string | undefined {
  for (const name of ['From', 'To', 'Call-ID', 'CSeq'])
    if (getHeaders(msg, name).length === 0) return `Missing ${name}`;
  for (const name of SINGLE) if (getHeaders(msg, name).length > 1) return `Multiple ${name}`;
  for (const v of getHeaders(msg, 'Via')) if (!parseVia(v).ok) return 'Bad Via';
  if (!parseNameAddr(getHeader(msg, 'From')!).ok) return 'Bad From';
  if (!parseNameAddr(getHeader(msg, 'To')!).ok) return 'Bad To';
  if (getCallId(msg) === '' || /[ \t]/.test(getCallId(msg)!)) return 'Bad Call-ID';
  const cseq = parseCSeq(getHeader(msg, 'CSeq')!);
  if (!cseq.ok) return cseq.reason === 'bad CSeq' ? 'Bad CSeq' : 'CSeq number too large';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Serializing

/**
 * Writes a message for the wire. Content-Length is always written from the body (mandatory on
 * TCP, harmless on UDP), whatever the header list says.
 */
export function serializeMessage(msg: SipMessage): Buffer {
  const start =
    msg.type === 'request' ? `${msg.method} ${msg.uri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
  let head = `${start}\r\n`;
  for (const h of msg.headers)
    if (h.name.toLowerCase() !== 'content-length') head += `${h.name}: ${h.value}\r\n`;
  head += `Content-Length: ${msg.body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), msg.body]);
}
