// A client of rtpengine's NG control protocol over UDP: `COOKIE SP bencoded-dict` each way.
//
// Why these choices:
// - A random cookie per request, the reply matched by it: replies may come late, twice or out
//   of order, and only the cookie ties one to its request.
// - Retransmission reuses the cookie: rtpengine remembers its reply per cookie and sends it again
//   instead of running the command twice (a retransmitted `offer` must not allocate new ports).
// - The socket is not `connect()`ed: connected, an ICMP port-unreachable (rtpengine restarting)
//   would come back as ECONNREFUSED errors on the socket; unconnected, a dead daemon is simply
//   silence until the total timeout, the one failure the caller has to handle anyway. Replies
//   from any address but rtpengine's are ignored.
// - One socket per client, unref'd: pending requests' timers keep the process alive, an idle
//   client does not.

import dgram from 'node:dgram';
import net from 'node:net';
import { randomBase64url } from '../../../domain/random-pool.ts';
import { growSocketBuffers, SIGNALLING_SOCKET_BUFFER, shortBufferWarning } from '../socket-buffers.ts';
import { type BencodeDict, type BencodeValue, decode, encode } from './bencode.ts';
import { NgError, NgRejectedError, NgTimeoutError } from './ng-errors.ts';
import type {
  NgAnswerRequest,
  NgDeleteRequest,
  NgOfferRequest,
  NgPlayMediaReply,
  NgPlayMediaRequest,
  NgQueryReply,
  NgQueryRequest,
  NgReply,
  NgSdpReply,
  NgStopMediaRequest,
  NgSubscribeAnswerRequest,
  NgSubscribeReply,
  NgSubscribeRequest,
  NgUnsubscribeRequest,
} from './ng-types.ts';

export interface NgClientOptions {
  /** rtpengine's `--listen-ng` address (default 127.0.0.1). */
  host?: string;
  port: number;
  /** Total time a request may take, retransmissions included (default 3000 ms). */
  timeoutMs?: number;
  /**
   * Wait before the first retransmission; each later wait doubles (default 1000 ms, as Kamailio's
   * rtpengine module waits). On loopback a request is hardly ever lost, only answered late: a reply
   * waiting in our socket while the main thread is busy (a loaded bench:sip step had setups of
   * 1–6 s). Resent after 250 ms, such a request was sent again — and answered again — by a thread
   * already behind.
   */
  retransmitMs?: number;
  /** Longest wait between two retransmissions (default 1000 ms). */
  maxRetransmitMs?: number;
  /** Kernel buffer asked for each way (default SIGNALLING_SOCKET_BUFFER: replies come in bursts). */
  bufferBytes?: number;
  /** The kernel granted less buffer than asked (its sysctl cap): said once, when the socket binds. */
  onWarning?: (message: string) => void;
}

export interface NgRequestOptions {
  /** Overrides the client's total timeout for this request. */
  timeoutMs?: number;
}

/**
 * When the retransmissions of one request go out, in ms after the first send: the wait starts at
 * `first`, doubles up to `max`, and no send is due at or after `total`.
 */
export function retransmitSchedule(first: number, max: number, total: number): number[] {
  const at: number[] = [];
  let t = 0;
  let wait = first;
  for (;;) {
    t += wait;
    if (t >= total) return at;
    at.push(t);
    wait = Math.min(wait * 2, max);
  }
}

interface Pending {
  command: string;
  resolve(reply: NgReply): void;
  reject(error: Error): void;
}

