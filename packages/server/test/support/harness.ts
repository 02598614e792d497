// A real Dzvin on 127.0.0.1:0 over a throwaway database, and a tiny HTTP client that controls
// every header (Host, Cookie) and can send raw, malformed bodies. No mocks of our own code.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../src/config.ts';
import { type BuiltApp, buildApp, type Clock, defaultConfig } from '../../src/index.ts';
import { createTestDatabaseUrl, type Dialect } from './dialects.ts';

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  json(): any;
}

export interface RequestOptions {
  host?: string;
  cookie?: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is (with `contentType`, default application/json). */
  raw?: string | Buffer;
  contentType?: string;
  /** Source address (any of 127.0.0.0/8), to act as different clients. */
  localAddress?: string;
}

export function request(
  baseUrl: string,
  method: string,
  path: string,
  o: RequestOptions = {},
): Promise<Response> {
  const url = new URL(path, baseUrl);
  const payload = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  const headers: Record<string, string> = { ...o.headers };
  if (o.host) headers.host = o.host;
  if (o.cookie) headers.cookie = o.cookie;
  if (payload !== undefined) {
    headers['content-type'] ??= o.contentType ?? 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, localAddress: o.localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json: () => JSON.parse(text),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** A signed-in Phonet client of one account: keeps JSESSIONID like real clients do. */
export class Session {
  cookie = '';
  constructor(
    readonly server: TestServer,
    readonly domain: string,
    readonly apiKey: string,
  ) {}
  get host() {
    return `${this.domain}:${this.server.port}`;
  }
  async authorize(): Promise<Response> {
    const r = await this.server.request('POST', '/rest/security/authorize', {
      host: this.host,
      body: { domain: this.domain, apiKey: this.apiKey },
    });
    const m = /^JSESSIONID=([^;]+)/.exec(String(r.headers['set-cookie']?.[0] ?? ''));
    if (r.status === 200 && m) this.cookie = `JSESSIONID=${m[1]}`;
    return r;
  }
  call(method: string, path: string, o: RequestOptions = {}) {
    return this.server.request(method, path, { host: this.host, cookie: this.cookie, ...o });
  }
  get = (path: string, o?: RequestOptions) => this.call('GET', path, o);
  post = (path: string, body?: unknown, o?: RequestOptions) => this.call('POST', path, { body, ...o });
  put = (path: string, body?: unknown, o?: RequestOptions) => this.call('PUT', path, { body, ...o });
  patch = (path: string, body?: unknown, o?: RequestOptions) => this.call('PATCH', path, { body, ...o });
  delete = (path: string, o?: RequestOptions) => this.call('DELETE', path, o);
  /** The admin API with `Authorization: Bearer <apiKey>`. */
  admin(method: string, path: string, body?: unknown) {
    return this.server.request(method, path, {
      host: this.host,
      headers: { authorization: `Bearer ${this.apiKey}` },
      body,
    });
  }
}

export interface TestServer {
  dialect: Dialect;
  baseUrl: string;
  port: number;
  built: BuiltApp;
  request(method: string, path: string, o?: RequestOptions): Promise<Response>;
  /** Creates an account through the service layer (as `dzvin account create` does) and signs in. */
  account(domain: string, opts?: { country?: string; apiUser?: boolean }): Promise<Session>;
  close(): Promise<void>;
}

export async function startServer(
  dialect: Dialect,
  opts: { clock?: Clock; config?: Partial<Config> } = {},
): Promise<TestServer> {
  const db = await createTestDatabaseUrl(dialect);
  const recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-rec-'));
  const config = defaultConfig({
    databaseUrl: db.url,
    port: 0,
    logLevel: 'warn',
    recordingsDir,
    ...opts.config,
  });
  const built = await buildApp(config, { clock: opts.clock, logger: false });
  await built.app.listen({ host: '127.0.0.1', port: 0 });
  const address = built.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const baseUrl = `http://127.0.0.1:${port}`;
  const server: TestServer = {
    dialect,
    baseUrl,
    port,
    built,
    request: (method, path, o) => request(baseUrl, method, path, o),
    async account(domain, o = {}) {
      const { account, apiKey } = await built.services.accounts.create({
        domain,
        defaultCountry: o.country ?? 'UA',
      });
      if (o.apiUser !== false) {
        const e = await built.services.directory.employees.create(account, {
          displayName: `Owner of ${domain}`,
          ext: '001',
          email: `owner@${domain}`,
        });
        await built.services.accounts.update(account.id, { apiUserId: e.id });
      }
      const s = new Session(server, account.domain, apiKey);
      const r = await s.authorize();
      if (r.status !== 200) throw new Error(`authorize failed: ${r.status} ${r.text}`);
      return s;
    },
    async close() {
      await built.close();
      await db.drop();
      fs.rmSync(recordingsDir, { recursive: true, force: true });
    },
  };
  return server;
}

/** A contact body as the document shows them. */
export function contactBody(o: {
  id?: number;
  first?: string;
  last?: string;
  phones?: string[];
  company?: string;
  email?: string;
}) {
  const f = (enumCode: string, values: string[], enumValueCode = enumCode) => ({
    enumCode,
    values: values.map((value) => ({ enumValueCode, value })),
  });
  const fields = [];
  if (o.first) fields.push(f('Имя', [o.first]));
  if (o.last) fields.push(f('Фамилия', [o.last]));
  if (o.phones) fields.push(f('Телефон', o.phones, 'Рабочий'));
  if (o.company) fields.push(f('Компания', [o.company]));
  if (o.email) fields.push(f('Email', [o.email], 'Email рабочий'));
  return { ...(o.id ? { id: o.id } : {}), fields };
}

/** Creates contacts through the documented batch upload and returns their ids (in order). */
export async function createContacts(
  s: Session,
  contacts: ReturnType<typeof contactBody>[],
): Promise<number[]> {
  const before = new Set<number>();
  for (let offset = 0; ; offset += 60) {
    const page = (await s.get(`/rest/crm/contacts/v2/?limit=60&offset=${offset}`)).json();
    for (const c of page) before.add(c.id);
    if (page.length < 60) break;
  }
  const r = await s.post('/rest/crm/contacts/v2/batch', { merge: 0, contacts });
  if (r.status !== 201 || r.json().failed !== 0) throw new Error(`batch failed: ${r.status} ${r.text}`);
  const ids: number[] = [];
  for (let offset = 0; ; offset += 60) {
    const page = (await s.get(`/rest/crm/contacts/v2/?limit=60&offset=${offset}`)).json();
    for (const c of page) if (!before.has(c.id)) ids.push(c.id);
    if (page.length < 60) break;
  }
  return ids;
}
