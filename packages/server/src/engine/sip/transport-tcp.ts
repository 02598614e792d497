/**
 * The TCP transport (RFC 3261 §18): SIP over streams, behind the same SipTransport as UDP.
 *
 * - Framing (§18.3): a message is its headers up to the blank line plus exactly Content-Length
 *   octets of body; several messages may come in one read and one message over many. On a stream
 *   Content-Length is mandatory: a request without one is answered 400 and the connection is
 *   closed (what follows cannot be framed); so is a message larger than `maxMessageBytes` (513).
 *   A request that frames but is malformed gets its 400 on the connection, which stays open.
 *   CRLFs between messages are keep-alives; a double CRLF ("ping") is answered with one CRLF
 *   ("pong", RFC 5626 §3.5.1).
 * - Connections are reused both ways (§18.2.2, §18.1.1): a response goes back on the connection
 *   its request came on while it is open (else to `received` + the sent-by port), a request to a
 *   peer goes on an open connection to it, or a new one.
 * - `keepAlive` peers (Kamailio's edge socket) get a connection at once that is kept: pinged
 *   every `keepAliveMs`, reconnected after a loss (1 s, doubling to 30 s). Any other connection
 *   idle for `idleTimeoutMs` is closed.
 * - Incoming requests get `received`/`rport` as on UDP, so a response built by copying Via names
 *   the connection it belongs to.
 * - Bad input never throws out of here: it costs a 400/513, a dropped message or the connection.
 */
import net from 'node:net';
import { createResponse, newTag } from './build.ts';
import { formatVia, parseVia, type Via } from './header-values.ts';
import {
  getTopVia,
  parseMessage,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  serializeMessage,
} from './message.ts';
import {
  bare,
  deliverReceived,
  isOurSentBy,
  type MessageHandler,
  type Remote,
  type SipTransport,
  stampVia,
} from './transport.ts';
import { formatHostPort } from './uri.ts';

export interface TcpTransportOptions {
  host: string;
  /** 0 lets the OS choose. */
  port: number;
  /** Host written in our Via and Contacts when it differs from the bound one. */
  advertisedHost?: string;
  /** Peers to hold a connection to from the start, kept alive and re-opened when lost. */
  keepAlive?: Remote[];
  /** Largest message accepted, headers and body (default 64 KiB). */
  maxMessageBytes?: number;
  /** A connection with no traffic this long is closed (default 5 min); keep-alive peers' are pinged instead. */
  idleTimeoutMs?: number;
  /** How often a keep-alive peer's connection is pinged with CRLFCRLF (default 30 s). */
  keepAliveMs?: number;
  /** Giving up on a connect after (default 5 s). */
  connectTimeoutMs?: number;
  /** Most connections at once (accepted ones; default 1024). */
  maxConnections?: number;
  onDiscard?: (reason: string, remote: Remote) => void;
  onError?: (err: unknown) => void;
  /** Connections opened and closed; for logs and tests. */
  onConnection?: (event: 'open' | 'close', remote: Remote, direction: 'in' | 'out') => void;
}

export interface TcpTransport extends SipTransport {
  readonly protocol: 'TCP';
  /** The open connections now: the far end, our end, and who opened them. */
  connections(): { remote: Remote; local: Remote; direction: 'in' | 'out' }[];
}

/** What the front of a stream buffer holds (exported for the framing's own tests). */
export type Frame =
  | { kind: 'need-more' }
  /** `length` octets of CR/LF between messages; `ping` when they held a CRLFCRLF. */
  | { kind: 'crlf'; length: number; ping: boolean }
  | { kind: 'message'; length: number }
  /** The stream cannot be framed past here: answer `status` if the head is a request, then close. */
  | { kind: 'fatal'; status?: 400 | 513; reason: string; head?: Buffer };

const DEFAULT_PORT = 5060;

