import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import { ensureDemoAccount } from './demo.ts';

/** `dzvin serve` / `npm start`: build, seed the demo account on first start, listen, print how to use it. */
export async function startServer(config: Config, print: (line: string) => void = console.log) {
  const built = await buildApp(config);
  const demo = await ensureDemoAccount(built.services, built.store, config.demo);
  const address = await built.app.listen({ host: config.host, port: config.port });
  const base = address.replace('[::1]', 'localhost').replace('127.0.0.1', 'localhost');
  print('');
  print(`Dzvin is listening on ${address}  (${built.database.description})`);
  print(`  Console:    ${base}/  (sign in with the account domain and API key)`);
  print(`  API docs:   ${base}/docs`);
  print(`  OpenAPI:    ${base}/openapi.json`);
  const sip = config.sip;
  const managed = built.sipDaemons;
  print(
    managed
      ? `  Phones:     SIP on (DZVIN_SIP=on): phones register to ${managed.phones.address}:${managed.phones.port} (UDP or TCP; user = ext, domain = the account's domain)${managed.browsers ? `, browsers on ws://${managed.browsers.address}:${managed.browsers.port}/ (docs/webrtc.md)` : ''}; Kamailio pid ${managed.kamailio.pid} (edge ${managed.sip.edge.port}, JSON-RPC ${managed.sip.kamailioRpcUrl}), rtpengine pid ${managed.rtpengine.pid} (NG ${managed.sip.rtpengine.port}, RTP ${managed.rtpPorts.min}-${managed.rtpPorts.max}), B2BUA ${managed.sip.listen.port} over ${(managed.sip.transport ?? 'udp').toUpperCase()}; employees without a registered phone are simulated`
      : sip
        ? `  Phones:     SIP on (B2BUA ${sip.listen.address}:${sip.listen.port} over ${(sip.transport ?? 'udp').toUpperCase()}, Kamailio ${sip.edge.address}:${sip.edge.port}, rtpengine ${sip.rtpengine.address}:${sip.rtpengine.port}); employees without a registered phone are simulated`
        : '  Phones:     all simulated (no SIP engine configured: DZVIN_SIP=on starts Kamailio and rtpengine for real phones, DZVIN_SIP=external uses yours — docs/sip.md)',
  );
  if (demo) {
    const url = new URL(base);
    print(`  Demo account: ${demo.domain}${demo.created ? ' (created now)' : ''}`);
    print(`    API base:   ${url.protocol}//${demo.domain}:${url.port}/rest/`);
    print(
      demo.apiKey
        ? `    API key:    ${demo.apiKey}${demo.created && !config.demo.apiKey ? '   (shown once; stored only as a hash)' : ''}`
        : `    API key:    printed on first start; get a new one with: npx dzvin account rotate-key ${demo.domain}`,
    );
    if (demo.apiKey)
      print(
        `    Try:        curl -si -H 'Content-Type: application/json' -d '{"domain":"${demo.domain}","apiKey":"${demo.apiKey}"}' ${base}/rest/security/authorize`,
      );
  }
  print('');
  // Graceful shutdown: stop accepting, finish requests and deliveries in flight, exit 0; a second
  // signal, or still closing after `shutdownGraceMs`, exits at once (1).
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      built.app.log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    built.app.log.info(`${signal}: shutting down`);
    setTimeout(() => {
      built.app.log.error('still shutting down after 30 s: exiting now');
      process.exit(1);
    }, 30_000).unref();
    try {
      await built.close();
      process.exit(0);
    } catch (err) {
      built.app.log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  return built;
}
