// The hostile-input proof (issue 7), shared by `npm run proof` (a Dzvin child process) and
// bench/test/hostile.test.ts (a smaller run inside `npm test`). It talks HTTP only, to a real
// Dzvin on 127.0.0.1, with four accounts made by the caller:
//   A, B  canaries: seeded through the API with data of every kind carrying unique markers;
//   C     the fuzzed account: every generated request uses its session/key (or none, or garbage);
//   D     the brute-force victim.
// Checks: property-based fuzzing of every route of /openapi.json (query, path params, JSON and
// form bodies, headers, cookies, Host) with no 5xx and no crash; afterwards A and B read back
// byte for byte as before and C's lists still read; a tenant-isolation matrix (B's session and
// key against every route with A's ids, on A's Host and on B's); session fixation and expiry;
// authorize brute force (429 + Retry-After); oversized bodies (413); CRM URLs resolving to
// private/metadata addresses refused (the server must run with DZVIN_MODE=production).
import http from 'node:http';
import fc from 'fast-check';

export interface Tenant {
  domain: string;
  apiKey: string;
}

export interface Target {
  port: number;
  a: Tenant;
  b: Tenant;
  c: Tenant;
  d: Tenant;
  /** DZVIN_SESSION_IDLE_SECONDS of the server (the expiry check waits this long plus 1.5 s). */
  sessionIdleSec: number;
  /** DZVIN_BODY_LIMIT_BYTES of the server. */
  bodyLimitBytes: number;
  /** DZVIN_AUTH_MAX_FAILURES_PER_IP of the server. */
  maxFailuresPerIp: number;
  /** Whether the server process is still alive (a crash is a failure of every check). */
  alive?: () => boolean;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface Req {
  method: string;
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Source address (127.0.0.0/8) so rate limits of one check do not spill into another. */
  from?: string;
  /** Send the body chunked (no content-length). */
  chunked?: boolean;
}

const SOURCES = {
  canary: '127.0.0.1',
  fuzz: '127.0.0.2',
  isolation: '127.0.0.3',
  brute: '127.0.0.4',
  failing: '127.0.0.5',
};

export function send(port: number, r: Req, timeoutMs = 30_000): Promise<Reply> {
  const headers: Record<string, string | string[]> = { ...r.headers };
  if (r.body !== undefined && !r.chunked) headers['content-length'] = String(Buffer.byteLength(r.body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: r.method,
        path: r.path,
        headers,
        agent: false,
        localAddress: r.from ?? SOURCES.canary,
        timeout: timeoutMs,
        // Garbage header values are the point; let Node send what it can.
        insecureHTTPParser: true,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${r.method} ${r.path}: timed out`)));
    req.on('error', reject);
    // A server that answers early (413) and closes while a large body is still being written
    // makes the rest of the write fail (EPIPE) after the response: not an error of the check.
    req.on('socket', (socket) => socket.on('error', () => {}));
    if (r.body !== undefined) req.write(r.body);
    req.end();
  });
}

/** A signed-in client of one account: Host, JSESSIONID, and its key for the admin API. */
export interface Client {
  tenant: Tenant;
  host: string;
  cookie: string;
}

export async function signIn(port: number, t: Tenant, from = SOURCES.canary): Promise<Client> {
  const host = `${t.domain}:${port}`;
  const r = await send(port, {
    method: 'POST',
    path: '/rest/security/authorize',
    headers: { host, 'content-type': 'application/json' },
    body: JSON.stringify({ domain: t.domain, apiKey: t.apiKey }),
    from,
  });
  const m = /^JSESSIONID=([^;]+)/.exec(String(r.headers['set-cookie']?.[0] ?? ''));
  if (r.status !== 200 || !m) throw new Error(`authorize ${t.domain}: ${r.status} ${r.text}`);
  return { tenant: t, host, cookie: `JSESSIONID=${m[1]}` };
}

/** A request of a signed-in client: session cookie on /rest/, bearer key on /api/v1/. */
function as(c: Client, method: string, path: string, body?: unknown, from = SOURCES.canary): Req {
  const headers: Record<string, string> = { host: c.host, cookie: c.cookie };
  if (path.startsWith('/api/v1/')) headers.authorization = `Bearer ${c.tenant.apiKey}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return { method, path, headers, body: body === undefined ? undefined : JSON.stringify(body), from };
}

async function ok(port: number, c: Client, method: string, path: string, body?: unknown) {
  const r = await send(port, as(c, method, path, body));
  if (r.status >= 300)
    throw new Error(`${c.tenant.domain} ${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
  return r.text ? JSON.parse(r.text) : null;
}

/** encodeURIComponent that takes lone surrogates too (sent as U+FFFD, as any client would). */
const enc = (v: string) =>
  encodeURIComponent(
    v.replace(/[\uD800-\uDFFF]/g, (ch, i, all) => {
      const code = ch.charCodeAt(0);
      const pair =
        code < 0xdc00 ? /[\uDC00-\uDFFF]/.test(all[i + 1] ?? '') : /[\uD800-\uDBFF]/.test(all[i - 1] ?? '');
      return pair ? ch : '\uFFFD';
    }),
  );

/** Any generated value as text (objects, even with a `toString` key, as JSON). */
const str = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null'));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Seeding: data of every kind, each carrying the tenant's marker.

export interface Seeded {
  marker: string;
  /** Path parameter name → ids of this tenant's records. */
  ids: Record<string, string[]>;
  /** Resource (the path segment before `{id}`) → ids of this tenant's records of that kind. */
  byResource: Record<string, string[]>;
  /** Strings that only this tenant's data contains (another tenant's answer must never hold one). */
  markers: string[];
}

export async function seedTenant(port: number, c: Client, marker: string, index: number): Promise<Seeded> {
  const n = (k: number) => String(index * 100 + k).padStart(3, '0');
  const phone = `+38050${String(7000000 + index * 1000).slice(0, 7)}`;
  const trunkNumber = `+38044${String(2200000 + index * 1000).slice(0, 7)}`;
  const emp = await ok(port, c, 'POST', '/api/v1/employees', {
    displayName: `Employee ${marker}`,
    ext: n(10),
    email: `emp.${marker}@example.org`,
  });
  const group = await ok(port, c, 'POST', '/api/v1/groups', {
    name: `Group ${marker}`,
    ext: n(50),
    members: [emp.id],
  });
  const ivr = await ok(port, c, 'POST', '/api/v1/ivr', {
    name: `IVR ${marker}`,
    greeting: `Greeting ${marker}`,
    options: [{ digit: '1', target: { type: 'group', id: group.id } }],
    defaultTarget: { type: 'employee', id: emp.id },
  });
  const trunk = await ok(port, c, 'POST', '/api/v1/trunks', {
    number: trunkNumber,
    name: `Trunk ${marker}`,
    destination: { type: 'employee', id: emp.id },
    isDefault: true,
  });
  const crm = await ok(port, c, 'POST', '/api/v1/crm-connections', {
    name: `CRM ${marker}`,
    eventsUrl: `https://crm-${marker}.example.invalid/events`,
    priority: 5,
  });
  const tracked = await ok(port, c, 'POST', '/api/v1/tracking/numbers', { number: trunkNumber });
  const batch = await ok(port, c, 'POST', '/rest/crm/contacts/v2/batch', {
    merge: 0,
    contacts: [
      {
        fields: [
          { enumCode: 'Имя', values: [{ enumValueCode: 'Имя', value: `Ім'я ${marker} 🐝` }] },
          { enumCode: 'Телефон', values: [{ enumValueCode: 'Рабочий', value: phone }] },
          {
            enumCode: 'Email',
            values: [{ enumValueCode: 'Email рабочий', value: `c.${marker}@example.org` }],
          },
          { enumCode: `Custom ${marker}`, values: [{ enumValueCode: 'x', value: `value ${marker}` }] },
        ],
      },
    ],
  });
  if (batch.succeeded !== 1) throw new Error(`seed batch: ${JSON.stringify(batch)}`);
  const contacts = await ok(port, c, 'GET', `/rest/crm/contacts/v2/?searchText=${enc(marker)}`);
  const contactId = contacts[0].id;
  const note = await ok(port, c, 'POST', `/rest/crm/contacts/v2/${contactId}/notes`, {
    content: `Note ${marker}`,
  });
  // A finished call with a recording, and a delivery in the log. The server runs in production
  // mode: the account turns simulated phones on (its employees have no real ones).
  await ok(port, c, 'PATCH', '/api/v1/account', { phones: 'simulated' });
  const call = await ok(port, c, 'POST', '/api/v1/sim/calls', { from: phone, trunk: trunkNumber });
  await sleep(300);
  await ok(port, c, 'POST', `/api/v1/sim/calls/${call.uuid}/hangup`, {});
  const test = await ok(port, c, 'POST', `/api/v1/crm-connections/${crm.id}/test`);
  let deliveries: { id: number }[] = [];
  for (let i = 0; i < 50 && deliveries.length === 0; i++) {
    deliveries = await ok(port, c, 'GET', `/api/v1/crm-connections/${crm.id}/deliveries`);
    if (deliveries.length === 0) await sleep(100);
  }
  // Recordings of this account need a session (so B's session must not open A's).
  await ok(port, c, 'PATCH', '/api/v1/account', { recordingsNeedSession: true });
  const byResource: Record<string, string[]> = {
    employees: [String(emp.id)],
    groups: [String(group.id)],
    ivr: [String(ivr.id)],
    trunks: [String(trunk.id)],
    'crm-connections': [String(crm.id)],
    'tracking/numbers': [String(tracked.id)],
    deliveries: deliveries.map((d) => String(d.id)),
    contacts: [String(contactId)],
  };
  const ids: Record<string, string[]> = {
    id: Object.values(byResource).flat(),
    cntId: [String(contactId)],
    noteId: [String(note.id)],
    uuid: [call.uuid, test.uuid],
    ext: [n(10)],
    domain: [c.tenant.domain],
  };
  return {
    marker,
    ids,
    byResource,
    markers: [marker, phone, trunkNumber, call.uuid],
  };
}

/** Everything an account can read, by part (volatile delivery attempt fields dropped). */
export async function snapshot(port: number, c: Client): Promise<Record<string, string>> {
  const out: Record<string, unknown> = {};
  const get = async (path: string) => {
    const r = await send(port, as(c, 'GET', path));
    return { status: r.status, body: r.text };
  };
  out.account = await get('/api/v1/account');
  out.users = await get('/rest/users');
  for (const res of ['employees', 'groups', 'ivr', 'trunks', 'crm-connections'])
    out[res] = await get(`/api/v1/${res}`);
  // Website visitors reserve tracking numbers through the public endpoint by design.
  const pool = JSON.parse((await get('/api/v1/tracking/numbers')).body) as Record<string, unknown>[];
  out['tracking/numbers'] = pool.map(({ reservedUntil, lastGivenAt, ...rest }) => rest);
  const contacts: unknown[] = [];
  for (let offset = 0; ; offset += 60) {
    const page = JSON.parse((await get(`/rest/crm/contacts/v2/?limit=60&offset=${offset}`)).body);
    for (const ct of page) contacts.push({ ct, notes: await get(`/rest/crm/contacts/v2/${ct.id}/notes`) });
    if (page.length < 60) break;
  }
  out.contacts = contacts;
  const span = `timeFrom=0&timeTo=${Date.now() + 86_400_000}`;
  for (const kind of ['company', 'missed', 'users']) out[kind] = await get(`/rest/calls/${kind}.api?${span}`);
  const conns = JSON.parse((out['crm-connections'] as { body: string }).body) as { id: number }[];
  for (const conn of conns) {
    const d = await get(`/api/v1/crm-connections/${conn.id}/deliveries`);
    const list = JSON.parse(d.body) as Record<string, unknown>[];
    out[`deliveries-${conn.id}`] = list.map((x) => [x.id, x.kind, x.event, x.orderKey, x.payload]);
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, JSON.stringify(v)]));
}

