// Bad input on every endpoint: malformed JSON, wrong types, out-of-range limit/offset, unknown
// ids, ids of another account, oversized bodies and invalid cookies get the documented 4xx with
// a plain-text reason (spec #6) — never a 500, never a partial write; a batch upload counts each
// contact on its own. Ends with a property-based sweep of the contacts endpoints.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import {
  contactBody,
  createContacts,
  type RequestOptions,
  type Response,
  type Session,
  startServer,
  type TestServer,
} from './support/harness.ts';

const CONTACTS = '/rest/crm/contacts/v2';
const BODY_LIMIT = 64 * 1024;
const ADMIN_RESOURCES = ['employees', 'groups', 'ivr', 'trunks', 'crm-connections'] as const;
/** Id path segments that are not a positive Long that fits a JS number. */
const BAD_IDS = [
  'abc',
  '0',
  '-1',
  '1.5',
  '1,5',
  '99999999999999999999',
  '9007199254740992',
  '%20',
  '1%2F2',
  '%E2%84%96',
];
const UNKNOWN_ID = 987_654_321;

/** A documented 4xx: the status, `text/plain; charset=utf-8` and a non-empty reason (spec #6). */
function expectError(r: Response, status: number | number[], label: string) {
  const ok = Array.isArray(status) ? status.includes(r.status) : r.status === status;
  assert.ok(ok, `${label}: expected ${status}, got ${r.status} ${r.text.slice(0, 300)}`);
  assert.match(
    String(r.headers['content-type']),
    /^text\/plain; charset=utf-8$/,
    `${label}: ${r.status} with content-type ${r.headers['content-type']}: ${r.text.slice(0, 120)}`,
  );
  assert.ok(r.text.trim().length > 0, `${label}: a plain-text reason`);
}

function expectStatus(r: Response, status: number, label: string) {
  assert.equal(r.status, status, `${label}: expected ${status}, got ${r.status} ${r.text.slice(0, 300)}`);
}

/**
 * Runs every case of a table and reports all the failing ones at once (instead of stopping at
 * the first), so one run shows everything that needs fixing.
 */
function collector() {
  const problems: string[] = [];
  return {
    check(fn: () => void) {
      try {
        fn();
      } catch (e) {
        if (!(e instanceof assert.AssertionError)) throw e;
        problems.push(e.message.split('\n')[0]);
      }
    },
    done() {
      assert.deepEqual(problems, [], `${problems.length} case(s) failed:\n${problems.join('\n')}`);
    },
  };
}

/** Any answer of the server to anything a client sent: below 500, and a 4xx is plain text. */
function expectSane(r: Response, label: string) {
  assert.ok(r.status < 500, `${label}: ${r.status} ${r.text.slice(0, 300)}`);
  if (r.status >= 400) {
    assert.match(
      String(r.headers['content-type']),
      /^text\/plain; charset=utf-8$/,
      `${label}: ${r.status} with content-type ${r.headers['content-type']}`,
    );
    assert.ok(r.text.trim().length > 0, `${label}: ${r.status} without a reason`);
  } else {
    assert.match(
      String(r.headers['content-type']),
      /^application\/json/,
      `${label}: ${r.status} with content-type ${r.headers['content-type']}`,
    );
    JSON.parse(r.text);
  }
}

/** A request whose body is sent chunked (no Content-Length), as streaming clients do. */
function chunked(
  baseUrl: string,
  path: string,
  o: { host: string; cookie: string; body: string },
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(path, baseUrl),
      {
        method: 'POST',
        agent: false,
        headers: {
          host: o.host,
          cookie: o.cookie,
          'content-type': 'application/json',
          'transfer-encoding': 'chunked',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
      },
    );
    // The server may answer 413 and close before all chunks are written: a write error then is
    // expected, as long as the answer arrives; without one, the request failed.
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') return reject(e);
      setTimeout(() => reject(new Error(`no answer before ${e.code}`)), 2000).unref();
    });
    for (let i = 0; i < o.body.length; i += 8192) req.write(o.body.slice(i, i + 8192));
    req.end();
  });
}