export interface NgClient {
  /** Resolves when rtpengine answers `pong`. */
  ping(options?: NgRequestOptions): Promise<void>;
  /** The caller's SDP rewritten for the callee (rtpengine's address and ports in c=/m=). */
  offer(request: NgOfferRequest, options?: NgRequestOptions): Promise<NgSdpReply>;
  /** The callee's SDP rewritten for the caller. */
  answer(request: NgAnswerRequest, options?: NgRequestOptions): Promise<NgSdpReply>;
  /**
   * Ends the call (or one branch, with `to-tag`/`via-branch`); the reply carries its last stats.
   * Sent with `flags: ['fatal']` unless `flags` are given: rtpengine's default answers an unknown
   * call with `ok` and a warning, which would hide a B2BUA that lost track of its calls.
   */
  delete(request: NgDeleteRequest, options?: NgRequestOptions): Promise<NgQueryReply>;
  query(request: NgQueryRequest, options?: NgRequestOptions): Promise<NgQueryReply>;
  playMedia(request: NgPlayMediaRequest, options?: NgRequestOptions): Promise<NgPlayMediaReply>;
  stopMedia(request: NgStopMediaRequest, options?: NgRequestOptions): Promise<NgReply>;
  /** Forks the selected participants' media to a new participant; the reply holds its offer SDP. */
  subscribeRequest(request: NgSubscribeRequest, options?: NgRequestOptions): Promise<NgSubscribeReply>;
  /** The subscriber's answer SDP: media starts flowing to it. */
  subscribeAnswer(request: NgSubscribeAnswerRequest, options?: NgRequestOptions): Promise<NgReply>;
  unsubscribe(request: NgUnsubscribeRequest, options?: NgRequestOptions): Promise<NgReply>;
  /** Any NG command with any keys (`command` is added); `result: error` still rejects. */
  request(command: string, body?: BencodeDict, options?: NgRequestOptions): Promise<NgReply>;
  /** Requests sent and not yet answered (nor timed out): how far behind rtpengine (or we) are. */
  inFlight(): number;
  /**
   * How long replies have been taking lately, ms (a moving average over about the last 20, a
   * timeout counting as its whole wait; 0 before any, and once none came for a second). On
   * loopback rtpengine answers in a ms or two: what this measures beyond that is mostly the time
   * a reply waited for this thread.
   */
  latencyMs(): number;
  /** Closes the socket; requests still waiting fail with code CLOSED. Harmless twice. */
  close(): Promise<void>;
}

/**
 * @example
 * const ng = createNgClient({ port: 22222 });
 * const { sdp } = await ng.offer({ 'call-id': id, 'from-tag': tag, sdp: callerSdp,
 *   replace: ['origin', 'session-connection'], ICE: 'remove' });
 */