/** The parts of two snapshots that differ, with the start of both versions. */
function differences(before: Record<string, string>, after: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys]
    .filter((k) => before[k] !== after[k])
    .map((k) => `${k}: before ${String(before[k]).slice(0, 300)} / after ${String(after[k]).slice(0, 300)}`);
}

// ---------------------------------------------------------------------------------------------
// Routes, from the server's own OpenAPI document.

interface Route {
  method: string;
  path: string;
  pathParams: string[];
  query: Record<string, JsonSchema>;
  body: JsonSchema | null;
  /** Public by design (no session): authorize, recordings, website tracking, health… */
  public: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: a JSON Schema walked generically
type JsonSchema = any;

/** Never fuzzed: they end the fuzzing account's own credentials, or stream forever. */
const SKIP = [/\/rotate-key$/, /\/sign-out$/, /\/events\/stream$/];

export async function routes(port: number): Promise<Route[]> {
  const doc = JSON.parse((await send(port, { method: 'GET', path: '/openapi.json' })).text);
  const out: Route[] = [];
  for (const [p, item] of Object.entries<Record<string, JsonSchema>>(doc.paths)) {
    for (const [method, op] of Object.entries<JsonSchema>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      if (SKIP.some((re) => re.test(p))) continue;
      const params: JsonSchema[] = op.parameters ?? [];
      const query: Record<string, JsonSchema> = {};
      for (const q of params) if (q.in === 'query') query[q.name] = q.schema ?? {};
      out.push({
        method: method.toUpperCase(),
        path: p,
        pathParams: [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]),
        query,
        body: op.requestBody?.content?.['application/json']?.schema ?? null,
        public: !op.security,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hostile values

const HOSTILE_STRINGS = [
  '',
  ' ',
  '0',
  '-1',
  '1e309',
  '-0',
  'NaN',
  'Infinity',
  '99999999999999999999999',
  '9007199254740993',
  '0x10',
  '1.5',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '%00',
  '\u0000',
  '\uFEFF',
  '\uD800',
  '🐝',
  'Ім’я',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '"; DROP TABLE contacts; --',
  '../../etc/passwd',
  '%2e%2e%2f',
  'a'.repeat(5000),
  '+380442246595',
  '0501234567',
  '001',
  'http://169.254.169.254/latest/meta-data/',
];

const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer().map(String) },
);

const hostileNumber = fc.oneof(
  fc.constantFrom(0, -1, 1, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5, Number.MAX_SAFE_INTEGER + 2),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'toString', 'valueOf'];

/** Any JSON, with prototype-pollution keys, unicode, huge numbers and deep nesting. */
const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...PROTO_KEYS), hostileString), tie('value'), { maxKeys: 4 }),
  ),
})).value;

