// Kernel buffers for the B2BUA's busiest UDP sockets: the SIP socket (every call's requests and
// answers) and the NG client's (rtpengine's replies; a `delete` reply carries the call's stats,
// several KB). With Linux's default receive buffer (212992 bytes, a few dozen such datagrams)
// a main thread busy for a few tens of ms at 200 calls/s overflowed both: bench:sip counted
// 14,357 NG replies and 3,024 SIP messages dropped in 10 s, each drop an NG retransmission or a
// SIP one, until rtpengine "did not answer" within 3 s and calls were refused. A larger buffer
// takes such a burst; it does not make a main thread that is short of CPU any faster.
import type dgram from 'node:dgram';

/** What the B2BUA's SIP socket and the NG client's ask for, each way. */
export const SIGNALLING_SOCKET_BUFFER = 4 * 2 ** 20;

/**
 * Asks the kernel for `bytes` of receive and send buffer on a bound socket and says what it
 * granted. Linux caps a request at `net.core.rmem_max` / `wmem_max` and reports twice what it
 * keeps (the other half is its bookkeeping): `short` means it reports less than was asked, i.e.
 * the cap kept less than half of it (the default 212992 does) — raise the sysctls to lift it.
 */
export function growSocketBuffers(
  socket: dgram.Socket,
  bytes: number,
): { receive: number; send: number; short: boolean } {
  try {
    socket.setRecvBufferSize(bytes);
    socket.setSendBufferSize(bytes);
  } catch {
    // Refused outright (not Linux, no such option): the defaults stay, and `short` says so.
  }
  const receive = socket.getRecvBufferSize();
  const send = socket.getSendBufferSize();
  return { receive, send, short: receive < bytes || send < bytes };
}

/** The warning an operator gets when the kernel capped the buffers (once per socket). */
export function shortBufferWarning(
  what: string,
  bytes: number,
  got: { receive: number; send: number },
): string {
  return (
    `${what}: the kernel granted ${got.receive} bytes of UDP receive buffer and ${got.send} of send buffer ` +
    `for ${bytes} asked (net.core.rmem_max / wmem_max cap it): under load its datagrams may be dropped; ` +
    `raise them, e.g. sysctl -w net.core.rmem_max=${bytes} net.core.wmem_max=${bytes}`
  );
}