export function createNgClient(options: NgClientOptions): NgClient {
  const host = options.host ?? '127.0.0.1';
  const port = options.port;
  const timeoutMs = options.timeoutMs ?? 3000;
  const retransmitMs = options.retransmitMs ?? 1000;
  const maxRetransmitMs = options.maxRetransmitMs ?? 1000;
  if (!net.isIP(host)) throw new TypeError(`rtpengine host must be an IP address, not "${host}"`);

  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  socket.unref();
  // Bound now (sends wait for it) so its buffers can grow: replies to a burst of requests arrive
  // together, and a `delete` reply is several KB.
  const bufferBytes = options.bufferBytes ?? SIGNALLING_SOCKET_BUFFER;
  socket.once('listening', () => {
    const got = growSocketBuffers(socket, bufferBytes);
    if (got.short) options.onWarning?.(shortBufferWarning('rtpengine NG client socket', bufferBytes, got));
  });
  socket.bind(0);
  const pending = new Map<string, Pending>();
  let closed = false;
  let latency = 0;
  let latencyAt = 0;
  const took = (ms: number) => {
    latency += (ms - latency) / 20;
    latencyAt = performance.now();
  };

  const failAll = (make: (p: Pending) => Error) => {
    for (const [cookie, p] of pending) {
      pending.delete(cookie);
      p.reject(make(p));
    }
  };

  socket.on('message', (msg, rinfo) => {
    if (rinfo.port !== port || rinfo.address !== host) return;
    const space = msg.indexOf(0x20);
    if (space <= 0) return;
    const cookie = msg.toString('latin1', 0, space);
    const p = pending.get(cookie);
    if (!p) return; // a late duplicate, or not ours
    pending.delete(cookie);
    let reply: BencodeValue;
    try {
      reply = decode(msg.subarray(space + 1));
    } catch (e) {
      p.reject(new NgError('PROTOCOL', p.command, `rtpengine's reply is not bencode: ${e}`, { cause: e }));
      return;
    }
    if (!isDict(reply) || typeof reply.result !== 'string') {
      p.reject(new NgError('PROTOCOL', p.command, 'rtpengine replied without a `result`'));
      return;
    }
    if (reply.result === 'error') {
      const reason = reply['error-reason'];
      p.reject(new NgRejectedError(p.command, typeof reason === 'string' ? reason : '(no error-reason)'));
      return;
    }
    p.resolve(reply as NgReply);
  });
  socket.on('error', (e) => {
    failAll((p) => new NgError('SOCKET', p.command, `NG socket failed: ${e.message}`, { cause: e }));
  });

  function request(command: string, body: BencodeDict = {}, opts: NgRequestOptions = {}): Promise<NgReply> {
    if (closed) return Promise.reject(new NgError('CLOSED', command, 'the NG client is closed'));
    const total = opts.timeoutMs ?? timeoutMs;
    let cookie: string;
    do cookie = randomBase64url(9);
    while (pending.has(cookie));
    let payload: Buffer;
    try {
      payload = Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), encode({ ...body, command })]);
    } catch (e) {
      return Promise.reject(
        new NgError('PROTOCOL', command, `cannot encode the request: ${e}`, { cause: e }),
      );
    }

    return new Promise<NgReply>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      const sentAt = performance.now();
      let sent = 0;
      const settle = () => {
        for (const t of timers) clearTimeout(t);
        pending.delete(cookie);
      };
      const send = () => {
        sent++;
        socket.send(payload, port, host, (err) => {
          if (err && pending.get(cookie)) {
            settle();
            reject(
              new NgError('SOCKET', command, `cannot send to ${host}:${port}: ${err.message}`, {
                cause: err,
              }),
            );
          }
        });
      };
      pending.set(cookie, {
        command,
        resolve: (r) => {
          settle();
          took(performance.now() - sentAt);
          resolve(r);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      send();
      for (const at of retransmitSchedule(retransmitMs, maxRetransmitMs, total)) {
        timers.push(setTimeout(send, at));
      }
      timers.push(
        setTimeout(() => {
          settle();
          took(total);
          reject(new NgTimeoutError(command, total, sent));
        }, total),
      );
    });
  }

  return {
    async ping(opts) {
      const reply = await request('ping', {}, opts);
      if (reply.result !== 'pong') throw new NgError('PROTOCOL', 'ping', `ping answered "${reply.result}"`);
    },
    offer: (r, o) => request('offer', { ...r }, o).then((reply) => withSdp('offer', reply)),
    answer: (r, o) => request('answer', { ...r }, o).then((reply) => withSdp('answer', reply)),
    delete: (r, o) => request('delete', { flags: ['fatal'], ...r }, o) as Promise<NgQueryReply>,
    query: (r, o) => request('query', { ...r }, o) as Promise<NgQueryReply>,
    playMedia: (r, o) => request('play media', { ...r }, o) as Promise<NgPlayMediaReply>,
    stopMedia: (r, o) => request('stop media', { ...r }, o),
    subscribeRequest: (r, o) =>
      request('subscribe request', { ...r }, o).then((reply) =>
        withSdp('subscribe request', reply),
      ) as Promise<NgSubscribeReply>,
    subscribeAnswer: (r, o) => request('subscribe answer', { ...r }, o),
    unsubscribe: (r, o) => request('unsubscribe', { ...r }, o),
    request,
    inFlight: () => pending.size,
    // Nothing answered for a second (nothing asked: a caller holding back because of it): stale.
    latencyMs: () => (performance.now() - latencyAt > 1000 ? 0 : latency),
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      failAll((p) => new NgError('CLOSED', p.command, 'the NG client was closed before rtpengine replied'));
      return new Promise((resolve) => socket.close(() => resolve()));
    },
  };
}

function isDict(v: BencodeValue): v is BencodeDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** An SDP-carrying reply without an `sdp` string is a protocol error, not an empty body. */
function withSdp(command: string, reply: NgReply): NgSdpReply {
  if (typeof reply.sdp !== 'string')
    throw new NgError('PROTOCOL', command, `the reply to "${command}" has no SDP`);
  return reply as NgSdpReply;
}