function deepNest(depth: number, kind: 'array' | 'object') {
  return kind === 'array'
    ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** A value shaped by a JSON schema, each node replaced by a hostile one now and then. */
function fromSchema(s: JsonSchema, ids: string[], depth = 0): fc.Arbitrary<unknown> {
  const wild = depth > 5 ? fc.constant(null) : hostileJson;
  const typed = (() => {
    if (!s || typeof s !== 'object') return hostileJson;
    if (s.const !== undefined) return fc.constant(s.const);
    if (s.enum) return fc.constantFrom(...s.enum);
    const alts = s.anyOf ?? s.oneOf;
    if (alts) return fc.oneof(...alts.map((x: JsonSchema) => fromSchema(x, ids, depth + 1)));
    const type = Array.isArray(s.type) ? s.type[0] : s.type;
    switch (type) {
      case 'string':
        return fc.oneof(
          hostileString,
          fc.constantFrom(
            '+380501112233',
            '0442246595',
            'x@example.org',
            'https://hook.example.invalid/x',
            '1',
            'Назва',
          ),
        );
      case 'integer':
      case 'number':
        return fc.oneof(
          hostileNumber,
          fc.integer({ min: s.minimum ?? -10, max: Math.min(s.maximum ?? 100, 1000) }),
          ids.length ? fc.constantFrom(...ids.map(Number)) : fc.constant(1),
        );
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'array':
        return fc.array(fromSchema(s.items, ids, depth + 1), { maxLength: 4 });
      case 'object': {
        const props = Object.entries<JsonSchema>(s.properties ?? {});
        if (props.length === 0) return fc.dictionary(hostileString, hostileJson, { maxKeys: 3 });
        const rec: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [k, v] of props) rec[k] = fromSchema(v, ids, depth + 1);
        return fc.record(rec, { requiredKeys: [] });
      }
      default:
        return hostileJson;
    }
  })();
  return fc.oneof({ weight: 6, arbitrary: typed }, { weight: 1, arbitrary: wild });
}

