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
  print(`  API docs:   ${base}/docs`);
  print(`  OpenAPI:    ${base}/openapi.json`);
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
  const stop = async (signal: string) => {
    built.app.log.info(`${signal}: shutting down`);
    await built.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  return built;
}