for (const dialect of DIALECTS) {
  describe(`bad input gets a plain-text 4xx, never a 500 or a partial write [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    let server: TestServer;
    let acme: Session;
    let other: Session;
    let contactId: number;
    let noteId: number;
    let otherContactId: number;
    let otherNoteId: number;
    const adminIds: Record<(typeof ADMIN_RESOURCES)[number], number> = {
      employees: 0,
      groups: 0,
      ivr: 0,
      trunks: 0,
      'crm-connections': 0,
    };

    /** acme's request with a raw body (and a Bearer key for the admin API). */
    const send = (method: string, path: string, o: RequestOptions = {}) =>
      path.startsWith('/api/')
        ? server.request(method, path, {
            host: acme.host,
            ...o,
            headers: { authorization: `Bearer ${acme.apiKey}`, ...o.headers },
          })
        : acme.call(method, path, o);

    /** Everything acme can read, as raw text: compared before/after to prove nothing was written. */
    async function readAll(s: Session = acme): Promise<string> {
      const parts: string[] = [];
      for (const p of ['/rest/users', `${CONTACTS}/?limit=60`, `${CONTACTS}/?limit=60&offset=60`])
        parts.push((await s.get(p)).text);
      for (const c of (await s.get(`${CONTACTS}/?limit=60`)).json())
        parts.push((await s.get(`${CONTACTS}/${c.id}/notes`)).text);
      parts.push((await s.admin('GET', '/api/v1/account')).text);
      for (const res of ADMIN_RESOURCES) parts.push((await s.admin('GET', `/api/v1/${res}`)).text);
      return parts.join('\n');
    }

    before(async () => {
      server = await startServer(dialect, {
        config: {
          bodyLimitBytes: BODY_LIMIT,
          // Invalid-credential sweeps below would otherwise trip the authorize rate limit.
          auth: { maxFailuresPerIp: 100_000, maxFailuresPerDomain: 100_000, failureWindowSec: 600 },
        },
      });
      acme = await server.account('bad-input.localhost');
      other = await server.account('other-tenant.localhost');
      [contactId] = await createContacts(acme, [
        contactBody({ first: 'Основний', phones: ['+380441110001'], email: 'main@acme.example' }),
      ]);
      const n = await acme.post(`${CONTACTS}/${contactId}/notes`, { content: 'перша нотатка' });
      expectStatus(n, 200, 'note');
      noteId = n.json().id;
      [otherContactId] = await createContacts(other, [
        contactBody({ first: 'Чужий', phones: ['+380441110001'] }),
      ]);
      otherNoteId = (await other.post(`${CONTACTS}/${otherContactId}/notes`, { content: 'чужа' })).json().id;

      const emp = await acme.admin('POST', '/api/v1/employees', { displayName: 'Другий', ext: '002' });
      adminIds.employees = emp.json().id;
      adminIds.groups = (
        await acme.admin('POST', '/api/v1/groups', { name: 'Група', ext: '100', members: [emp.json().id] })
      ).json().id;
      adminIds.ivr = (await acme.admin('POST', '/api/v1/ivr', { name: 'Меню' })).json().id;
      adminIds.trunks = (
        await acme.admin('POST', '/api/v1/trunks', { number: '+380442220000', name: 'Головний' })
      ).json().id;
      adminIds['crm-connections'] = (
        await acme.admin('POST', '/api/v1/crm-connections', { name: 'CRM' })
      ).json().id;
      for (const [res, id] of Object.entries(adminIds)) assert.ok(id > 0, res);
    });
    after(() => server.close());

    test('limit above 60, below 0 or not an integer, and a negative offset, are 400 naming the parameter', async () => {
      const c = collector();
      const base = [`${CONTACTS}/?`, `${CONTACTS}/searchByOLNum?otherLegNum=%2B380441110001&`];
      for (const b of base) {
        for (const [qs, name] of [
          ['limit=61', 'limit'],
          ['limit=-1', 'limit'],
          ['limit=abc', 'limit'],
          ['limit=1.5', 'limit'],
          ['limit=', 'limit'],
          ['limit=99999999999999999999', 'limit'],
          ['limit=1&limit=2', 'limit'],
          ['offset=-1', 'offset'],
          ['offset=abc', 'offset'],
          ['offset=0.5', 'offset'],
          ['offset=99999999999999999999', 'offset'],
        ]) {
          const r = await acme.get(`${b}${qs}`);
          c.check(() => {
            expectError(r, 400, `${b}${qs}`);
            assert.match(r.text, new RegExp(name), `${b}${qs}: the reason names '${name}'`);
          });
        }
      }
      c.done();
    });

    test('limit=0, limit=60 and a past-the-end offset answer 200 with an array', async () => {
      for (const b of [`${CONTACTS}/?`, `${CONTACTS}/searchByOLNum?otherLegNum=%2B380441110001&`]) {
        for (const [qs, expected] of [
          ['limit=0', 0],
          ['offset=1000', 0],
          ['offset=1&limit=60', 0],
          ['offset=9007199254740991', 0],
          ['limit=60', 1],
          ['offset=0&limit=1', 1],
        ] as const) {
          const r = await acme.get(`${b}${qs}`);
          expectStatus(r, 200, `${b}${qs}`);
          assert.deepEqual(
            r.json().map((c: { id: number }) => c.id),
            expected ? [contactId] : [],
            `${b}${qs}`,
          );
        }
      }
    });

    test('other list and lookup parameters out of their domain are 400', async () => {
      const cases = [
        `${CONTACTS}/?filterBy=2`,
        `${CONTACTS}/?filterBy=abc`,
        `${CONTACTS}/?filterBy=1&from=abc`,
        `${CONTACTS}/?filterBy=1&to=-5`,
        `${CONTACTS}/?from=1`,
        `${CONTACTS}/?searchText=${'x'.repeat(201)}`,
        `${CONTACTS}/?${Array.from({ length: 51 }, (_, i) => `field=f${i}`).join('&')}`,
        `${CONTACTS}/searchByOLNum`,
        `${CONTACTS}/searchByOLNum?otherLegNum=`,
        `${CONTACTS}/searchByOLNum?otherLegNum=abc`,
        `${CONTACTS}/searchByOLNum?otherLegNum=${'1'.repeat(65)}`,
        `${CONTACTS}/searchByOLNum?otherLegNum=1&otherLegNum=2`,
      ];
      const c = collector();
      for (const p of cases) {
        const r = await acme.get(p);
        c.check(() => expectError(r, 400, p.slice(0, 120)));
      }
      c.done();
    });

    test('bad ids are 400 and unknown ids 404 on every endpoint that takes an id', async () => {
      const note = { content: 'x' };
      const routes: [string, (id: string) => string, unknown?][] = [
        ['GET', (id) => `${CONTACTS}/${id}`],
        ['DELETE', (id) => `${CONTACTS}/${id}`],
        ['GET', (id) => `${CONTACTS}/${id}/notes`],
        ['POST', (id) => `${CONTACTS}/${id}/notes`, note],
        ['PUT', (id) => `${CONTACTS}/${id}/notes`, { ...note, id: noteId }],
        ['DELETE', (id) => `${CONTACTS}/${id}/notes/${noteId}`],
        ['DELETE', (id) => `${CONTACTS}/${contactId}/notes/${id}`],
      ];
      for (const res of ADMIN_RESOURCES) {
        routes.push(
          ['GET', (id) => `/api/v1/${res}/${id}`],
          ['PATCH', (id) => `/api/v1/${res}/${id}`, {}],
          ['DELETE', (id) => `/api/v1/${res}/${id}`],
        );
      }
      const c = collector();
      for (const [method, path, body] of routes) {
        for (const id of BAD_IDS) {
          const r = await send(method, path(id), { body });
          c.check(() => expectError(r, 400, `${method} ${path(id)}`));
        }
        const r = await send(method, path(String(UNKNOWN_ID)), { body });
        c.check(() => expectError(r, 404, `${method} ${path(String(UNKNOWN_ID))}`));
      }
      c.done();
    });

    test('ids in the body: a missing or zero id is 400, an unknown one 404, a wrong-typed one 400, and none writes', async () => {
      const before = await readAll();
      const c = collector();
      const run = async (label: string, status: number, req: Promise<Response>) => {
        const r = await req;
        c.check(() => expectError(r, status, label));
      };
      const update = (body: unknown) => acme.post(`${CONTACTS}/`, body);
      await run('update without id', 400, update({ firstName: 'Без id' }));
      await run('update with id 0', 400, update({ id: 0, firstName: 'Нуль' }));
      await run('update with id null', 400, update({ id: null, firstName: 'Null' }));
      await run('update unknown id', 404, update({ id: UNKNOWN_ID, firstName: 'Невідомий' }));
      await run("update another account's contact", 404, update({ id: otherContactId, firstName: 'Чужий' }));
      // Numeric strings ("5") are read as numbers, as Jackson does for a Long; these are not ids.
      for (const id of ['abc', -1, 1.5, true, false, [contactId, 2], { id: contactId }, 1e20, ''])
        await run(`update id ${JSON.stringify(id)}`, 400, update({ id, firstName: 'Тип' }));
      for (const raw of ['{"id": 1e400}', '{"id": 9007199254740993}', '{"id": -0.5}', '{"id": "1.0.0"}'])
        await run(`update ${raw}`, 400, acme.call('POST', `${CONTACTS}/`, { raw }));

      const put = (body: unknown) => acme.put(`${CONTACTS}/${contactId}/notes`, body);
      await run('PUT note without id', 400, put({ content: 'без id' }));
      await run('PUT note id 0', 400, put({ id: 0, content: 'нуль' }));
      await run('PUT unknown note', 404, put({ id: UNKNOWN_ID, content: 'x' }));
      await run("PUT another account's note", 404, put({ id: otherNoteId, content: 'x' }));
      for (const id of ['abc', true, [noteId, 1], { id: noteId }])
        await run(`PUT note id ${JSON.stringify(id)}`, 400, put({ id, content: 'Тип' }));
      await run(
        "DELETE another account's note",
        404,
        acme.delete(`${CONTACTS}/${contactId}/notes/${otherNoteId}`),
      );
      await run("GET another account's contact", 404, acme.get(`${CONTACTS}/${otherContactId}`));
      await run(
        "GET another account's contact's notes",
        404,
        acme.get(`${CONTACTS}/${otherContactId}/notes`),
      );
      const afterAll = await readAll();
      c.check(() => assert.equal(afterAll, before, 'nothing was written'));
      c.done();
    });

    test('malformed JSON, arrays, scalars, deep nesting and empty bodies are 400 on every endpoint with a body, and write nothing', async () => {
      const before = await readAll();
      const endpoints: [string, string][] = [
        ['POST', '/rest/security/authorize'],
        ['POST', `${CONTACTS}/`],
        ['POST', `${CONTACTS}/batch`],
        ['POST', `${CONTACTS}/${contactId}/notes`],
        ['PUT', `${CONTACTS}/${contactId}/notes`],
        ['PATCH', '/api/v1/account'],
      ];
      for (const res of ADMIN_RESOURCES)
        endpoints.push(['POST', `/api/v1/${res}`], ['PATCH', `/api/v1/${res}/${adminIds[res]}`]);
      const bodies: [string, string | undefined][] = [
        ['malformed', '{"a":'],
        ['malformed, trailing comma', '{"id": 1,}'],
        ['malformed, single quotes', "{'id': 1}"],
        ['malformed, unquoted keys (the document style)', '{ id: 1 }'],
        ['garbage', 'not json at all'],
        ['a JSON array', '[{"id": 1}]'],
        ['an empty array', '[]'],
        ['a JSON string', '"text"'],
        ['a number', '42'],
        ['null', 'null'],
        ['true', 'true'],
        ['deeply nested arrays', `${'['.repeat(5000)}${']'.repeat(5000)}`],
        ['deeply nested objects in an array', `[${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}]`],
        ['empty', ''],
        ['whitespace', '   \n '],
        ['no body at all', undefined],
      ];
      const c = collector();
      for (const [method, path] of endpoints) {
        for (const [label, raw] of bodies) {
          const r = await send(method, path, raw === undefined ? {} : { raw });
          c.check(() => expectError(r, 400, `${method} ${path} ${label}`));
        }
      }
      for (const raw of ['{"__proto__": {"id": 1}}', '{"constructor": {"prototype": {"polluted": 1}}}']) {
        const r = await send('POST', `${CONTACTS}/`, { raw });
        c.check(() => expectError(r, 400, `prototype keys ${raw}`));
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      }
      const afterAll = await readAll();
      c.check(() => assert.equal(afterAll, before, 'nothing was written'));
      c.done();
    });

    test('wrong types are 400, and write nothing', async () => {
      const before = await readAll();
      // Objects and arrays where scalars belong, and strings that are not numbers: wrong whatever
      // the leniency (a number sent for a string is read as its text, as Jackson does).
      const cases: [string, string, unknown][] = [
        ['POST', '/rest/security/authorize', { domain: { x: 1 }, apiKey: [] }],
        ['POST', '/rest/security/authorize', { domain: 'bad-input.localhost' }],
        ['POST', '/rest/security/authorize', { domain: 'bad-input.localhost', apiKey: '' }],
        ['POST', `${CONTACTS}/`, { id: contactId, fields: 'x' }],
        ['POST', `${CONTACTS}/`, { id: contactId, fields: { enumCode: 'Имя' } }],
        ['POST', `${CONTACTS}/`, { id: contactId, fields: [{ enumCode: 'Имя', values: 'x' }] }],
        [
          'POST',
          `${CONTACTS}/`,
          { id: contactId, fields: [{ enumCode: { x: 1 }, values: [{ value: 'a' }] }] },
        ],
        ['POST', `${CONTACTS}/`, { id: contactId, fields: [{ values: [{ value: 'a' }] }] }],
        ['POST', `${CONTACTS}/`, { id: contactId, fields: [{ enumCode: '', values: [{ value: 'a' }] }] }],
        [
          'POST',
          `${CONTACTS}/`,
          { id: contactId, fields: [{ enumCode: 'Имя', values: [{ value: { x: 1 } }] }] },
        ],
        ['POST', `${CONTACTS}/`, { id: contactId, fields: [{ enumCode: 'Имя', values: ['Петро'] }] }],
        ['POST', `${CONTACTS}/`, { id: contactId, firstName: { x: 1 } }],
        ['POST', `${CONTACTS}/`, { id: contactId, responsibleUserId: 'me' }],
        [
          'POST',
          `${CONTACTS}/`,
          { id: contactId, fields: [{ enumCode: 'Телефон', values: [{ value: 'not a phone' }] }] },
        ],
        [
          'POST',
          `${CONTACTS}/`,
          { id: contactId, fields: [{ enumCode: 'Email', values: [{ value: 'not-an-email' }] }] },
        ],
        [
          'POST',
          `${CONTACTS}/`,
          { id: contactId, fields: [{ enumCode: 'Имя', values: [{ value: 'A' }, { value: 'B' }] }] },
        ],
        ['POST', `${CONTACTS}/`, { id: contactId, responsibleUserId: UNKNOWN_ID }],
        ['POST', `${CONTACTS}/batch`, { contacts: 'x' }],
        ['POST', `${CONTACTS}/batch`, { contacts: { 0: {} } }],
        ['POST', `${CONTACTS}/batch`, { merge: 5, contacts: [] }],
        ['POST', `${CONTACTS}/batch`, { merge: 'yes', contacts: [] }],
        ['POST', `${CONTACTS}/batch`, { merge: 1 }],
        ['POST', `${CONTACTS}/batch`, { merge: 0, contacts: Array.from({ length: 1001 }, () => ({})) }],
        ['POST', `${CONTACTS}/${contactId}/notes`, { content: { x: 1 } }],
        ['POST', `${CONTACTS}/${contactId}/notes`, { content: 'x', noteType: 'call' }],
        ['POST', `${CONTACTS}/${contactId}/notes`, { content: 'x', billSec: 1.5 }],
        ['POST', `${CONTACTS}/${contactId}/notes`, { content: 'x', responsibleUserId: UNKNOWN_ID }],
        ['PUT', `${CONTACTS}/${contactId}/notes`, { id: noteId, content: { x: 1 } }],
        ['PUT', `${CONTACTS}/${contactId}/notes`, { id: noteId, end: 'later' }],
        ['PATCH', '/api/v1/account', { name: { x: 1 } }],
        ['PATCH', '/api/v1/account', { name: '' }],
        ['PATCH', '/api/v1/account', { defaultCountry: 'Ukraine' }],
        ['PATCH', '/api/v1/account', { defaultCountry: 'XX' }],
        ['PATCH', '/api/v1/account', { apiUserId: 'x' }],
        ['POST', '/api/v1/employees', { displayName: 'X', ext: 'abc' }],
        ['POST', '/api/v1/employees', { displayName: { x: 1 }, ext: '555' }],
        ['POST', '/api/v1/employees', { displayName: 'X', ext: '1'.repeat(11) }],
        ['PATCH', `/api/v1/employees/${adminIds.employees}`, { email: 'nope' }],
        ['PATCH', `/api/v1/employees/${adminIds.employees}`, { presence: 'away' }],
        ['POST', '/api/v1/groups', { name: 'G', ext: '200', members: 'all' }],
        ['POST', '/api/v1/groups', { name: 'G', ext: '200', members: [UNKNOWN_ID] }],
        ['PATCH', `/api/v1/groups/${adminIds.groups}`, { ringTimeoutSec: 'long' }],
        ['PATCH', `/api/v1/groups/${adminIds.groups}`, { strategy: 'random' }],
        [
          'POST',
          '/api/v1/ivr',
          { name: 'I', options: [{ digit: '12', target: { type: 'group', id: adminIds.groups } }] },
        ],
        ['POST', '/api/v1/ivr', { name: 'I', defaultTarget: { type: 'robot', id: 1 } }],
        ['PATCH', `/api/v1/ivr/${adminIds.ivr}`, { timeoutSec: 0 }],
        ['POST', '/api/v1/trunks', { number: 'abc', name: 'T' }],
        ['POST', '/api/v1/trunks', { number: { n: 1 }, name: 'T' }],
        ['PATCH', `/api/v1/trunks/${adminIds.trunks}`, { destination: { type: 'ivr', id: UNKNOWN_ID } }],
        ['POST', '/api/v1/crm-connections', { name: 'C', eventsUrl: 'ftp://x' }],
        ['POST', '/api/v1/crm-connections', { name: 'C', secret: 'short' }],
        ['PATCH', `/api/v1/crm-connections/${adminIds['crm-connections']}`, { priority: -1 }],
      ];
      const c = collector();
      for (const [method, path, body] of cases) {
        const r = await send(method, path, { body });
        c.check(() => expectError(r, 400, `${method} ${path} ${JSON.stringify(body).slice(0, 80)}`));
      }
      const afterAll = await readAll();
      c.check(() => assert.equal(afterAll, before, 'nothing was written'));
      c.done();
    });

    test('Content-Type is not trusted: JSON text is read as JSON whatever the header says', async () => {
      for (const contentType of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/octet-stream',
        'application/json; charset=utf-8',
      ]) {
        const batch = await acme.call('POST', `${CONTACTS}/batch`, {
          raw: JSON.stringify({
            merge: 0,
            contacts: [contactBody({ first: `КонтентТип ${contentType}`, phones: ['+380441119999'] })],
          }),
          contentType,
        });
        expectStatus(batch, 201, `batch as ${contentType}`);
        assert.deepEqual(batch.json(), { succeeded: 1, failed: 0, errors: [] });
        // curl --data without -H sends form encoding: the JSON authorize body must still work.
        const auth = await server.request('POST', '/rest/security/authorize', {
          host: acme.host,
          raw: JSON.stringify({ domain: acme.domain, apiKey: acme.apiKey }),
          contentType,
        });
        expectStatus(auth, 200, `authorize as ${contentType}`);
        assert.match(String(auth.headers['set-cookie']?.[0]), /^JSESSIONID=/);
      }
      const found = (
        await acme.get(`${CONTACTS}/?searchText=${encodeURIComponent('КонтентТип')}&limit=60`)
      ).json();
      assert.equal(found.length, 4);
      for (const c of found) assert.equal((await acme.delete(`${CONTACTS}/${c.id}`)).status, 200);
      // Text that is not JSON under a non-JSON type is refused with a reason.
      expectError(
        await acme.call('POST', `${CONTACTS}/`, { raw: 'hello', contentType: 'text/plain' }),
        [400, 415],
        'plain text',
      );
      expectError(
        await acme.call('POST', `${CONTACTS}/`, { raw: 'id=1&firstName=x', contentType: 'text/plain' }),
        [400, 415],
        'form text as text/plain',
      );
    });

    test('a form-encoded authorize body works; a form body missing a key is 400', async () => {
      const form = (body: string) =>
        server.request('POST', '/rest/security/authorize', {
          host: acme.host,
          raw: body,
          contentType: 'application/x-www-form-urlencoded',
        });
      const ok = await form(
        `domain=${encodeURIComponent(acme.domain)}&apiKey=${encodeURIComponent(acme.apiKey)}`,
      );
      expectStatus(ok, 200, 'form authorize');
      const cookie = /^(JSESSIONID=[^;]+)/.exec(String(ok.headers['set-cookie']?.[0]))?.[1];
      assert.ok(cookie);
      expectStatus(await acme.get('/rest/users', { cookie }), 200, 'the form session works');
      expectError(await form(`domain=${encodeURIComponent(acme.domain)}`), 400, 'form without apiKey');
      expectError(await form(''), 400, 'empty form');
      expectError(
        await form(`domain=${acme.domain}&apiKey=wrong-key-wrong-key`),
        403,
        'form with a wrong key',
      );
    });

    test('a batch of good and bad contacts: each succeeds or fails on its own, is counted, and a failed one leaves nothing', async () => {
      const good = (n: number) =>
        contactBody({ first: `Добрий${n}`, phones: [`+38044333000${n}`], email: `good${n}@example.com` });
      // Each bad contact carries a marker name and, where it can, a valid phone: if any part of
      // it were written, a search by either would find it.
      const bad: unknown[] = [
        contactBody({ first: 'Поганий-телефон', phones: ['+380443331001', 'not a phone'] }),
        contactBody({ first: 'Поганий-email', phones: ['+380443331002'], email: 'nope' }),
        { fields: 'x' },
        null,
        5,
        'a string',
        [contactBody({ first: 'Поганий-масив' })],
        { fields: [{ enumCode: '', values: [{ value: 'Поганий-код' }] }] },
        {
          fields: [
            { enumCode: 'Имя', values: [{ value: 'Поганий-два' }, { value: 'імені' }] },
            { enumCode: 'Телефон', values: [{ value: '+380443331003' }] },
          ],
        },
        { id: 'abc', firstName: 'Поганий-id' },
        { ...contactBody({ first: 'Поганий-невідомий', phones: ['+380443331004'] }), id: UNKNOWN_ID },
        { ...contactBody({ first: 'Поганий-чужий', phones: ['+380443331005'] }), id: otherContactId },
        {
          ...contactBody({ first: 'Поганий-відповідальний', phones: ['+380443331006'] }),
          responsibleUserId: UNKNOWN_ID,
        },
        {
          firstName: 'Поганий-довгий',
          fields: [{ enumCode: 'Телефон', values: [{ value: '+380443331007' }] }],
          lastName: 'x'.repeat(501),
        },
      ];
      const contacts = [good(1), ...bad.slice(0, 5), good(2), ...bad.slice(5), good(3)];
      const goodIndexes = [0, 6, contacts.length - 1];
      const before = await readAll(other);
      for (const merge of [0, 1]) {
        const r = await acme.post(`${CONTACTS}/batch`, { merge, contacts });
        expectStatus(r, 201, `mixed batch merge ${merge}`);
        const result = r.json();
        assert.equal(result.succeeded, 3, r.text);
        assert.equal(result.failed, bad.length, r.text);
        assert.deepEqual(
          result.errors.map((e: { index: number }) => e.index),
          contacts.map((_, i) => i).filter((i) => !goodIndexes.includes(i)),
        );
        for (const e of result.errors)
          assert.ok(typeof e.reason === 'string' && e.reason.length > 0, JSON.stringify(e));
      }
      for (const n of [1, 2, 3]) {
        // merge: 0 created them, merge: 1 merged into them by phone: one contact each.
        const found = (await acme.get(`${CONTACTS}/?searchText=${encodeURIComponent(`Добрий${n}`)}`)).json();
        assert.equal(found.length, 1, `Добрий${n}`);
        const byPhone = (
          await acme.get(`${CONTACTS}/searchByOLNum?otherLegNum=${encodeURIComponent(`+38044333000${n}`)}`)
        ).json();
        assert.deepEqual(
          byPhone.map((c: { id: number }) => c.id),
          [found[0].id],
        );
      }
      assert.deepEqual(
        (await acme.get(`${CONTACTS}/?searchText=${encodeURIComponent('Поганий')}`)).json(),
        [],
      );
      for (let i = 1; i <= 7; i++) {
        const p = `+38044333100${i}`;
        assert.deepEqual(
          (await acme.get(`${CONTACTS}/searchByOLNum?otherLegNum=${encodeURIComponent(p)}`)).json(),
          [],
          p,
        );
      }
      assert.equal(
        await readAll(other),
        before,
        "the other account's contact named in the batch is untouched",
      );
      // All bad, and empty: still 201 with the counts.
      const allBad = await acme.post(`${CONTACTS}/batch`, { merge: 0, contacts: bad });
      expectStatus(allBad, 201, 'all bad');
      assert.deepEqual([allBad.json().succeeded, allBad.json().failed], [0, bad.length]);
      const empty = await acme.post(`${CONTACTS}/batch`, { merge: 0, contacts: [] });
      expectStatus(empty, 201, 'empty batch');
      assert.deepEqual(empty.json(), { succeeded: 0, failed: 0, errors: [] });
    });

    test(`bodies over the limit (${BODY_LIMIT} bytes) are 413 with a reason, and write nothing`, async () => {
      const before = await readAll();
      const many = Array.from({ length: 600 }, (_, i) =>
        contactBody({ first: `Завеликий${i}`, phones: [`+3804455${String(i).padStart(5, '0')}`] }),
      );
      const bigBatch = JSON.stringify({ merge: 0, contacts: many });
      assert.ok(Buffer.byteLength(bigBatch) > BODY_LIMIT);
      const huge = 'я'.repeat(BODY_LIMIT);
      const cases: [string, string, string][] = [
        ['POST', `${CONTACTS}/batch`, bigBatch],
        ['POST', `${CONTACTS}/`, JSON.stringify({ id: contactId, firstName: huge })],
        ['POST', `${CONTACTS}/${contactId}/notes`, JSON.stringify({ content: huge })],
        ['PUT', `${CONTACTS}/${contactId}/notes`, JSON.stringify({ id: noteId, content: huge })],
        ['POST', '/rest/security/authorize', JSON.stringify({ domain: acme.domain, apiKey: huge })],
        ['POST', '/api/v1/employees', JSON.stringify({ displayName: huge, ext: '555' })],
        ['PATCH', '/api/v1/account', JSON.stringify({ name: huge })],
      ];
      for (const [method, path, raw] of cases)
        expectError(await send(method, path, { raw }), 413, `${method} ${path}`);
      // Without a Content-Length (chunked), the limit still holds.
      expectError(
        await chunked(server.baseUrl, `${CONTACTS}/batch`, {
          host: acme.host,
          cookie: acme.cookie,
          body: bigBatch,
        }),
        413,
        'chunked batch',
      );
      // Just under the limit is fine.
      const fits = JSON.stringify({ content: 'я'.repeat(20_000) });
      assert.ok(Buffer.byteLength(fits) < BODY_LIMIT);
      const n = await acme.post(`${CONTACTS}/${contactId}/notes`, undefined, { raw: fits });
      expectStatus(n, 200, 'a body under the limit');
      expectStatus(await acme.delete(`${CONTACTS}/${contactId}/notes/${n.json().id}`), 200, 'cleanup');
      assert.equal(await readAll(), before, 'nothing was written');
    });

    test('invalid cookies and API keys are 403 with a reason on every endpoint', async () => {
      const endpoints: [string, string, unknown?][] = [
        ['GET', '/rest/users'],
        ['GET', '/rest/user/status'],
        ['GET', `${CONTACTS}/`],
        ['POST', `${CONTACTS}/`, { id: contactId, firstName: 'x' }],
        ['GET', `${CONTACTS}/${contactId}`],
        ['DELETE', `${CONTACTS}/${contactId}`],
        ['GET', `${CONTACTS}/searchByOLNum?otherLegNum=%2B380441110001`],
        ['POST', `${CONTACTS}/batch`, { merge: 0, contacts: [contactBody({ first: 'Без сесії' })] }],
        ['GET', `${CONTACTS}/${contactId}/notes`],
        ['POST', `${CONTACTS}/${contactId}/notes`, { content: 'x' }],
        ['PUT', `${CONTACTS}/${contactId}/notes`, { id: noteId, content: 'x' }],
        ['DELETE', `${CONTACTS}/${contactId}/notes/${noteId}`],
        ['GET', '/api/v1/account'],
        ['PATCH', '/api/v1/account', { name: 'x' }],
        ['POST', '/api/v1/account/rotate-key'],
      ];
      for (const res of ADMIN_RESOURCES) {
        endpoints.push(
          ['GET', `/api/v1/${res}`],
          ['GET', `/api/v1/${res}/${adminIds[res]}`],
          ['DELETE', `/api/v1/${res}/${adminIds[res]}`],
        );
      }
      const cookies = [
        '',
        'JSESSIONID=',
        'JSESSIONID',
        'JSESSIONID=short',
        `JSESSIONID=${'A'.repeat(32)}`,
        `JSESSIONID=${'z'.repeat(300)}`,
        'JSESSIONID=%00%01%02',
        'JSESSIONID="unterminated',
        `JSESSIONID=${acme.cookie.slice('JSESSIONID='.length).toLowerCase()}x`,
        `jsessionid=${acme.cookie.slice('JSESSIONID='.length)}`,
        ';;;==;',
      ];
      const before = await readAll();
      for (const [method, path, body] of endpoints) {
        for (const cookie of cookies) {
          const r = await server.request(method, path, {
            host: acme.host,
            headers: cookie ? { cookie } : {},
            body,
          });
          expectError(r, 403, `${method} ${path} with cookie '${cookie.slice(0, 40)}'`);
        }
        if (path.startsWith('/api/')) {
          for (const authorization of [
            'Bearer',
            'Bearer ',
            `Bearer ${acme.apiKey}x`,
            `Bearer ${'k'.repeat(600)}`,
            'Basic YTpi',
            `Bearer ${acme.apiKey} extra`,
          ]) {
            const r = await server.request(method, path, {
              host: acme.host,
              headers: { authorization },
              body,
            });
            expectError(r, 403, `${method} ${path} with authorization '${authorization.slice(0, 40)}'`);
          }
        }
      }
      assert.equal(await readAll(), before, 'nothing was written');
    });

    test('an oversized request line or header is refused with a plain-text reason too', async () => {
      // Node's default header limit is 16 KiB; what the client gets must still be plain text.
      const c = collector();
      const cases: [string, Promise<Response>][] = [
        ['long query', acme.get(`${CONTACTS}/?searchText=${'x'.repeat(20_000)}`)],
        ['long cookie', acme.get('/rest/users', { cookie: `JSESSIONID=${'x'.repeat(20_000)}` })],
        ['long path id', acme.get(`${CONTACTS}/${'9'.repeat(20_000)}`)],
      ];
      for (const [label, req] of cases) {
        const r = await req;
        c.check(() => expectError(r, [400, 414, 431], label));
      }
      c.done();
    });

    test('unknown paths and methods are a plain-text 404/405', async () => {
      for (const [method, path] of [
        ['GET', '/rest/nope'],
        ['PATCH', '/rest/users'],
        ['PUT', `${CONTACTS}/`],
        ['GET', `${CONTACTS}/${contactId}/notes/${noteId}`],
        ['POST', `${CONTACTS}/${contactId}`],
      ]) {
        expectError(await acme.call(method, path), [404, 405], `${method} ${path}`);
      }
    });

    describe('property-based sweep of the contacts endpoints: status < 500 for anything', () => {
      let fuzz: Session;
      let fuzzContacts: number[];
      let fuzzNote: number;
      const RUNS = 300;
      before(async () => {
        // Its own account, so random deletes and updates cannot disturb the tests above.
        fuzz = await server.account('fuzz.localhost');
        fuzzContacts = await createContacts(fuzz, [
          contactBody({ first: 'Фаз', phones: ['+380445550000'], email: 'fuzz@example.com' }),
          contactBody({ first: 'Фаз2', phones: ['+380445550001'], company: 'Fuzz' }),
        ]);
        fuzzNote = (await fuzz.post(`${CONTACTS}/${fuzzContacts[0]}/notes`, { content: 'fuzz' })).json().id;
      });

      // Scalars a client might send where anything is expected.
      const scalar = fc.oneof(
        fc.string({ maxLength: 20 }),
        fc.string({ unit: 'grapheme', maxLength: 12 }),
        fc.integer(),
        fc.integer({ min: -2, max: 70 }),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.constantFrom(
          '',
          ' ',
          '0',
          '-1',
          '61',
          '1e3',
          '1.5',
          'null',
          '[]',
          '{}',
          '%',
          '%00',
          '+380445550000',
          '0445550000',
          '99999999999999999999',
          'Имя',
          'Телефон',
        ),
      );
      const anyValue = fc.oneof(
        { weight: 4, arbitrary: scalar },
        { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
        { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 3 }) },
      );
      const queryKey = fc.oneof(
        fc.constantFrom(
          'limit',
          'offset',
          'field',
          'field[]',
          'field[0]',
          'searchText',
          'searchNoteText',
          'filterBy',
          'from',
          'to',
          'otherLegNum',
        ),
        fc.string({ maxLength: 8 }),
      );
      const queryString = fc.oneof(
        fc
          .array(fc.tuple(queryKey, scalar), { maxLength: 6 })
          .map((pairs) =>
            pairs
              .map(
                ([k, v]) =>
                  `${encodeURIComponent(k).replace('%5B', '[').replace('%5D', ']')}=${encodeURIComponent(String(v))}`,
              )
              .join('&'),
          ),
        // Raw text: malformed escapes, stray &, =, brackets.
        fc.string({
          unit: fc.constantFrom('a', '1', '=', '&', '%', '[', ']', '+', '-', ';', 'Я', 'z', '0', '.'),
          maxLength: 30,
        }),
      );
      const fieldValue = fc.record(
        { id: anyValue, enumValueCode: anyValue, value: anyValue, lastModified: anyValue },
        { requiredKeys: [] },
      );
      const field = fc.record(
        {
          id: anyValue,
          enumCode: fc.oneof(
            fc.constantFrom('Имя', 'Фамилия', 'Телефон', 'Email', 'Компания', 'Категория', 'Своє поле', ''),
            anyValue,
          ),
          values: fc.oneof(
            { weight: 3, arbitrary: fc.array(fieldValue, { maxLength: 3 }) },
            { weight: 1, arbitrary: anyValue },
          ),
        },
        { requiredKeys: [] },
      );
      const text = fc.string({ unit: 'grapheme', maxLength: 12 });
      const contact = (ids: () => number[]) =>
        fc.oneof(
          // Anything in the contact's shape.
          fc.record(
            {
              id: fc.oneof(
                anyValue,
                fc.constantFrom(0, UNKNOWN_ID),
                fc.nat(1).map((i) => ids()[i]),
              ),
              firstName: anyValue,
              lastName: anyValue,
              companyTitle: anyValue,
              responsibleUserId: anyValue,
              lastModified: anyValue,
              dateCreate: anyValue,
              fields: fc.oneof(
                { weight: 3, arbitrary: fc.array(field, { maxLength: 4 }) },
                { weight: 1, arbitrary: anyValue },
              ),
            },
            { requiredKeys: [] },
          ),
          // A plausible contact of this account, so the sweep reaches the write path too.
          fc.record(
            {
              id: fc.nat(1).map((i) => ids()[i]),
              firstName: fc.option(text),
              fields: fc.array(
                fc.record({
                  enumCode: fc.constantFrom('Своє поле', 'Категория', 'Note'),
                  values: fc.array(fc.record({ value: text }), { maxLength: 1 }),
                }),
                { maxLength: 3 },
              ),
            },
            { requiredKeys: ['id'] },
          ),
        );
      const note = fc.oneof(
        fc.record(
          {
            id: fc.oneof(
              anyValue,
              fc.constant(0).map(() => fuzzNote),
            ),
            content: anyValue,
            noteType: anyValue,
            elementType: anyValue,
            responsibleUserId: anyValue,
            otherLegNum: anyValue,
            uuid: anyValue,
            end: anyValue,
            billSec: anyValue,
            tag: anyValue,
            dateCreate: anyValue,
          },
          { requiredKeys: [] },
        ),
        fc.record(
          {
            id: fc.constant(0).map(() => fuzzNote),
            content: text.map((t) => `n ${t}`),
            noteType: fc.integer({ min: 0, max: 5 }),
            otherLegNum: fc.constantFrom('+380445550000', '001', ''),
            tag: fc.option(text),
          },
          { requiredKeys: ['content'] },
        ),
      );
      /** A body: mostly shaped like the endpoint's, sometimes any JSON, sometimes raw text. */
      const body = (shaped: fc.Arbitrary<unknown>) =>
        fc.oneof(
          { weight: 6, arbitrary: shaped.map((v) => JSON.stringify(v)) },
          { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
          { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
          { weight: 1, arbitrary: shaped.map((v) => JSON.stringify(v).slice(0, -1)) },
        );
      const idSegment = fc.oneof(
        fc.nat(1).map((i) => String(fuzzContacts[i])),
        fc.integer({ min: -5, max: 2_000_000 }).map(String),
        fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s) || 'x'),
        fc.constantFrom('0', '99999999999999999999', '1e3', '0x1', '%2e', '..', '-0'),
      );

      /**
       * Runs `RUNS` random requests; every answer must be sane. Returns how many answers were
       * 2xx and 4xx, so a sweep can show it reached the handlers and not only the validators.
       */
      async function sweep(label: string, arb: fc.Arbitrary<() => Promise<Response>>) {
        const seen = { ok: 0, clientError: 0 };
        await fc.assert(
          fc.asyncProperty(arb, async (run) => {
            const r = await run();
            expectSane(r, label);
            if (r.status < 300) seen.ok++;
            else seen.clientError++;
          }),
          { numRuns: RUNS },
        );
        return seen;
      }
      const reachedBoth = (seen: { ok: number; clientError: number }, label: string) => {
        assert.ok(seen.ok > 0, `${label}: no random request succeeded (${JSON.stringify(seen)})`);
        assert.ok(seen.clientError > 0, `${label}: no random request was refused (${JSON.stringify(seen)})`);
      };

      test('GET /rest/crm/contacts/v2/ with random query strings', async () => {
        reachedBoth(
          await sweep(
            'list',
            queryString.map((qs) => () => fuzz.get(`${CONTACTS}/?${qs}`)),
          ),
          'list',
        );
      });

      test('GET /rest/crm/contacts/v2/searchByOLNum with random query strings', async () => {
        const numbers = fc.oneof(scalar, fc.constantFrom('+380445550000', '0445550000', '380445550000'));
        const seen = await sweep(
          'searchByOLNum',
          fc.tuple(numbers, queryString).map(
            ([num, qs]) =>
              () =>
                fuzz.get(`${CONTACTS}/searchByOLNum?otherLegNum=${encodeURIComponent(String(num))}&${qs}`),
          ),
        );
        reachedBoth(seen, 'searchByOLNum');
      });

      test('POST /rest/crm/contacts/v2/ (update) with random bodies', async () => {
        const seen = await sweep(
          'update',
          body(contact(() => fuzzContacts)).map((raw) => () => fuzz.call('POST', `${CONTACTS}/`, { raw })),
        );
        reachedBoth(seen, 'update');
      });

      test('POST /rest/crm/contacts/v2/batch with random bodies', async () => {
        const batch = fc.record(
          {
            merge: fc.oneof(fc.constantFrom(0, 1, true, false), anyValue),
            contacts: fc.oneof(
              {
                weight: 4,
                arbitrary: fc.array(
                  contact(() => fuzzContacts),
                  { maxLength: 4 },
                ),
              },
              { weight: 1, arbitrary: anyValue },
            ),
          },
          { requiredKeys: [] },
        );
        const seen = await sweep(
          'batch',
          body(batch).map((raw) => () => fuzz.call('POST', `${CONTACTS}/batch`, { raw })),
        );
        reachedBoth(seen, 'batch');
      });

      test('GET, POST, PUT and DELETE of notes with random ids and bodies', async () => {
        const seen = await sweep(
          'notes',
          fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), idSegment, idSegment, body(note)).map(
            ([m, id, nid, raw]) =>
              () =>
                m === 'DELETE'
                  ? fuzz.call(m, `${CONTACTS}/${id}/notes/${nid}`)
                  : fuzz.call(m, `${CONTACTS}/${id}/notes`, m === 'GET' ? {} : { raw }),
          ),
        );
        reachedBoth(seen, 'notes');
      });

      // Last: its random DELETEs remove the contacts the sweeps above work on.
      test('GET and DELETE /rest/crm/contacts/v2/{id} with random ids', async () => {
        await sweep(
          'by id',
          fc.tuple(fc.constantFrom('GET', 'DELETE', 'GET'), idSegment).map(
            ([m, id]) =>
              () =>
                fuzz.call(m, `${CONTACTS}/${id}`),
          ),
        );
      });
    });
  });
}