/** A value the schema accepts, most of the time: gets requests past validation into the handlers. */
function plausible(s: JsonSchema, ids: string[], depth = 0): fc.Arbitrary<unknown> {
  if (!s || typeof s !== 'object' || depth > 6) return fc.constant(null);
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return fc.oneof(...alts.map((x: JsonSchema) => plausible(x, ids, depth + 1)));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string': {
      const p = String(s.pattern ?? '');
      if (p.includes('[0-9*#]')) return fc.constantFrom('1', '2', '9', '*', '#');
      if (p.includes('[0-9]')) return fc.integer({ min: 1, max: 999 }).map((n) => String(n).padStart(3, '0'));
      if (p.includes('https?'))
        return fc.constantFrom('https://crm.example.invalid/hook', 'http://crm.example.invalid:8080/x');
      if (p.includes('@')) return fc.constantFrom('x@example.org', 'олена@приклад.укр');
      const max = Math.min(s.maxLength ?? 40, 40);
      const longest = s.maxLength && s.maxLength <= 100_000 ? [fc.constant('ж'.repeat(s.maxLength))] : [];
      return fc.oneof(
        ...longest,
        fc.constantFrom('+380501112233', '0442246595', '380442246595', 'Назва', 'Test 🐝', '001', '100'),
        fc.string({
          unit: 'grapheme',
          minLength: s.minLength ?? 0,
          maxLength: Math.max(max, s.minLength ?? 0),
        }),
      );
    }
    case 'integer':
    case 'number': {
      const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : 0);
      const max = Math.min(s.maximum ?? 2 ** 31, Number.MAX_SAFE_INTEGER);
      const local = fc.integer({ min, max: Math.max(min, Math.min(max, min + 100)) });
      const own = ids.map(Number).filter((n) => n >= min && n <= max);
      // The schema's own bounds too: a maximum the storage cannot hold is a bug worth finding.
      const edges = fc.constantFrom(min, max, Math.min(max, 2 ** 31), Math.min(max, Date.now()));
      return own.length ? fc.oneof(local, edges, fc.constantFrom(...own)) : fc.oneof(local, edges);
    }
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(plausible(s.items, ids, depth + 1), { maxLength: 3 });
    case 'object': {
      const rec: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries<JsonSchema>(s.properties ?? {}))
        rec[k] = plausible(v, ids, depth + 1);
      return fc.record(rec, { requiredKeys: (s.required ?? []).filter((k: string) => k in rec) });
    }
    default:
      return fc.constant(null);
  }
}

