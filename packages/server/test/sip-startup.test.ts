// The B2BUA's own port at start-up (issue 16, bad input): one another process holds gives a
// sentence naming the address and the setting to change, not a bare EADDRINUSE. No daemons: the
// B2BUA binds its socket before it talks to Kamailio or rtpengine.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { describe, test } from 'node:test';
import { startServer } from './support/harness.ts';

const sip = (port: number, transport?: 'tcp') => ({
  listen: { address: '127.0.0.1', port },
  edge: { address: '127.0.0.1', port: 9 },
  rtpengine: { address: '127.0.0.1', port: 9 },
  kamailioRpcUrl: 'http://127.0.0.1:9/RPC',
  ...(transport ? { transport } : {}),
});

describe('the B2BUA port at start-up', () => {
  test('a UDP port another process holds: start-up fails naming the address and the settings', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    const { port } = holder.address();
    try {
      await assert.rejects(startServer('sqlite', { config: { sip: sip(port) } }), (err: Error) => {
        assert.equal(
          err.message,
          `the B2BUA cannot listen on 127.0.0.1:${port}/udp (EADDRINUSE: another process listens there); choose another with DZVIN_SIP_B2BUA_PORT (DZVIN_SIP=on) or DZVIN_SIP_LISTEN (DZVIN_SIP=external)`,
        );
        return true;
      });
    } finally {
      holder.close();
    }
  });

  test('the same over TCP', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      await assert.rejects(startServer('sqlite', { config: { sip: sip(port, 'tcp') } }), {
        message: new RegExp(`^the B2BUA cannot listen on 127\\.0\\.0\\.1:${port}/tcp \\(EADDRINUSE`),
      });
    } finally {
      holder.close();
    }
  });
});
