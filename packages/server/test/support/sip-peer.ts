// A raw UDP peer for SIP tests: sends hand-written messages and collects what comes back, so the
// transport and transaction layers are exercised over a real socket without a SIP stack of ours
// on the other side.
import dgram from 'node:dgram';
import {
  parseMessage,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../src/engine/sip/message.ts';

export interface RawPeer {
  port: number;
  /** Sends text with LF line ends turned into CRLF. */
  send(text: string, port: number): Promise<void>;
  sendBytes(bytes: Buffer, port: number): Promise<void>;
  /** The next datagram (parsed), or a failure after `ms`. */
  next(ms?: number): Promise<SipMessage>;
  nextResponse(ms?: number): Promise<SipResponse>;
  nextRequest(ms?: number): Promise<SipRequest>;
  /** Resolves with how many datagrams arrived within `ms` (and drops them). */
  drain(ms: number): Promise<number>;
  close(): Promise<void>;
}

export async function createRawPeer(): Promise<RawPeer> {
  const socket = dgram.createSocket('udp4');
  const queue: Buffer[] = [];
  const waiters: ((b: Buffer) => void)[] = [];
  socket.on('message', (b) => {
    const w = waiters.shift();
    if (w) w(b);
    else queue.push(b);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const port = socket.address().port;

  function nextRaw(ms: number): Promise<Buffer> {
    const queued = queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`no datagram within ${ms} ms`));
      }, ms);
      const w = (b: Buffer) => {
        clearTimeout(t);
        resolve(b);
      };
      waiters.push(w);
    });
  }

  async function next(ms = 2000): Promise<SipMessage> {
    const raw = await nextRaw(ms);
    const r = parseMessage(raw);
    if (r.kind !== 'message') throw new Error(`unparseable datagram (${r.kind}): ${raw.toString()}`);
    return r.message;
  }

  const sendBytes = (bytes: Buffer, to: number) =>
    new Promise<void>((resolve, reject) =>
      socket.send(bytes, to, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
    );

  return {
    port,
    send: (text, to) => sendBytes(Buffer.from(text.replace(/\r?\n/g, '\r\n')), to),
    sendBytes,
    next,
    async nextResponse(ms) {
      const m = await next(ms);
      if (m.type !== 'response') throw new Error(`expected a response, got ${m.method}`);
      return m;
    },
    async nextRequest(ms) {
      const m = await next(ms);
      if (m.type !== 'request') throw new Error(`expected a request, got ${m.status}`);
      return m;
    },
    async drain(ms) {
      await new Promise((r) => setTimeout(r, ms));
      const n = queue.length;
      queue.length = 0;
      return n;
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}