function formEncode(v: unknown): string {
  if (v === null || typeof v !== 'object') return `v=${enc(str(v))}`;
  return Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${enc(k)}=${enc(str(x))}`)
    .join('&');
}

interface FuzzCase {
  route: Route;
  req: Req;
}

/** The generator of one fuzz case against C (with A/B ids, garbage cookies and Hosts mixed in). */
function caseArb(rs: Route[], port: number, c: Client, cSeed: Seeded, foreign: Record<string, string[]>) {
  const cIds = cSeed.ids;
  const idValue = (name: string) => {
    const own = cIds[name] ?? [];
    const theirs = foreign[name] ?? [];
    return fc.oneof(
      { weight: 4, arbitrary: own.length ? fc.constantFrom(...own) : hostileString },
      { weight: 1, arbitrary: theirs.length ? fc.constantFrom(...theirs) : hostileString },
      { weight: 3, arbitrary: hostileString },
      {
        weight: 1,
        arbitrary: fc.constantFrom('1', '2', '0', '-1', '1.5', '99999999999999999999', '%zz', 'a%2Fb'),
      },
    );
  };
  const allIds = [...Object.values(cIds).flat()];
  const hostile = fc.constantFrom(...rs).chain((route) => {
    const pathArb = fc.tuple(...route.pathParams.map((p) => idValue(p)), fc.constant(0)).map((vals) => {
      let i = 0;
      return route.path.replace(/\{[^}]+\}/g, () => {
        const v = str(vals[i++]);
        return /%[0-9a-fA-F]{2}|%zz/.test(v) ? v : enc(v);
      });
    });
    const qKeys = Object.keys(route.query);
    const nearQuery = fc
      .record(Object.fromEntries(Object.entries(route.query).map(([k, q]) => [k, plausible(q, allIds)])), {
        requiredKeys: Object.keys(route.query).filter((k) => /^time(From|To)$/.test(k)),
      })
      .map((q) => {
        const pairs = Object.entries(q).filter(([, v]) => v !== null && v !== undefined);
        return pairs.length ? `?${pairs.map(([k, v]) => `${enc(k)}=${enc(str(v))}`).join('&')}` : '';
      });
    const hostileQuery = fc
      .array(
        fc.tuple(
          fc.oneof(
            { weight: 4, arbitrary: qKeys.length ? fc.constantFrom(...qKeys) : hostileString },
            {
              weight: 1,
              arbitrary: qKeys.length
                ? fc.constantFrom(...qKeys.map((k) => `${k}[]`), ...qKeys.map((k) => `${k}[0]`))
                : hostileString,
            },
            {
              weight: 1,
              arbitrary: fc.constantFrom(
                ...PROTO_KEYS,
                'a[b][c][d][e][f][g]',
                '__proto__[x]',
                'constructor[prototype][x]',
              ),
            },
          ),
          fc.oneof(
            ...(qKeys.length ? [fromSchema({ anyOf: qKeys.map((k) => route.query[k]) }, allIds)] : []),
            hostileString,
          ),
        ),
        { maxLength: 5 },
      )
      .map((pairs) =>
        pairs.length ? `?${pairs.map(([k, v]) => `${enc(str(k))}=${enc(str(v))}`).join('&')}` : '',
      );
    const queryArb = fc.oneof(nearQuery, hostileQuery);
    const bodyArb = fc.oneof(
      {
        weight: 6,
        arbitrary: (route.body ? plausible(route.body, allIds) : fc.constant(undefined)).map((v) =>
          v === undefined ? { kind: 'none', v } : { kind: 'json', v },
        ),
      },
      {
        weight: 5,
        arbitrary: (route.body ? fromSchema(route.body, allIds) : hostileJson).map((v) => ({
          kind: 'json',
          v,
        })),
      },
      { weight: 1, arbitrary: hostileJson.map((v) => ({ kind: 'form', v })) },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom(
            '{"a":',
            '{"__proto__":{"polluted":1}}',
            '{"constructor":{"prototype":{"x":1}}}',
            '\u0000\u0001',
            '[1,2',
            'null',
            '',
            '1e99999',
          )
          .map((v) => ({ kind: 'raw', v })),
      },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom<'array' | 'object'>('array', 'object')
          .chain((k) => fc.integer({ min: 100, max: 5000 }).map((d) => ({ kind: 'raw', v: deepNest(d, k) }))),
      },
      { weight: 2, arbitrary: fc.constant({ kind: 'none', v: undefined }) },
    );
    const credArb = fc.oneof(
      { weight: 6, arbitrary: fc.constant('own') },
      { weight: 2, arbitrary: fc.constant('bearer') },
      { weight: 1, arbitrary: fc.constant('bad-bearer') },
      { weight: 1, arbitrary: fc.constant('none') },
      { weight: 1, arbitrary: fc.constant('garbage') },
      { weight: 1, arbitrary: fc.constant('duplicate') },
      { weight: 1, arbitrary: fc.constant('foreign-host') },
    );
    const extraHeaders = fc.dictionary(
      fc.constantFrom(
        'x-forwarded-for',
        'accept',
        'accept-encoding',
        'range',
        'origin',
        'x-http-method-override',
        'if-none-match',
        'content-encoding',
      ),
      fc.oneof(
        fc.constantFrom(
          'bytes=0-',
          'bytes=-1',
          'bytes=99999999999-',
          'gzip',
          '*/*',
          'text/event-stream',
          'DELETE',
          '127.0.0.1',
        ),
        hostileString.filter((s) => /^[\x20-\x7e]*$/.test(s)),
      ),
      { maxKeys: 2 },
    );
    const garbageCookie = fc.oneof(
      fc.constantFrom(
        'JSESSIONID=',
        'JSESSIONID',
        'JSESSIONID=;;;',
        `JSESSIONID=${'a'.repeat(4000)}`,
        'JSESSIONID=%00',
        '=;=',
        'JSESSIONID="x"',
      ),
      fc
        .string({ unit: 'grapheme-ascii', maxLength: 60 })
        .map((s) => `JSESSIONID=${s.replace(/[;\r\n]/g, '')}`),
    );
    const hostArb = fc.oneof(
      fc.constant(c.host),
      fc.constantFrom(
        '',
        'localhost',
        '127.0.0.1',
        `evil.example:${port}`,
        `${c.tenant.domain.toUpperCase()}:${port}`,
        '[::1]',
        `${c.tenant.domain}:99999`,
        'a'.repeat(300),
      ),
    );
    return fc
      .record({
        path: pathArb,
        query: queryArb,
        body: bodyArb,
        cred: credArb,
        extra: extraHeaders,
        garbage: garbageCookie,
        host: hostArb,
      })
      .map(({ path, query, body, cred, extra, garbage, host }): FuzzCase => {
        const headers: Record<string, string | string[]> = {
          ...extra,
          host: cred === 'own' || cred === 'duplicate' || cred === 'bearer' ? c.host : host,
        };
        if (cred === 'own' || cred === 'foreign-host') headers.cookie = c.cookie;
        else if (cred === 'bearer') headers.authorization = `Bearer ${c.tenant.apiKey}`;
        else if (cred === 'bad-bearer')
          headers.authorization = `Bearer ${garbage.slice(11).replace(/[^\x21-\x7e]/g, '') || 'x'}`;
        else if (cred === 'garbage') headers.cookie = garbage;
        else if (cred === 'duplicate')
          headers.cookie = `${garbage}; ${c.cookie}; JSESSIONID=${'b'.repeat(32)}`;
        let payload: string | undefined;
        if (body.kind === 'json') {
          payload = JSON.stringify(body.v) ?? 'null';
          headers['content-type'] = 'application/json';
        } else if (body.kind === 'form') {
          payload = formEncode(body.v);
          headers['content-type'] = 'application/x-www-form-urlencoded';
        } else if (body.kind === 'raw') {
          payload = str(body.v);
          headers['content-type'] = 'application/json';
        }
        if (headers['content-encoding'] !== undefined && payload === undefined)
          delete headers['content-encoding'];
        // Failed sign-ins and bad keys count against their source IP (then 429): they come from
        // an address of their own so the rest of the fuzzing is not rate-limited away.
        const from =
          cred === 'bad-bearer' || route.path === '/rest/security/authorize' ? SOURCES.failing : SOURCES.fuzz;
        return { route, req: { method: route.method, path: path + query, headers, body: payload, from } };
      });
  });
  // Requests that pass validation (the account's own ids of the right kind, schema-shaped query
  // and body, its own session or key), so the handlers, services and stores get fuzzed too.
  const valid = fc.constantFrom(...rs).chain((route) => {
    const all = Object.values(cIds).flat();
    const paramArb = (p: string) => {
      const ids = p === 'id' ? idsOfRoute(cSeed, route.path) : (cIds[p] ?? cIds.id);
      return fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...ids) },
        { weight: 1, arbitrary: fc.constantFrom(...all) },
      );
    };
    return fc
      .record({
        params: fc.tuple(...route.pathParams.map(paramArb), fc.constant('')),
        query: fc.record(
          Object.fromEntries(Object.entries(route.query).map(([k, q]) => [k, plausible(q, all)])),
          { requiredKeys: Object.keys(route.query).filter((k) => /^time(From|To)$/.test(k)) },
        ),
        body: route.body ? plausible(route.body, all) : fc.constant(undefined),
        bearer: fc.boolean(),
      })
      .map(({ params, query, body, bearer }): FuzzCase => {
        let i = 0;
        const path = route.path.replace(/\{[^}]+\}/g, () => enc(params[i++]));
        const pairs = Object.entries(query).filter(([, v]) => v !== null && v !== undefined);
        const qs = pairs.length ? `?${pairs.map(([k, v]) => `${enc(k)}=${enc(str(v))}`).join('&')}` : '';
        const headers: Record<string, string> = { host: c.host };
        if (bearer && route.path.startsWith('/api/v1/')) headers.authorization = `Bearer ${c.tenant.apiKey}`;
        else headers.cookie = c.cookie;
        if (body !== undefined) headers['content-type'] = 'application/json';
        const from = route.path === '/rest/security/authorize' ? SOURCES.failing : SOURCES.fuzz;
        return {
          route,
          req: {
            method: route.method,
            path: path + qs,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            from,
          },
        };
      });
  });
  return fc.oneof(hostile, valid);
}

export interface FuzzResult {
  cases: number;
  by_status: Record<string, number>;
  by_route: Record<string, Record<string, number>>;
  server_errors: { method: string; path: string; status: number; text: string; req: string }[];
  transport_errors: number;
  routes: number;
  ms: number;
}

/** Sends `n` generated cases (with `concurrency` in flight); counts answers by status. */
export async function fuzz(
  port: number,
  t: Target,
  c: Client,
  cSeed: Seeded,
  foreignIds: Record<string, string[]>,
  n: number,
  seed: number,
  concurrency = 4,
): Promise<FuzzResult> {
  const t0 = Date.now();
  const rs = await routes(port);
  const samples = fc.sample(caseArb(rs, port, c, cSeed, foreignIds), { numRuns: n, seed });
  const result: FuzzResult = {
    cases: 0,
    by_status: {},
    by_route: {},
    server_errors: [],
    transport_errors: 0,
    routes: rs.length,
    ms: 0,
  };
  let next = 0;
  const worker = async () => {
    while (next < samples.length) {
      const k = samples[next++];
      if (t.alive && !t.alive()) throw new Error('the server process died during fuzzing');
      try {
        const r = await send(port, k.req, 15_000);
        result.by_status[r.status] = (result.by_status[r.status] ?? 0) + 1;
        const key = `${k.route.method} ${k.route.path}`;
        result.by_route[key] ??= {};
        result.by_route[key][r.status] = (result.by_route[key][r.status] ?? 0) + 1;
        if (r.status >= 500)
          result.server_errors.push({
            method: k.req.method,
            path: k.route.path,
            status: r.status,
            text: r.text.slice(0, 200),
            req: JSON.stringify({ ...k.req, body: k.req.body?.toString().slice(0, 500) }).slice(0, 1200),
          });
      } catch {
        // A connection the server closed on garbage (e.g. a bad Host line) is not an answer;
        // count it, and make sure the server still answers.
        result.transport_errors++;
      }
      result.cases++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  // Anything the fuzzer started (traffic, calls) stops before the data is compared.
  await send(port, as(c, 'DELETE', '/api/v1/sim/traffic'));
  result.ms = Date.now() - t0;
  return result;
}

/** After fuzzing: every list of C still reads (200, JSON) — nothing stored breaks a read. */
export async function readsBack(port: number, c: Client): Promise<string[]> {
  const problems: string[] = [];
  const span = `timeFrom=0&timeTo=${Date.now() + 86_400_000}`;
  const paths = [
    '/api/v1/account',
    '/rest/users',
    '/rest/user/status',
    '/rest/calls/active/v3',
    `/rest/calls/company.api?${span}`,
    `/rest/calls/users.api?${span}`,
    `/rest/calls/missed.api?${span}`,
    ...['employees', 'groups', 'ivr', 'trunks', 'crm-connections', 'tracking/numbers'].map(
      (x) => `/api/v1/${x}`,
    ),
  ];
  for (let offset = 0; offset < 6000; offset += 60)
    paths.push(`/rest/crm/contacts/v2/?limit=60&offset=${offset}`);
  for (const p of paths) {
    const r = await send(port, as(c, 'GET', p));
    if (r.status !== 200) problems.push(`${p}: ${r.status} ${r.text.slice(0, 120)}`);
    else {
      try {
        const v = JSON.parse(r.text);
        if (p.includes('/contacts/v2/?')) {
          for (const ct of v) {
            const notes = await send(port, as(c, 'GET', `/rest/crm/contacts/v2/${ct.id}/notes`));
            if (notes.status !== 200) problems.push(`notes of ${ct.id}: ${notes.status}`);
          }
          if (v.length < 60) break;
        }
      } catch {
        problems.push(`${p}: not JSON`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Tenant isolation: B against every route, with A's ids.

/** The ids of the kind a route's `{id}` names (`/api/v1/trunks/{id}` → trunks). */
function idsOfRoute(seed: Seeded, path: string): string[] {
  const m = /\/(?:api\/v1|rest\/crm)\/(?:contacts\/v2|([a-z-]+(?:\/numbers)?))\/\{id\}/.exec(path);
  if (path.includes('/calls/')) return seed.ids.uuid;
  if (!m) return seed.ids.id;
  return seed.byResource[m[1] ?? 'contacts'] ?? seed.ids.id;
}

export interface IsolationResult {
  requests: number;
  violations: string[];
}

export async function isolation(
  port: number,
  a: Client,
  b: Client,
  aSeed: Seeded,
  bSeed: Seeded,
): Promise<IsolationResult> {
  const rs = await routes(port);
  const violations: string[] = [];
  let requests = 0;
  // An error that echoes what the request itself said (a uuid in the path) leaks nothing.
  const leaks = (text: string, path: string) =>
    aSeed.markers.find((m) => text.includes(m) && !path.includes(m) && !bSeed.markers.includes(m));
  const bodyFor = (route: Route) => {
    if (!route.body) return undefined;
    // Something plausible, so the request gets past validation to the ownership check.
    const v: Record<string, unknown> = {};
    for (const [k, s] of Object.entries<JsonSchema>(route.body.properties ?? {})) {
      const type = Array.isArray(s.type) ? s.type[0] : (s.type ?? s.anyOf?.[0]?.type);
      v[k] =
        type === 'integer' || type === 'number'
          ? Number(aSeed.ids.id[0])
          : type === 'boolean'
            ? true
            : type === 'array'
              ? []
              : type === 'object'
                ? {}
                : `x-${bSeed.marker}`;
    }
    return v;
  };
  for (const route of rs) {
    if (route.pathParams.includes('domain')) continue; // public website endpoints, by domain
    const combos: string[][] = [[]];
    for (const p of route.pathParams) {
      const vals = p === 'id' ? idsOfRoute(aSeed, route.path) : (aSeed.ids[p] ?? aSeed.ids.id);
      const next: string[][] = [];
      for (const combo of combos) for (const v of vals) next.push([...combo, v]);
      combos.splice(0, combos.length, ...next);
    }
    for (const combo of combos) {
      let i = 0;
      const path = route.path.replace(/\{[^}]+\}/g, () => combo[i++]);
      const isRecording = route.path.startsWith('/rest/public/');
      const variants: [string, Req][] = [
        ['B on its own Host', as(b, route.method, path, bodyFor(route), SOURCES.isolation)],
        [
          'B credentials on A’s Host',
          {
            ...as(b, route.method, path, bodyFor(route), SOURCES.isolation),
            headers: { ...as(b, route.method, path, bodyFor(route)).headers, host: a.host },
          },
        ],
      ];
      for (const [label, req] of variants) {
        if (route.public && !isRecording && route.pathParams.length === 0) continue; // authorize, health…
        const r = await send(port, req);
        requests++;
        const hasAId = combo.length > 0;
        const leaked = leaks(r.text, path);
        if (r.status < 300 && (hasAId || label !== 'B on its own Host'))
          violations.push(`${route.method} ${path} (${label}): ${r.status} ${r.text.slice(0, 100)}`);
        else if (leaked) violations.push(`${route.method} ${path} (${label}): answer holds A's "${leaked}"`);
      }
    }
  }
  return { requests, violations };
}

