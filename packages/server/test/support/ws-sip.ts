// A SIP-over-WebSocket client for tests (RFC 6455 framing written out here, RFC 7118 SIP on top):
// ws:// or wss:// (any certificate), from a chosen local address, with the handshake headers a
// test wants (a forged X-Real-IP, an Origin). Node 20 has no WebSocket client of its own, and
// writing the few frames by hand lets a test see exactly what the server answered to the
// handshake (101, or nginx's 429/503, or Kamailio's 4xx/503 with its text).
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { digestAuthorization, header, parseSip, type SipMessage } from './kamailio-sip.ts';
import { until } from './wait.ts';

export interface WsHandshake {
  /** 101 when upgraded; otherwise the HTTP status the server answered (or 0: connection failed). */
  status: number;
  /** The refusal's body (plain text from Kamailio, HTML from nginx), or the connection error. */
  text: string;
  headers: http.IncomingHttpHeaders;
  ws?: WsSip;
}

export interface WsSip {
  received: SipMessage[];
  send(text: string): void;
  waitFor(
    match: (m: SipMessage) => boolean,
    what: string,
    opts?: { from?: number; ms?: number },
  ): Promise<SipMessage>;
  closed(): boolean;
  /** Sends a Close frame and ends the connection. */
  close(): void;
}

export interface WsOptions {
  url: string;
  localAddress?: string;
  headers?: Record<string, string>;
  /** Default `sip`. */
  protocol?: string;
  ms?: number;
}

/** Opens the WebSocket; resolves with the handshake's outcome (never rejects). */
export function openWs(opts: WsOptions): Promise<WsHandshake> {
  const url = new URL(opts.url);
  const key = randomBytes(16).toString('base64');
  const lib = url.protocol === 'wss:' ? https : http;
  return new Promise((resolve) => {
    const req = lib.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: 'GET',
      localAddress: opts.localAddress,
      rejectUnauthorized: false,
      agent: false,
      timeout: opts.ms ?? 5000,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': key,
        'sec-websocket-protocol': opts.protocol ?? 'sip',
        ...opts.headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) {
        socket.destroy();
        resolve({ status: 0, text: 'bad Sec-WebSocket-Accept', headers: res.headers });
        return;
      }
      resolve({ status: 101, text: '', headers: res.headers, ws: wsSip(socket) });
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('handshake timed out')));
    req.on('error', (e) => resolve({ status: 0, text: e.message, headers: {} }));
    req.end();
  });
}

function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, 0x80 | len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
        : (() => {
            const b = Buffer.alloc(10);
            b[0] = 0x80 | opcode;
            b[1] = 0x80 | 127;
            b.writeBigUInt64BE(BigInt(len), 2);
            return b;
          })();
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([head, mask, body]);
}

function wsSip(socket: Socket): WsSip {
  const received: SipMessage[] = [];
  let buf = Buffer.alloc(0);
  let closed = false;
  const source = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const opcode = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const payload = buf.subarray(off, off + len);
      buf = buf.subarray(off + len);
      if (opcode === 0x1 || opcode === 0x2) received.push(parseSip(payload.toString('utf8'), source));
      // Kamailio pings every few seconds and closes a WebSocket that does not answer.
      else if (opcode === 0x9 && !closed) socket.write(frame(0xa, payload));
      else if (opcode === 0x8) {
        closed = true;
        socket.end();
      }
    }
  });
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => {
    closed = true;
  });
  return {
    received,
    send(text) {
      if (!closed) socket.write(frame(0x1, Buffer.from(text, 'utf8')));
    },
    waitFor(match, what, { from = 0, ms = 5000 } = {}) {
      return until(() => received.slice(from).find(match), what, ms);
    },
    closed: () => closed,
    close() {
      if (closed) return;
      closed = true;
      socket.end(frame(0x8, Buffer.from([0x03, 0xe8])));
      setTimeout(() => socket.destroy(), 500).unref();
    },
  };
}

let seq = 0;

/**
 * One REGISTER of `ext@domain` over `ws` answered with `password` (challenge, then the digest),
 * as a browser's JsSIP would: the final status and reason (200, 403 Forbidden, 403 Too Many
 * Failed Attempts…).
 */
export async function wsRegister(
  ws: WsSip,
  opts: {
    ext: string;
    domain: string;
    password: string;
    expires?: number;
    /** The Contact's host (a browser's random `….invalid`); the same one with expires 0 unregisters it. */
    host?: string;
  },
): Promise<{ status: number; reason: string }> {
  const callId = randomBytes(8).toString('hex');
  const fromTag = randomBytes(4).toString('hex');
  const host = opts.host ?? `${randomBytes(4).toString('hex')}.invalid`;
  const aor = `sip:${opts.ext}@${opts.domain}`;
  const request = (cseq: number, auth?: string) =>
    [
      `REGISTER sip:${opts.domain} SIP/2.0`,
      `Via: SIP/2.0/WSS ${host};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
      'Max-Forwards: 70',
      `From: <${aor}>;tag=${fromTag}`,
      `To: <${aor}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${opts.ext}@${host};transport=ws>;expires=${opts.expires ?? 600}`,
      ...(auth ? [`Authorization: ${auth}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  const answer = async (cseq: number) => {
    const m = await ws.waitFor(
      (r) =>
        r.status !== undefined &&
        r.status >= 200 &&
        header(r, 'CSeq') === `${cseq} REGISTER` &&
        header(r, 'Call-ID') === callId,
      `the answer to REGISTER ${cseq}`,
    );
    return m;
  };
  const cseq1 = ++seq;
  ws.send(request(cseq1));
  const first = await answer(cseq1);
  const reason = (m: SipMessage) => m.firstLine.replace(/^SIP\/2\.0 \d{3} ?/, '');
  if (first.status !== 401) return { status: first.status!, reason: reason(first) };
  const cseq2 = ++seq;
  ws.send(
    request(
      cseq2,
      digestAuthorization({
        challenge: header(first, 'WWW-Authenticate') ?? '',
        method: 'REGISTER',
        uri: `sip:${opts.domain}`,
        user: opts.ext,
        password: opts.password,
      }),
    ),
  );
  const second = await answer(cseq2);
  return { status: second.status!, reason: reason(second) };
}
