/**
 * The UDP transport (RFC 3261 §18): one socket, whole messages per datagram; the TCP one is
 * transport-tcp.ts, behind the same SipTransport interface.
 *
 * Incoming requests get `received`/`rport` stamped on their top Via (§18.2.1, RFC 3581) before
 * anyone sees them, so every response built from them by copying Via routes back to where the
 * request really came from — through NATs and to peers that advertise a wrong sent-by.
 * Responses are sent per §18.2.2 (maddr, else received + rport, else sent-by).
 * Bad input never throws out of here: unparseable datagrams are dropped, malformed requests
 * with a usable top Via are answered 400/505 statelessly, and a handler that throws is reported
 * to `onError`.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { createResponse, newTag } from './build.ts';
import { formatVia, parseVia, type Via } from './header-values.ts';
import {
  getHeaders,
  getTopVia,
  parseMessage,
  type SipMessage,
  type SipResponse,
  serializeMessage,
} from './message.ts';
import { growSocketBuffers, SIGNALLING_SOCKET_BUFFER, shortBufferWarning } from './socket-buffers.ts';
import { formatHostPort } from './uri.ts';

export interface Remote {
  address: string;
  port: number;
}

export type MessageHandler = (message: SipMessage, remote: Remote) => void;

export interface SipTransport {
  readonly protocol: 'UDP' | 'TCP';
  /**
   * A reliable transport (TCP): the transaction layer then retransmits nothing and its linger
   * timers (D, I, J, K) are 0 (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
   */
  readonly reliable: boolean;
  /** URI parameters our Contacts need so the peer comes back on this transport: `;transport=tcp`, or ''. */
  readonly uriParams: string;
  /** The bound address and port (the port the OS chose when 0 was asked). */
  readonly address: Remote;
  /** `host:port` for our Via headers and Contacts. */
  readonly sentBy: string;
  /** The one receiver of parsed messages (the transaction layer); messages before it is set are dropped. */
  setHandler(handler: MessageHandler): void;
  send(message: SipMessage, to: Remote): Promise<void>;
  /**
   * Sends a response where its top Via says (§18.2.2). On a stream, `arrivedFrom` (the remote
   * its request came from) names the connection to answer on while it is open.
   */
  sendResponse(response: SipResponse, arrivedFrom?: Remote): Promise<void>;
  close(): Promise<void>;
}

export interface UdpTransportOptions {
  host: string;
  /** 0 lets the OS choose. */
  port: number;
  /** Host written in our Via and Contacts when it differs from the bound one (e.g. a public IP). */
  advertisedHost?: string;
  /** Something was dropped or refused at this layer; for logs and tests. */
  onDiscard?: (reason: string, remote: Remote) => void;
  onError?: (err: unknown) => void;
  /** Kernel buffer asked for each way (default SIGNALLING_SOCKET_BUFFER, socket-buffers.ts). */
  bufferBytes?: number;
  /** The kernel granted less buffer than asked (its sysctl cap): said once, at bind. */
  onWarning?: (message: string) => void;
}

const DEFAULT_PORT = 5060;