// ---------------------------------------------------------------------------------------------
// Sessions, brute force, oversized bodies, private CRM addresses

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export async function sessionChecks(port: number, t: Target): Promise<Check[]> {
  const out: Check[] = [];
  const host = `${t.a.domain}:${port}`;
  const chosen = 'fixatedfixatedfixatedfixated0001';
  const auth = await send(port, {
    method: 'POST',
    path: '/rest/security/authorize',
    headers: { host, 'content-type': 'application/json', cookie: `JSESSIONID=${chosen}` },
    body: JSON.stringify({ domain: t.a.domain, apiKey: t.a.apiKey }),
  });
  const issued = /^JSESSIONID=([^;]+)/.exec(String(auth.headers['set-cookie']?.[0] ?? ''))?.[1];
  const withChosen = await send(port, {
    method: 'GET',
    path: '/rest/users',
    headers: { host, cookie: `JSESSIONID=${chosen}` },
  });
  out.push({
    name: 'session fixation: a client-chosen JSESSIONID is never adopted',
    ok: auth.status === 200 && !!issued && issued !== chosen && withChosen.status === 403,
    detail: `authorize ${auth.status}, issued ${issued === chosen ? 'the chosen id' : 'a fresh id'}, chosen id → ${withChosen.status}`,
  });
  const fresh = await signIn(port, t.a);
  const before = await send(port, {
    method: 'GET',
    path: '/rest/users',
    headers: { host, cookie: fresh.cookie },
  });
  await sleep(t.sessionIdleSec * 1000 + 1500);
  const afterIdle = await send(port, {
    method: 'GET',
    path: '/rest/users',
    headers: { host, cookie: fresh.cookie },
  });
  out.push({
    name: `session expiry: idle > ${t.sessionIdleSec} s → 403`,
    ok: before.status === 200 && afterIdle.status === 403,
    detail: `before ${before.status}, after ${t.sessionIdleSec + 1.5} s idle ${afterIdle.status} ${afterIdle.text.slice(0, 60)}`,
  });
  return out;
}

