// Raw SIP over UDP for the Kamailio tests: a socket that stands in for the B2BUA (or a flooder),
// building requests and responses by hand so each test states exactly what goes on the wire.
// Deliberately not the B2BUA's own parser: these tests check Kamailio, not our SIP stack.
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { until } from './wait.ts';

export interface SipMessage {
  raw: string;
  /** `INVITE sip:… SIP/2.0` or `SIP/2.0 180 Ringing` */
  firstLine: string;
  method?: string;
  status?: number;
  headers: Array<[name: string, value: string]>;
  body: string;
  /** Where it came from. */
  source: { address: string; port: number };
}

/** Values of header `name` (case-insensitive, compact forms not expanded), in order. */
export function headerValues(m: SipMessage, name: string): string[] {
  const n = name.toLowerCase();
  return m.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

export function header(m: SipMessage, name: string): string | undefined {
  return headerValues(m, name)[0];
}

export function parseSip(raw: string, source: { address: string; port: number }): SipMessage {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const [firstLine, ...lines] = head.split('\r\n');
  const headers = lines
    .filter((l) => l.includes(':'))
    .map((l): [string, string] => [l.slice(0, l.indexOf(':')).trim(), l.slice(l.indexOf(':') + 1).trim()]);
  const m = /^SIP\/2\.0 (\d{3})/.exec(firstLine);
  return {
    raw,
    firstLine,
    ...(m ? { status: Number(m[1]) } : { method: firstLine.split(' ')[0] }),
    headers,
    body: end < 0 ? '' : raw.slice(end + 4),
    source,
  };
}

export const branch = () => `z9hG4bK${randomBytes(6).toString('hex')}`;
export const tag = () => randomBytes(4).toString('hex');

export interface RequestSpec {
  method: string;
  uri: string;
  /** Our own address for Via and Contact. */
  via: { address: string; port: number };
  from: string;
  to: string;
  /** A To tag: the request is in a dialog. */
  toTag?: string;
  callId?: string;
  cseq?: number;
  /** Overrides the `CSeq` header entirely (to build a broken one). */
  cseqHeader?: string;
  maxForwards?: number;
  headers?: string[];
  body?: string;
  branch?: string;
}

/** A request as text; From gets a tag, Content-Length is computed. */
export function buildRequest(r: RequestSpec): string {
  const body = r.body ?? '';
  return [
    `${r.method} ${r.uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${r.via.address}:${r.via.port};branch=${r.branch ?? branch()};rport`,
    `Max-Forwards: ${r.maxForwards ?? 70}`,
    `From: <${r.from}>;tag=${tag()}`,
    `To: <${r.to}>${r.toTag ? `;tag=${r.toTag}` : ''}`,
    `Call-ID: ${r.callId ?? randomBytes(8).toString('hex')}`,
    r.cseqHeader ?? `CSeq: ${r.cseq ?? 1} ${r.method}`,
    `Contact: <sip:${r.via.address}:${r.via.port}>`,
    ...(r.headers ?? []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/**
 * A response to `req` copying Via/From/To/Call-ID/CSeq (and Record-Route, as a UAS must), with a
 * To tag unless the request had one.
 */
export function buildResponse(
  req: SipMessage,
  status: number,
  reason: string,
  opts: { toTag?: string; headers?: string[]; body?: string } = {},
): string {
  const to = header(req, 'To') ?? '';
  const body = opts.body ?? '';
  return [
    `SIP/2.0 ${status} ${reason}`,
    ...headerValues(req, 'Via').map((v) => `Via: ${v}`),
    ...headerValues(req, 'Record-Route').map((v) => `Record-Route: ${v}`),
    `From: ${header(req, 'From')}`,
    `To: ${/;tag=/.test(to) ? to : `${to};tag=${opts.toTag ?? tag()}`}`,
    `Call-ID: ${header(req, 'Call-ID')}`,
    `CSeq: ${header(req, 'CSeq')}`,
    ...(opts.headers ?? []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** A minimal G.711 offer, enough for a phone to ring. */
export function sdpOffer(address: string, rtpPort: number): string {
  return [
    'v=0',
    `o=- 1 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${rtpPort} RTP/AVP 0 8`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

export interface UdpSipPeer {
  address: string;
  port: number;
  received: SipMessage[];
  /** Sends a datagram; `sent` runs once the kernel has it (before this thread reads any socket again). */
  send(text: string, port: number, address?: string, sent?: () => void): void;
  /** The first message at or after index `from` matching `match`. */
  waitFor(
    match: (m: SipMessage) => boolean,
    what: string,
    opts?: { from?: number; ms?: number },
  ): Promise<SipMessage>;
  close(): Promise<void>;
}

export async function startUdpPeer(opts: { address?: string; port?: number } = {}): Promise<UdpSipPeer> {
  const address = opts.address ?? '127.0.0.1';
  const sock = dgram.createSocket('udp4');
  const received: SipMessage[] = [];
  sock.on('message', (buf, rinfo) => {
    received.push(parseSip(buf.toString('utf8'), { address: rinfo.address, port: rinfo.port }));
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(opts.port ?? 0, address, () => resolve());
  });
  let closed = false;
  return {
    address,
    port: sock.address().port,
    received,
    send(text, port, to = '127.0.0.1', sent) {
      sock.send(text, port, to, sent && (() => sent()));
    },
    waitFor(match, what, { from = 0, ms = 5000 } = {}) {
      return until(() => received.slice(from).find(match), what, ms);
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise((resolve) => sock.close(() => resolve()));
    },
  };
}

/** The CANCEL for an INVITE we sent (same Via branch, From, To, Call-ID, CSeq number; RFC 3261 §9.1). */
export function buildCancel(invite: string): string {
  return hopByHop(invite, 'CANCEL');
}

/** The ACK for a non-2xx final response to an INVITE we sent: To carries the response's tag (§17.1.1.3). */
export function buildAckForFailure(invite: string, response: SipMessage): string {
  return hopByHop(invite, 'ACK', header(response, 'To'));
}

function hopByHop(invite: string, method: 'CANCEL' | 'ACK', to?: string): string {
  const [head] = invite.split('\r\n\r\n');
  const [first, ...lines] = head.split('\r\n');
  const keep = lines
    .filter((l) => /^(Via|From|To|Call-ID|CSeq|Max-Forwards|Route):/i.test(l))
    .map((l) => {
      if (/^CSeq:/i.test(l)) return `CSeq: ${l.split(/\s+/)[1]} ${method}`;
      if (/^To:/i.test(l) && to) return `To: ${to}`;
      return l;
    });
  return [first.replace(/^INVITE/, method), ...keep, 'Content-Length: 0', '', ''].join('\r\n');
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/**
 * An `Authorization` value answering a `WWW-Authenticate: Digest …` challenge (RFC 2617, MD5,
 * qop=auth when offered), so a test can present right or wrong credentials itself.
 */
export function digestAuthorization(opts: {
  challenge: string;
  method: string;
  uri: string;
  user: string;
  password: string;
}): string {
  const param = (name: string) => new RegExp(`${name}="?([^",]*)"?`).exec(opts.challenge)?.[1];
  const realm = param('realm') ?? '';
  const nonce = param('nonce') ?? '';
  const ha1 = md5(`${opts.user}:${realm}:${opts.password}`);
  const ha2 = md5(`${opts.method}:${opts.uri}`);
  const base = `Digest username="${opts.user}", realm="${realm}", nonce="${nonce}", uri="${opts.uri}", algorithm=MD5`;
  if (!/qop="?[^"]*auth/.test(opts.challenge)) return `${base}, response="${md5(`${ha1}:${nonce}:${ha2}`)}"`;
  const cnonce = randomBytes(4).toString('hex');
  const nc = '00000001';
  const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `${base}, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}"`;
}
