// A bare SIP client over UDP (and one-shot TCP) for the `sip` part of `npm run proof`: it sends
// whatever bytes it is given from a chosen loopback source address (127.0.0.0/8 is all ours, so a
// scanner, a fuzzer and a carrier each get addresses of their own, apart from the phones' 127.0.0.1)
// and collects what comes back. No SIP stack of ours is used on this side: the point is to send
// what a well-behaved stack never would.
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

export interface Received {
  status: number | null;
  reason: string;
  callId: string | null;
  cseq: string | null;
  text: string;
  at: number;
}

export function parseReceived(buf: Buffer): Received {
  const text = buf.toString('latin1');
  const m = /^SIP\/2\.0 (\d{3}) ?([^\r\n]*)/.exec(text);
  const header = (name: string, short?: string) => {
    const re = new RegExp(`^(?:${name}${short ? `|${short}` : ''})[ \\t]*:[ \\t]*([^\\r\\n]*)`, 'im');
    return re.exec(text)?.[1]?.trim() ?? null;
  };
  return {
    status: m ? Number(m[1]) : null,
    reason: m?.[2] ?? '',
    callId: header('Call-ID', 'i'),
    cseq: header('CSeq'),
    text,
    at: Date.now(),
  };
}

export interface UdpPeer {
  address: string;
  port: number;
  received: Received[];
  send(data: Buffer | string, port: number, host?: string): void;
  /** The first message received from index `from` on that `match` takes, or null after `ms`. */
  waitFor(match: (r: Received) => boolean, ms: number, from?: number): Promise<Received | null>;
  close(): void;
}

export function openUdp(address: string): Promise<UdpPeer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const received: Received[] = [];
    const waiters = new Set<() => void>();
    sock.on('message', (buf) => {
      received.push(parseReceived(buf));
      for (const w of waiters) w();
    });
    sock.once('error', reject);
    sock.bind(0, address, () => {
      sock.off('error', reject);
      sock.on('error', () => {}); // ICMP unreachable and the like: the fuzzer does not care
      const peer: UdpPeer = {
        address,
        port: sock.address().port,
        received,
        send(data, port, host = '127.0.0.1') {
          sock.send(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, port, host);
        },
        waitFor(match, ms, from = 0) {
          return new Promise((done) => {
            const look = () => {
              const hit = received.slice(from).find(match);
              if (hit) {
                finish(hit);
                return true;
              }
              return false;
            };
            const finish = (r: Received | null) => {
              clearTimeout(timer);
              waiters.delete(check);
              done(r);
            };
            const check = () => void look();
            const timer = setTimeout(() => finish(null), ms);
            waiters.add(check);
            look();
          });
        },
        close() {
          try {
            sock.close();
          } catch {}
        },
      };
      resolve(peer);
    });
  });
}

/** Opens a TCP connection from `address`, writes `data`, reads for `ms`, closes; what came back. */
export function tcpOnce(address: string, port: number, data: Buffer, ms: number): Promise<Received[]> {
  return new Promise((resolve) => {
    const out: Received[] = [];
    const sock = net.connect({ host: '127.0.0.1', port, localAddress: address });
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    sock.on('connect', () => sock.write(data));
    sock.on('data', (b) => out.push(parseReceived(b)));
    sock.on('error', done);
    sock.on('close', done);
  });
}

export const token = (n = 8) => randomBytes(n).toString('hex');

export interface Challenge {
  realm: string;
  nonce: string;
  qop: string | null;
  header: 'Authorization' | 'Proxy-Authorization';
}

/** The digest challenge of a 401/407, or null. */
export function challengeOf(r: Received): Challenge | null {
  const h = /^(WWW|Proxy)-Authenticate[ \t]*:[ \t]*Digest ([^\r\n]*)/im.exec(r.text);
  if (!h) return null;
  const param = (k: string) => new RegExp(`${k}="?([^",]*)"?`, 'i').exec(h[2])?.[1] ?? null;
  const realm = param('realm');
  const nonce = param('nonce');
  if (!realm || !nonce) return null;
  return {
    realm,
    nonce,
    qop: /auth/.test(param('qop') ?? '') ? 'auth' : null,
    header: h[1].toLowerCase() === 'www' ? 'Authorization' : 'Proxy-Authorization',
  };
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** RFC 2617 digest credentials answering `c` (qop=auth when offered). */
export function digestHeader(
  c: Challenge,
  user: string,
  password: string,
  method: string,
  uri: string,
): string {
  const ha1 = md5(`${user}:${c.realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  if (!c.qop)
    return `${c.header}: Digest username="${user}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", response="${md5(`${ha1}:${c.nonce}:${ha2}`)}", algorithm=MD5`;
  const cnonce = token(4);
  const nc = '00000001';
  const response = md5(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `${c.header}: Digest username="${user}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
}

export interface RequestParts {
  method: string;
  uri: string;
  from: string;
  to: string;
  src: { address: string; port: number };
  callId?: string;
  cseq?: number;
  branch?: string;
  fromTag?: string;
  toTag?: string;
  headers?: string[];
  body?: string;
}

/** A well-formed request (CRLF lines, a Content-Length that is right). */
export function buildRequest(p: RequestParts): string {
  const body = p.body ?? '';
  const lines = [
    `${p.method} ${p.uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${p.src.address}:${p.src.port};branch=${p.branch ?? `z9hG4bK${token()}`};rport`,
    'Max-Forwards: 70',
    `From: <${p.from}>;tag=${p.fromTag ?? token(4)}`,
    `To: <${p.to}>${p.toTag ? `;tag=${p.toTag}` : ''}`,
    `Call-ID: ${p.callId ?? `${token()}@${p.src.address}`}`,
    `CSeq: ${p.cseq ?? 1} ${p.method}`,
    `Contact: <sip:u@${p.src.address}:${p.src.port}>`,
    'User-Agent: dzvin-proof',
    ...(p.headers ?? []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}

/** A G.711 offer from `address` (the port is never listened on: nobody answers it here). */
export function sdpOffer(address: string, port = 40_000): string {
  return [
    'v=0',
    `o=- ${Date.now()} 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 8 0 101`,
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}