/** Splits the front of a stream buffer per §18.3 (headers, then exactly Content-Length octets). */
export function frame(buf: Buffer, maxMessageBytes: number): Frame {
  let n = 0;
  while (n < buf.length && (buf[n] === 0x0d || buf[n] === 0x0a)) n++;
  if (n > 0) return { kind: 'crlf', length: n, ping: buf.subarray(0, n).includes('\r\n\r\n') };
  if (buf.length === 0) return { kind: 'need-more' };
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  let at = -1;
  let sep = 0;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) [at, sep] = [crlf, 4];
  else if (lf >= 0) [at, sep] = [lf, 2];
  if (at < 0) {
    if (buf.length > maxMessageBytes) return { kind: 'fatal', reason: 'Headers too long' };
    return { kind: 'need-more' };
  }
  const head = buf.subarray(0, at);
  const lengths: string[] = [];
  for (const line of head.toString('latin1').split(/\r?\n/)) {
    const m = /^(content-length|l)[ \t]*:(.*)$/i.exec(line);
    if (m) lengths.push(m[2].trim());
  }
  if (lengths.length === 0) return { kind: 'fatal', status: 400, reason: 'Missing Content-Length', head };
  if (lengths.length > 1) return { kind: 'fatal', status: 400, reason: 'Multiple Content-Length', head };
  if (!/^[0-9]{1,10}$/.test(lengths[0]))
    return { kind: 'fatal', status: 400, reason: 'Bad Content-Length', head };
  const total = at + sep + Number(lengths[0]);
  if (total > maxMessageBytes) return { kind: 'fatal', status: 513, reason: 'Message Too Large', head };
  if (buf.length < total) return { kind: 'need-more' };
  return { kind: 'message', length: total };
}

interface Conn {
  socket: net.Socket;
  remote: Remote;
  key: string;
  direction: 'in' | 'out';
  buf: Buffer;
  /** Resolves once connected (at once for accepted ones); rejects when the connect fails. */
  ready: Promise<void>;
  /** Nothing more is read: a fatal framing error is being answered and the connection closed. */
  dead: boolean;
}

const keyOf = (r: Remote) => `${bare(r.address).toLowerCase()}:${r.port}`;

