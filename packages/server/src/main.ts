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
  print(
    sip
      ? `  Phones:     SIP on (B2BUA ${sip.listen.address}:${sip.listen.port}, Kamailio ${sip.edge.address}:${sip.edge.port}, rtpengine ${sip.rtpengine.address}:${sip.rtpengine.port}); employees without a registered phone are simulated`
      : '  Phones:     all simulated (no SIP engine configured: set DZVIN_SIP_LISTEN, DZVIN_SIP_EDGE, DZVIN_RTPENGINE_NG and DZVIN_KAMAILIO_RPC for real phones)',
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