export async function bruteForce(port: number, t: Target): Promise<Check[]> {
  const host = `${t.d.domain}:${port}`;
  const attempt = (apiKey: string) =>
    send(port, {
      method: 'POST',
      path: '/rest/security/authorize',
      headers: { host, 'content-type': 'application/json' },
      body: JSON.stringify({ domain: t.d.domain, apiKey }),
      from: SOURCES.brute,
    });
  const statuses: number[] = [];
  let limited: Reply | null = null;
  for (let i = 0; i < t.maxFailuresPerIp + 5; i++) {
    const r = await attempt(`wrong-key-${i}-${'x'.repeat(20)}`);
    statuses.push(r.status);
    if (r.status === 429 && !limited) limited = r;
  }
  const first429 = statuses.indexOf(429);
  const right = await attempt(t.d.apiKey);
  return [
    {
      name: `authorize brute force: 429 + Retry-After after ${t.maxFailuresPerIp} failures per IP`,
      ok:
        first429 > 0 &&
        first429 <= t.maxFailuresPerIp &&
        statuses.slice(first429).every((s) => s === 429) &&
        Number(limited?.headers['retry-after']) > 0 &&
        right.status === 429,
      detail: `first 429 at attempt ${first429 + 1}, Retry-After ${limited?.headers['retry-after']}, then the right key from that IP → ${right.status}`,
    },
  ];
}

export async function oversized(port: number, t: Target, c: Client): Promise<Check[]> {
  const big = Buffer.alloc(t.bodyLimitBytes + 1024, 'a');
  const json = Buffer.concat([Buffer.from('{"x":"'), big, Buffer.from('"}')]);
  const targets: [string, string, boolean][] = [
    ['POST', '/rest/security/authorize', false],
    ['POST', '/rest/crm/contacts/v2/batch', true],
    ['POST', '/api/v1/employees', true],
    ['POST', `/api/v1/public/${c.tenant.domain}/tracking/sessions`, false],
  ];
  const out: string[] = [];
  let good = true;
  for (const [method, path, authed] of targets)
    for (const chunked of [false, true]) {
      const headers: Record<string, string> = { host: c.host, 'content-type': 'application/json' };
      if (authed) {
        headers.cookie = c.cookie;
        headers.authorization = `Bearer ${c.tenant.apiKey}`;
      }
      if (chunked) headers['transfer-encoding'] = 'chunked';
      let status = 0;
      try {
        const r = await send(port, { method, path, headers, body: json, chunked });
        status = r.status;
        if (r.status === 413 && !String(r.headers['content-type']).startsWith('text/plain')) good = false;
      } catch {
        status = -1; // the server may cut the upload short after answering
      }
      if (status !== 413 && status !== -1) good = false;
      out.push(`${path}${chunked ? ' (chunked)' : ''} → ${status === -1 ? 'closed' : status}`);
    }
  return [{ name: `oversized bodies (limit + 1 KiB) → 413`, ok: good, detail: out.join('; ') }];
}