/** `[::1]` (as in a Via) and `::1` (as from the socket) are the same address. */
export function bare(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/**
 * §18.2.1 + RFC 3581 §4: add `received` when the source address differs from the sent-by
 * host (always when `rport` is asked for), and fill in `rport` with the source port.
 */
export function stampVia(via: Via, remote: Remote): Via {
  const params = { ...via.params };
  const wantsRport = 'rport' in params;
  if (wantsRport || bare(via.host).toLowerCase() !== remote.address.toLowerCase())
    params.received = remote.address;
  if (wantsRport) params.rport = String(remote.port);
  return { ...via, params };
}

/** Where §18.2.2 says an unreliable-transport response goes, from its top Via. */
/** Whether a Via names our sent-by (§18.1.2: a response for someone else is discarded). */
export function isOurSentBy(via: Via, host: string, port: number): boolean {
  return bare(via.host).toLowerCase() === bare(host).toLowerCase() && (via.port ?? DEFAULT_PORT) === port;
}

/**
 * What every transport does with a message it has read (§18.2): a request's top Via gets
 * received/rport; a response must carry one Via, ours (a UA is the only element on the Via path
 * of its requests: §8.1.3.3, RFC 4475 bcast); then the handler, whose failure costs this message
 * only.
 */
export function deliverReceived(
  message: SipMessage,
  remote: Remote,
  t: {
    isOurs(via: Via): boolean;
    handler: MessageHandler | undefined;
    discard(reason: string, remote: Remote): void;
    onError(err: unknown): void;
  },
): void {
  if (message.type === 'request') {
    const first = message.headers.findIndex((h) => h.name === 'Via');
    const top = getTopVia(message);
    if (first >= 0 && top) message.headers[first] = { name: 'Via', value: formatVia(stampVia(top, remote)) };
  } else {
    if (getHeaders(message, 'Via').length !== 1)
      return void t.discard('response with more than one Via', remote);
    if (!t.isOurs(getTopVia(message)!)) return void t.discard('response for another sent-by', remote);
  }
  if (!t.handler) return void t.discard('no handler', remote);
  try {
    t.handler(message, remote);
  } catch (err) {
    t.onError(err);
  }
}

export function responseDestination(via: Via): Remote {
  const viaPort = via.port ?? DEFAULT_PORT;
  if (via.params.maddr) return { address: bare(via.params.maddr), port: viaPort };
  if (via.params.received) {
    const rport = via.params.rport;
    return { address: bare(via.params.received), port: rport ? Number(rport) : viaPort };
  }
  return { address: bare(via.host), port: viaPort };
}

export async function createUdpTransport(opts: UdpTransportOptions): Promise<SipTransport> {
  const socket = dgram.createSocket(net.isIPv6(opts.host) ? 'udp6' : 'udp4');
  const onError = opts.onError ?? (() => {});
  const discard = opts.onDiscard ?? (() => {});
  let handler: MessageHandler | undefined;

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port, opts.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', onError);
  const bufferBytes = opts.bufferBytes ?? SIGNALLING_SOCKET_BUFFER;
  const buffers = growSocketBuffers(socket, bufferBytes);
  if (buffers.short) opts.onWarning?.(shortBufferWarning('SIP UDP socket', bufferBytes, buffers));

  const bound = socket.address();
  const address: Remote = { address: bound.address, port: bound.port };
  const advertised = opts.advertisedHost ?? opts.host;
  const sentByHost = net.isIPv6(advertised) ? `[${advertised}]` : advertised;
  const sentBy = formatHostPort(sentByHost, address.port);

  function sendRaw(buf: Buffer, to: Remote): Promise<void> {
    return new Promise((resolve, reject) =>
      socket.send(buf, to.port, to.address, (err) => (err ? reject(err) : resolve())),
    );
  }

  async function sendResponse(response: SipResponse): Promise<void> {
    const via = getTopVia(response);
    if (!via) throw new Error('response without a valid Via');
    await sendRaw(serializeMessage(response), responseDestination(via));
  }

  /** Our own responses carry our sent-by (§18.1.2: a response for someone else is discarded). */
  const isOurs = (via: Via) => isOurSentBy(via, sentByHost, address.port);

  function receive(datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    const remote: Remote = { address: rinfo.address, port: rinfo.port };
    const result = parseMessage(datagram);
    switch (result.kind) {
      case 'keepalive':
        return;
      case 'drop':
        discard(result.reason, remote);
        return;
      case 'reject': {
        const req = result.request;
        const first = req.headers.findIndex((h) => h.name === 'Via');
        const top = parseVia(req.headers[first].value);
        if (top.ok) req.headers[first] = { name: 'Via', value: formatVia(stampVia(top.value, remote)) };
        discard(`${result.status} ${result.reason}`, remote);
        sendResponse(createResponse(req, result.status, result.reason, { toTag: newTag() })).catch(onError);
        return;
      }
      case 'message': {
        deliverReceived(result.message, remote, { isOurs, handler, discard, onError });
      }
    }
  }

  // Belt and braces: a bug in parsing must cost one datagram, not the process.
  socket.on('message', (datagram, rinfo) => {
    try {
      receive(datagram, rinfo);
    } catch (err) {
      onError(err);
    }
  });

  return {
    protocol: 'UDP',
    reliable: false,
    uriParams: '',
    address,
    sentBy,
    setHandler(h) {
      handler = h;
    },
    send: (message, to) => sendRaw(serializeMessage(message), to),
    sendResponse,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
