// A real Dzvin on 127.0.0.1 (SQLite, the server's own test harness) with an SDK client and an
// admin client of one account, plus a fetch that counts what the SDK sends.
import { DzvinAdminClient, PhonetClient, type PhonetClientOptions } from '@dzvin/sdk';
import type { Clock } from '../../../server/src/index.ts';
import { startServer, type TestServer } from '../../../server/test/support/harness.ts';

/** Every request the SDK made, as `METHOD path?query`. */
export class RequestLog {
  readonly lines: string[] = [];
  readonly fetch: typeof fetch = (input, init) => {
    const url = new URL(String(input));
    this.lines.push(`${init?.method ?? 'GET'} ${url.pathname}${url.search}`);
    return fetch(input, init);
  };
  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }
  clear() {
    this.lines.length = 0;
  }
}

export interface SdkFixture {
  server: TestServer;
  domain: string;
  apiKey: string;
  client: PhonetClient;
  admin: DzvinAdminClient;
  log: RequestLog;
  /** Another client of the same account, with its own options. */
  newClient(o?: Partial<PhonetClientOptions>): PhonetClient;
  close(): Promise<void>;
}

export async function startDzvin(
  domain: string,
  o: {
    clock?: Clock;
    sessionIdleSec?: number;
    auth?: { maxFailuresPerIp: number; maxFailuresPerDomain: number; failureWindowSec: number };
  } = {},
): Promise<SdkFixture> {
  const server = await startServer('sqlite', {
    clock: o.clock,
    config: {
      sessionIdleSec: o.sessionIdleSec ?? 30 * 86400,
      ...(o.auth ? { auth: o.auth } : {}),
    },
  });
  const session = await server.account(domain);
  const log = new RequestLog();
  const newClient = (x: Partial<PhonetClientOptions> = {}) =>
    new PhonetClient({ domain, apiKey: session.apiKey, baseUrl: server.baseUrl, fetch: log.fetch, ...x });
  return {
    server,
    domain,
    apiKey: session.apiKey,
    client: newClient(),
    admin: new DzvinAdminClient({ baseUrl: server.baseUrl, apiKey: session.apiKey }),
    log,
    newClient,
    close: () => server.close(),
  };
}
