// Dzvin's own end of a call's media (the other party, simulated today): a UDP socket on loopback
// that rtpengine relays to, and the G.711 SDP that describes it — the same for a call Dzvin
// places to a phone (the offer) and for one a phone places (the answer).
import dgram from 'node:dgram';

/** A UDP socket on 127.0.0.1, on a port the OS picks. */
export async function openRtpSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve());
  });
  s.unref();
  return s;
}

/** SDP for audio at 127.0.0.1:`port`: PCMA, PCMU and RFC 4733 events, 20 ms packets. */
export function g711Sdp(port: number): string {
  const id = Date.now();
  return [
    'v=0',
    `o=dzvin ${id} ${id} IN IP4 127.0.0.1`,
    's=dzvin',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 8 0 101`,
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}