/** Production mode: CRM URLs naming or resolving to private/metadata addresses are never contacted. */
export async function privateUrls(port: number, c: Client): Promise<Check[]> {
  let hits = 0;
  const receiver = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.end('{}');
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const rport = (receiver.address() as { port: number }).port;
  const urls = [
    `http://127.0.0.1:${rport}/hook`,
    `http://localhost:${rport}/hook`,
    `http://2130706433:${rport}/hook`,
    `http://0x7f.1:${rport}/hook`,
    `http://[::1]:${rport}/hook`,
    `http://[::ffff:127.0.0.1]:${rport}/hook`,
    'http://169.254.169.254/latest/meta-data/',
    'http://[::ffff:a9fe:a9fe]/latest/meta-data/',
    'http://10.0.0.1/hook',
    'http://192.168.1.1/hook',
    'http://100.64.0.1/hook',
    'http://0.0.0.0/hook',
  ];
  const details: string[] = [];
  let good = true;
  try {
    const ids: number[] = [];
    for (const url of urls) {
      const conn = await ok(port, c, 'POST', '/api/v1/crm-connections', {
        name: `ssrf ${url}`,
        eventsUrl: url,
        callSettingsUrl: url,
      });
      ids.push(conn.id);
      await ok(port, c, 'POST', `/api/v1/crm-connections/${conn.id}/test`);
    }
    // Wait for one attempt of each delivery.
    const deadline = Date.now() + 15_000;
    const last = new Map<number, string>();
    while (Date.now() < deadline && last.size < ids.length) {
      for (const id of ids) {
        const list = await ok(port, c, 'GET', `/api/v1/crm-connections/${id}/deliveries`);
        const d = list[0];
        if (d && d.attempts > 0)
          last.set(id, `${d.status} ${d.lastStatus ?? ''} ${d.lastError ?? ''}`.trim());
      }
      if (last.size < ids.length) await sleep(200);
    }
    // The promise is that nothing private is ever contacted: the receiver counts that. Each
    // outcome should be an explicit refusal; under load a DNS lookup may time out first (still
    // not contacted), which is reported but not a failure.
    let refusedCount = 0;
    urls.forEach((url, i) => {
      const outcome = last.get(ids[i]) ?? 'not attempted yet';
      if (/refused_address|bad_url/.test(outcome)) refusedCount++;
      if (outcome.startsWith('delivered')) good = false;
      details.push(`${url} → ${outcome.slice(0, 80)}`);
    });
    details.unshift(`${refusedCount}/${urls.length} refused explicitly`);
    for (const id of ids) await ok(port, c, 'DELETE', `/api/v1/crm-connections/${id}`).catch(() => {});
  } finally {
    receiver.close();
  }
  if (hits > 0) good = false;
  return [
    {
      name: 'CRM URLs resolving to loopback/private/metadata addresses are refused (DZVIN_MODE=production)',
      ok: good,
      detail: `${hits} request(s) reached the loopback receiver; ${details.join('; ')}`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// The whole run

export interface HostileReport {
  fuzz: FuzzResult;
  corruption: string[];
  isolation: IsolationResult;
  checks: Check[];
  ms: number;
}

export async function runHostile(
  t: Target,
  o: { fuzzCases: number; seed: number; log?: (s: string) => void },
): Promise<HostileReport> {
  const t0 = Date.now();
  const log = o.log ?? (() => {});
  const { port } = t;
  const [a, b, c] = [await signIn(port, t.a), await signIn(port, t.b), await signIn(port, t.c)];
  log('seeding accounts A, B and C');
  const aSeed = await seedTenant(port, a, `canaryA${o.seed}`, 1);
  const bSeed = await seedTenant(port, b, `canaryB${o.seed}`, 2);
  const cSeed = await seedTenant(port, c, `fuzzC${o.seed}`, 3);
  const aBefore = await snapshot(port, a);
  const bBefore = await snapshot(port, b);
  log(`fuzzing ${o.fuzzCases} cases`);
  const foreign: Record<string, string[]> = {};
  // Not the canaries' domains: the public website endpoints (tracking, callback widget) act on
  // whatever account they name, by design, and would change the canaries' calls legitimately.
  for (const [k, v] of Object.entries(aSeed.ids))
    if (k !== 'domain') foreign[k] = [...v, ...(bSeed.ids[k] ?? [])];
  const fuzzResult = await fuzz(port, t, c, cSeed, foreign, o.fuzzCases, o.seed);
  log(`fuzz: ${fuzzResult.cases} cases in ${fuzzResult.ms} ms, ${fuzzResult.server_errors.length} 5xx`);
  const corruption: string[] = [];
  // B is compared before the isolation matrix (which writes to B itself, legitimately).
  for (const d of differences(bBefore, await snapshot(port, await signIn(port, t.b))))
    corruption.push(`account B (canary) after fuzzing: ${d}`);
  log('isolation matrix');
  const iso = await isolation(port, a, b, aSeed, bSeed);
  for (const d of differences(aBefore, await snapshot(port, await signIn(port, t.a))))
    corruption.push(`account A (canary) after fuzzing and the isolation matrix: ${d}`);
  // A fresh session, as for A and B: C's own has idled through the snapshots and the matrix,
  // which can outlast this run's 10 s idle limit; an expired session is not stored corruption
  // (expiry is checked on its own below).
  corruption.push(...(await readsBack(port, await signIn(port, t.c))).map((p) => `account C (fuzzed): ${p}`));
  log('sessions, brute force, oversized bodies, private CRM addresses');
  const checks = [
    ...(await sessionChecks(port, t)),
    ...(await bruteForce(port, t)),
    ...(await oversized(port, t, c)),
    ...(await privateUrls(port, c)),
  ];
  if (t.alive && !t.alive())
    checks.push({ name: 'the server is alive at the end', ok: false, detail: 'it died' });
  return { fuzz: fuzzResult, corruption, isolation: iso, checks, ms: Date.now() - t0 };
}