export async function createTcpTransport(opts: TcpTransportOptions): Promise<TcpTransport> {
  const onError = opts.onError ?? (() => {});
  const discard = opts.onDiscard ?? (() => {});
  const maxMessageBytes = opts.maxMessageBytes ?? 65536;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
  const keepAliveMs = opts.keepAliveMs ?? 30_000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  const kept = new Set((opts.keepAlive ?? []).map(keyOf));
  const conns = new Map<string, Conn>();
  let handler: MessageHandler | undefined;
  let closing = false;

  const server = net.createServer({ noDelay: true }, (socket) => {
    try {
      accept(socket);
    } catch (err) {
      onError(err);
      socket.destroy();
    }
  });
  server.maxConnections = opts.maxConnections ?? 1024;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', onError);

  const bound = server.address() as net.AddressInfo;
  const address: Remote = { address: bound.address, port: bound.port };
  const advertised = opts.advertisedHost ?? opts.host;
  const sentByHost = net.isIPv6(advertised) ? `[${advertised}]` : advertised;
  const sentBy = formatHostPort(sentByHost, address.port);
  const localAddress = opts.host === '0.0.0.0' || opts.host === '::' ? undefined : opts.host;

  function track(socket: net.Socket, remote: Remote, direction: 'in' | 'out', ready: Promise<void>): Conn {
    const conn: Conn = {
      socket,
      remote,
      key: keyOf(remote),
      direction,
      buf: Buffer.alloc(0),
      ready,
      dead: false,
    };
    conns.set(conn.key, conn);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, keepAliveMs);
    socket.setTimeout(idleTimeoutMs);
    socket.on('timeout', () => {
      if (direction === 'out' && kept.has(conn.key)) return; // pinged, never idle-closed
      discard('idle connection closed', remote);
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        onData(conn, chunk);
      } catch (err) {
        // Belt and braces: a bug in framing or parsing costs this connection, not the process.
        onError(err);
        socket.destroy();
      }
    });
    socket.on('error', (err) => discard(`connection error: ${err.message}`, remote));
    socket.on('close', () => {
      if (conns.get(conn.key) === conn) conns.delete(conn.key);
      opts.onConnection?.('close', remote, direction);
      if (direction === 'out' && kept.has(conn.key)) scheduleReconnect(remote);
    });
    return conn;
  }

  function accept(socket: net.Socket): void {
    if (closing || !socket.remoteAddress || socket.remotePort === undefined) {
      socket.destroy();
      return;
    }
    const remote: Remote = { address: socket.remoteAddress, port: socket.remotePort };
    track(socket, remote, 'in', Promise.resolve());
    opts.onConnection?.('open', remote, 'in');
  }

  function connect(to: Remote): Conn {
    const socket = net.connect({ host: bare(to.address), port: to.port, localAddress });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => socket.destroy(new Error(`connect to ${keyOf(to)} timed out`)),
        connectTimeoutMs,
      );
      socket.once('connect', () => {
        clearTimeout(timer);
        opts.onConnection?.('open', to, 'out');
        resolve();
      });
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new Error(`connection to ${keyOf(to)} closed`));
      });
    });
    ready.catch(() => {}); // a failed connect is reported to whoever sends on it
    return track(socket, to, 'out', ready);
  }

  /** An open (or opening) connection to `to`, or a new one. */
  function connectionTo(to: Remote): Conn {
    const existing = conns.get(keyOf(to));
    if (existing && !existing.dead && !existing.socket.destroyed) return existing;
    if (closing) throw new Error('transport closed');
    return connect(to);
  }

  const backoff = new Map<string, number>();
  const reconnects = new Map<string, NodeJS.Timeout>();
  function scheduleReconnect(to: Remote): void {
    const key = keyOf(to);
    if (closing || reconnects.has(key)) return;
    const wait = backoff.get(key) ?? 1000;
    backoff.set(key, Math.min(wait * 2, 30_000));
    const t = setTimeout(() => {
      reconnects.delete(key);
      if (closing || conns.has(key)) return;
      connect(to).ready.then(
        () => backoff.delete(key),
        () => {}, // its close schedules the next attempt
      );
    }, wait);
    t.unref();
    reconnects.set(key, t);
  }
  for (const peer of opts.keepAlive ?? []) connectionTo(peer);
  const pinger = setInterval(() => {
    for (const c of conns.values())
      if (c.direction === 'out' && kept.has(c.key) && !c.socket.connecting && !c.dead)
        c.socket.write('\r\n\r\n');
  }, keepAliveMs);
  pinger.unref();

  async function write(conn: Conn, bytes: Buffer): Promise<void> {
    await conn.ready;
    await new Promise<void>((resolve, reject) => {
      if (conn.socket.destroyed || conn.dead) {
        reject(new Error(`connection to ${conn.key} is closed`));
        return;
      }
      conn.socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Our own responses carry our sent-by (§18.1.2). */
  const isOurs = (via: Via) => isOurSentBy(via, sentByHost, address.port);

  function onData(conn: Conn, chunk: Buffer): void {
    if (conn.dead) return;
    conn.buf = conn.buf.length ? Buffer.concat([conn.buf, chunk]) : chunk;
    for (;;) {
      const f = frame(conn.buf, maxMessageBytes);
      if (f.kind === 'need-more') return;
      if (f.kind === 'crlf') {
        if (f.ping) conn.socket.write('\r\n');
        conn.buf = conn.buf.subarray(f.length);
        continue;
      }
      if (f.kind === 'fatal') {
        fatal(conn, f);
        return;
      }
      const bytes = conn.buf.subarray(0, f.length);
      conn.buf = conn.buf.subarray(f.length);
      receive(conn, bytes);
    }
  }

  /** Answers what can be answered of an unframeable message, then closes the connection. */
  function fatal(conn: Conn, f: Extract<Frame, { kind: 'fatal' }>): void {
    conn.dead = true;
    conn.buf = Buffer.alloc(0);
    discard(`${f.status ?? 'closed:'} ${f.reason}`, conn.remote);
    let answer: Buffer | undefined;
    if (f.status && f.head) {
      const parsed = parseMessage(Buffer.concat([f.head, Buffer.from('\r\n\r\n')]));
      const req: SipRequest | undefined =
        parsed.kind === 'reject'
          ? parsed.request
          : parsed.kind === 'message' && parsed.message.type === 'request'
            ? parsed.message
            : undefined;
      if (req && req.method !== 'ACK' && stamp(req, conn.remote))
        answer = serializeMessage(createResponse(req, f.status, f.reason, { toTag: newTag() }));
    }
    if (answer) conn.socket.end(answer);
    else conn.socket.destroy();
    // A peer that never reads must not hold the socket open.
    setTimeout(() => conn.socket.destroy(), 2000).unref();
  }

  /** Stamps received/rport on the top Via; false when there is no usable one. */
  function stamp(req: SipRequest, remote: Remote): boolean {
    const first = req.headers.findIndex((h) => h.name === 'Via');
    if (first < 0) return false;
    const top = parseVia(req.headers[first].value);
    if (!top.ok) return false;
    req.headers[first] = { name: 'Via', value: formatVia(stampVia(top.value, remote)) };
    return true;
  }

  function receive(conn: Conn, bytes: Buffer): void {
    const remote = conn.remote;
    const result = parseMessage(bytes);
    switch (result.kind) {
      case 'keepalive':
        return;
      case 'drop':
        discard(result.reason, remote);
        return;
      case 'reject': {
        const req = result.request;
        stamp(req, remote);
        discard(`${result.status} ${result.reason}`, remote);
        write(
          conn,
          serializeMessage(createResponse(req, result.status, result.reason, { toTag: newTag() })),
        ).catch((err) => discard(`could not answer: ${err.message}`, remote));
        return;
      }
      case 'message': {
        deliverReceived(result.message, remote, { isOurs, handler, discard, onError });
      }
    }
  }

  async function send(message: SipMessage, to: Remote): Promise<void> {
    await write(connectionTo(to), serializeMessage(message));
  }

  async function sendResponse(response: SipResponse, arrivedFrom?: Remote): Promise<void> {
    const via = getTopVia(response);
    if (!via) throw new Error('response without a valid Via');
    const bytes = serializeMessage(response);
    // §18.2.2: on the connection the request came on, while it is open…
    for (const r of [
      arrivedFrom,
      via.params.received && via.params.rport
        ? { address: via.params.received, port: Number(via.params.rport) }
        : undefined,
    ]) {
      const c = r && conns.get(keyOf(r));
      if (c && !c.dead && !c.socket.destroyed) {
        await write(c, bytes);
        return;
      }
    }
    // …else a new one to `received` (or maddr, or the sent-by host) at the sent-by port.
    const host = via.params.maddr ?? via.params.received ?? via.host;
    await write(connectionTo({ address: bare(host), port: via.port ?? DEFAULT_PORT }), bytes);
  }

  return {
    protocol: 'TCP',
    reliable: true,
    uriParams: ';transport=tcp',
    address,
    sentBy,
    setHandler(h) {
      handler = h;
    },
    send,
    sendResponse,
    connections: () =>
      [...conns.values()].map((c) => ({
        remote: c.remote,
        local: { address: c.socket.localAddress ?? '', port: c.socket.localPort ?? 0 },
        direction: c.direction,
      })),
    async close() {
      closing = true;
      clearInterval(pinger);
      for (const t of reconnects.values()) clearTimeout(t);
      reconnects.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of conns.values()) c.socket.destroy();
      conns.clear();
      await closed;
    },
  };
}
