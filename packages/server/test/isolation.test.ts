// Tenant isolation over every endpoint: a session (or API key) of account A never sees, changes
// or deletes anything of account B — B's ids are 404 (indistinguishable from ids that do not
// exist), A's credentials on B's Host are 403, A cannot authorize into B — and after all of A's
// attempts B's data, read through B's own session, is byte-for-byte what it was.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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
const ADMIN_RESOURCES = ['employees', 'groups', 'ivr', 'trunks', 'crm-connections'] as const;
type AdminResource = (typeof ADMIN_RESOURCES)[number];

/** Phone numbers both accounts have: a lookup by them must only ever find the caller's own. */
const SHARED_PHONES = ['+380442246595', '+380671112233'];
const B_ONLY_PHONE = '+380509998877';
const B_NOTE_WORD = 'секретнаbнотатка';

function expectError(r: Response, status: number, label: string) {
  assert.equal(r.status, status, `${label}: expected ${status}, got ${r.status} ${r.text}`);
  assert.match(
    String(r.headers['content-type']),
    /^text\/plain; charset=utf-8/,
    `${label}: plain-text error (spec #6)`,
  );
  assert.ok(r.text.trim().length > 0, `${label}: a reason`);
}

function expectOk(r: Response, status: number, label: string) {
  assert.equal(r.status, status, `${label}: expected ${status}, got ${r.status} ${r.text}`);
}

/** Bodies A would use to change B's things (valid, so only ownership stops them). */
const PATCHES: Record<AdminResource, unknown> = {
  employees: { displayName: 'Hijacked', presence: 'online' },
  groups: { name: 'Hijacked' },
  ivr: { name: 'Hijacked', greeting: 'pwned' },
  trunks: { name: 'Hijacked' },
  'crm-connections': { name: 'Hijacked', eventsUrl: 'https://evil.example/steal' },
};
const CREATES: Record<AdminResource, unknown> = {
  employees: { displayName: 'Intruder', ext: '777' },
  groups: { name: 'Intruders', ext: '778' },
  ivr: { name: 'Intruder menu' },
  trunks: { number: '+380445556677', name: 'Intruder trunk' },
  'crm-connections': { name: 'Intruder CRM', eventsUrl: 'https://evil.example/events' },
};

interface BData {
  contacts: number[];
  notes: { contactId: number; noteId: number }[];
  admin: Record<AdminResource, number[]>;
  ownerId: number;
}

for (const dialect of DIALECTS) {
  describe(`tenant isolation: account A never reaches account B [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    let server: TestServer;
    let a: Session;
    let b: Session;
    let aContact: number;
    let aNote: number;
    const bd: BData = {
      contacts: [],
      notes: [],
      admin: { employees: [], groups: [], ivr: [], trunks: [], 'crm-connections': [] },
      ownerId: 0,
    };
    /** Everything B can read, as raw response bodies, taken before A's attempts. */
    let snapshot: Map<string, string>;

    /** A's session with explicit request options (another Host, no cookie, a Bearer key...). */
    const asA = (method: string, path: string, o: RequestOptions = {}) => a.call(method, path, o);
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

    /** Reads everything of B through B's own session and key. */
    async function readB(): Promise<Map<string, string>> {
      const out = new Map<string, string>();
      const keep = async (label: string, r: Promise<Response>) => {
        const res = await r;
        assert.equal(res.status, 200, `B reading ${label}: ${res.status} ${res.text}`);
        out.set(label, res.text);
      };
      await keep('users', b.get('/rest/users'));
      await keep('status', b.get('/rest/user/status'));
      await keep('contacts', b.get(`${CONTACTS}/?limit=60`));
      for (const id of bd.contacts) {
        await keep(`contact ${id}`, b.get(`${CONTACTS}/${id}`));
        await keep(`notes ${id}`, b.get(`${CONTACTS}/${id}/notes`));
      }
      for (const p of [...SHARED_PHONES, B_ONLY_PHONE])
        await keep(`byNumber ${p}`, b.get(`${CONTACTS}/searchByOLNum?otherLegNum=${encodeURIComponent(p)}`));
      await keep('note search', b.get(`${CONTACTS}/?searchNoteText=${encodeURIComponent(B_NOTE_WORD)}`));
      await keep('account', b.admin('GET', '/api/v1/account'));
      for (const res of ADMIN_RESOURCES) {
        await keep(res, b.admin('GET', `/api/v1/${res}`));
        for (const id of bd.admin[res]) await keep(`${res} ${id}`, b.admin('GET', `/api/v1/${res}/${id}`));
      }
      return out;
    }

    before(async () => {
      server = await startServer(dialect, {
        // This suite makes many deliberate failed key checks; the rate limit has its own tests.
        config: { auth: { maxFailuresPerIp: 100_000, maxFailuresPerDomain: 100_000, failureWindowSec: 600 } },
      });
      a = await server.account('tenant-a.localhost');
      b = await server.account('tenant-b.localhost');

      // A: its own data, with the same phone numbers B has.
      [aContact] = await createContacts(a, [
        contactBody({ first: 'Андрій', last: 'Альфа', phones: [SHARED_PHONES[0]] }),
      ]);
      const an = await a.post(`${CONTACTS}/${aContact}/notes`, { content: 'нотатка A' });
      expectOk(an, 200, 'A note');
      aNote = an.json().id;
      const aEmp = await a.admin('POST', '/api/v1/employees', { displayName: 'Антон', ext: '002' });
      expectOk(aEmp, 201, 'A employee');
      expectOk(
        await a.admin('POST', '/api/v1/groups', { name: 'A sales', ext: '100', members: [aEmp.json().id] }),
        201,
        'A group',
      );

      // B: employees, a group, an IVR, a trunk, a CRM connection, contacts with notes.
      bd.ownerId = (await b.admin('GET', '/api/v1/account')).json().apiUserId;
      expectOk(
        await b.admin('PATCH', `/api/v1/employees/${bd.ownerId}`, { presence: 'offline' }),
        200,
        'B owner offline',
      );
      const boris = await b.admin('POST', '/api/v1/employees', {
        displayName: 'Борис Бета',
        ext: '002',
        email: 'boris@tenant-b.localhost',
      });
      expectOk(boris, 201, 'B employee');
      bd.admin.employees.push(bd.ownerId, boris.json().id);
      const group = await b.admin('POST', '/api/v1/groups', {
        name: 'B sales',
        ext: '100',
        strategy: 'sequential',
        members: [bd.ownerId, boris.json().id],
      });
      expectOk(group, 201, 'B group');
      bd.admin.groups.push(group.json().id);
      const ivr = await b.admin('POST', '/api/v1/ivr', {
        name: 'B menu',
        greeting: 'Вітаємо в B',
        options: [{ digit: '1', target: { type: 'group', id: group.json().id } }],
        defaultTarget: { type: 'employee', id: boris.json().id },
      });
      expectOk(ivr, 201, 'B ivr');
      bd.admin.ivr.push(ivr.json().id);
      const trunk = await b.admin('POST', '/api/v1/trunks', {
        number: '+380443334455',
        name: 'B main',
        destination: { type: 'ivr', id: ivr.json().id },
      });
      expectOk(trunk, 201, 'B trunk');
      bd.admin.trunks.push(trunk.json().id);
      const crm = await b.admin('POST', '/api/v1/crm-connections', {
        name: 'B CRM',
        callSettingsUrl: 'https://crm-b.example/lookup',
        eventsUrl: 'https://crm-b.example/events',
        priority: 5,
        secret: 'b-secret-0123456789abcdef',
      });
      expectOk(crm, 201, 'B crm');
      bd.admin['crm-connections'].push(crm.json().id);

      bd.contacts = await createContacts(b, [
        contactBody({ first: 'Богдан', last: 'Бета', phones: [...SHARED_PHONES], email: 'bohdan@b.example' }),
        contactBody({
          first: 'Віра',
          last: 'Бета',
          phones: [SHARED_PHONES[1], B_ONLY_PHONE],
          company: 'B Corp',
        }),
      ]);
      for (const [i, contactId] of [bd.contacts[0], bd.contacts[0], bd.contacts[1]].entries()) {
        const n = await b.post(`${CONTACTS}/${contactId}/notes`, {
          content: `${B_NOTE_WORD} ${i}`,
          otherLegNum: SHARED_PHONES[0],
        });
        expectOk(n, 200, 'B note');
        bd.notes.push({ contactId, noteId: n.json().id });
      }
      snapshot = await readB();
    });
    after(() => server.close());

    test('B is set up with data of every kind (the checks below are not vacuous)', () => {
      assert.equal(bd.contacts.length, 2);
      assert.equal(bd.notes.length, 3);
      for (const res of ADMIN_RESOURCES) assert.ok(bd.admin[res].length > 0, res);
      assert.equal(JSON.parse(snapshot.get('contacts') ?? '[]').length, 2);
      assert.equal(JSON.parse(snapshot.get(`byNumber ${SHARED_PHONES[0]}`) ?? '[]').length, 1);
    });

    test("A's lists never include B's users, contacts or directory entries", async () => {
      const users = (await a.get('/rest/users')).json() as { id: number; displayName: string }[];
      assert.ok(users.length >= 2);
      assert.deepEqual(
        users.filter((u) => bd.admin.employees.includes(u.id) || /Бета|tenant-b/.test(u.displayName)),
        [],
      );
      const contacts = (await a.get(`${CONTACTS}/?limit=60`)).json() as { id: number }[];
      assert.deepEqual(
        contacts.map((c) => c.id),
        [aContact],
      );
      for (const res of ADMIN_RESOURCES) {
        for (const auth of ['bearer', 'cookie'] as const) {
          const r =
            auth === 'bearer' ? await a.admin('GET', `/api/v1/${res}`) : await a.get(`/api/v1/${res}`);
          expectOk(r, 200, `A lists ${res} (${auth})`);
          const ids = (r.json() as { id: number }[]).map((x) => x.id);
          assert.deepEqual(
            ids.filter((id) => bd.admin[res].includes(id)),
            [],
            `${res} (${auth}) shows none of B's`,
          );
        }
      }
      const account = (await a.admin('GET', '/api/v1/account')).json();
      assert.equal(account.domain, 'tenant-a.localhost');
    });

    test("A's status is A's API user's, not B's", async () => {
      assert.deepEqual((await a.get('/rest/user/status')).json(), { status: 0 });
      assert.deepEqual(JSON.parse(snapshot.get('status') ?? ''), { status: 1 });
    });

    test("lookups by a number both accounts have, and text searches, find only A's contacts", async () => {
      for (const p of SHARED_PHONES) {
        const r = await a.get(`${CONTACTS}/searchByOLNum?otherLegNum=${encodeURIComponent(p)}`);
        expectOk(r, 200, `byNumber ${p}`);
        const ids = (r.json() as { id: number }[]).map((c) => c.id);
        assert.deepEqual(ids, p === SHARED_PHONES[0] ? [aContact] : [], p);
      }
      for (const p of [B_ONLY_PHONE, '0509998877', '380509998877']) {
        const r = await a.get(`${CONTACTS}/searchByOLNum?otherLegNum=${encodeURIComponent(p)}`);
        assert.deepEqual(r.json(), [], p);
      }
      for (const q of [
        'searchText=Бета',
        'searchText=Богдан',
        'searchText=bohdan',
        'searchText=509998877',
        `searchNoteText=${B_NOTE_WORD}`,
      ]) {
        const [k, v] = q.split('=');
        const r = await a.get(`${CONTACTS}/?${k}=${encodeURIComponent(v)}`);
        expectOk(r, 200, q);
        assert.deepEqual(r.json(), [], q);
      }
    });

    test("B's contact and note ids are 404 on every contact endpoint, like ids that do not exist", async () => {
      const [c1] = bd.contacts;
      const { noteId: n1 } = bd.notes[0];
      const attempts: [string, () => Promise<Response>][] = [
        ['GET /{id}', () => a.get(`${CONTACTS}/${c1}`)],
        ['DELETE /{id}', () => a.delete(`${CONTACTS}/${c1}`)],
        [
          'POST / (update)',
          () =>
            a.post(`${CONTACTS}/`, contactBody({ id: c1, first: 'Hijacked', phones: [SHARED_PHONES[0]] })),
        ],
        ['POST / (update, no fields)', () => a.post(`${CONTACTS}/`, { id: c1, firstName: 'Hijacked' })],
        ['GET /{id}/notes', () => a.get(`${CONTACTS}/${c1}/notes`)],
        ['POST /{id}/notes', () => a.post(`${CONTACTS}/${c1}/notes`, { content: 'planted by A' })],
        ['PUT /{id}/notes', () => a.put(`${CONTACTS}/${c1}/notes`, { id: n1, content: 'changed by A' })],
        ['DELETE /{id}/notes/{noteId}', () => a.delete(`${CONTACTS}/${c1}/notes/${n1}`)],
        // B's note through A's own contact.
        [
          'PUT A-contact notes with B note id',
          () => a.put(`${CONTACTS}/${aContact}/notes`, { id: n1, content: 'changed by A' }),
        ],
        ['DELETE A-contact/B-note', () => a.delete(`${CONTACTS}/${aContact}/notes/${n1}`)],
        // A's note through B's contact.
        ['DELETE B-contact/A-note', () => a.delete(`${CONTACTS}/${c1}/notes/${aNote}`)],
      ];
      for (const [label, run] of attempts) {
        const r = await run();
        expectError(r, 404, label);
        assert.doesNotMatch(r.text, /Богдан|Бета|tenant-b/, `${label}: nothing of B leaks in the reason`);
      }
      // No existence oracle: another account's id answers like an id nobody has.
      const unknown = 999_999_999;
      const mask = (s: string) => s.replaceAll(/\d+/g, 'N');
      for (const [label, path, method] of [
        ['contact', (id: number) => `${CONTACTS}/${id}`, 'GET'],
        ['notes', (id: number) => `${CONTACTS}/${id}/notes`, 'GET'],
        ['delete', (id: number) => `${CONTACTS}/${id}`, 'DELETE'],
      ] as const) {
        const theirs = await a.call(method, path(c1));
        const nobodys = await a.call(method, path(unknown));
        assert.equal(theirs.status, nobodys.status, label);
        assert.equal(mask(theirs.text), mask(nobodys.text), label);
      }
      const theirNote = await a.delete(`${CONTACTS}/${aContact}/notes/${n1}`);
      const nobodysNote = await a.delete(`${CONTACTS}/${aContact}/notes/${unknown}`);
      assert.equal(mask(theirNote.text), mask(nobodysNote.text));
    });

    test("a batch of A naming B's contact fails that contact alone and leaves B untouched", async () => {
      const [c1, c2] = bd.contacts;
      for (const merge of [0, 1]) {
        const r = await a.post(`${CONTACTS}/batch`, {
          merge,
          contacts: [
            contactBody({ first: `Добрий${merge}`, phones: [`+38063123450${merge}`] }),
            contactBody({ id: c1, first: 'Hijacked', phones: [SHARED_PHONES[0]] }),
            { id: c2, fields: [{ enumCode: 'Категория', values: [{ value: 'pwned' }] }] },
            contactBody({ first: `Чужий${merge}`, phones: [`+38063123451${merge}`] }),
          ],
        });
        expectOk(r, 201, `batch merge ${merge}`);
        const result = r.json();
        assert.equal(result.succeeded, 2, r.text);
        assert.equal(result.failed, 2, r.text);
        assert.deepEqual(
          result.errors.map((e: { index: number }) => e.index),
          [1, 2],
        );
      }
      // A's own good contacts were stored, in A.
      for (const name of ['Добрий0', 'Добрий1', 'Чужий0', 'Чужий1']) {
        const found = (await a.get(`${CONTACTS}/?searchText=${encodeURIComponent(name)}`)).json();
        assert.equal(found.length, 1, name);
      }
    });

    test('merging by phone number only ever merges into A’s own contacts', async () => {
      // A number A and B both have: merges into A's contact.
      const shared = await a.post(`${CONTACTS}/batch`, {
        merge: 1,
        contacts: [
          {
            fields: [
              { enumCode: 'Телефон', values: [{ value: SHARED_PHONES[0] }] },
              { enumCode: 'Категория', values: [{ value: 'merged-by-A' }] },
            ],
          },
        ],
      });
      expectOk(shared, 201, 'merge shared');
      assert.deepEqual(shared.json(), { succeeded: 1, failed: 0, errors: [] });
      const mine = (await a.get(`${CONTACTS}/${aContact}`)).json();
      assert.ok(
        mine.fields.some((f: { enumCode: string; values: { value: string }[] }) =>
          f.values.some((v) => v.value === 'merged-by-A'),
        ),
        "A's contact got the category",
      );
      // Numbers only B has (and the other shared one, which A lacks): A gets a new contact.
      for (const phone of [B_ONLY_PHONE, SHARED_PHONES[1]]) {
        const r = await a.post(`${CONTACTS}/batch`, {
          merge: 1,
          contacts: [
            {
              fields: [
                { enumCode: 'Телефон', values: [{ value: phone }] },
                { enumCode: 'Имя', values: [{ value: 'Злиття' }] },
              ],
            },
          ],
        });
        expectOk(r, 201, `merge ${phone}`);
        assert.deepEqual(r.json(), { succeeded: 1, failed: 0, errors: [] });
        const found = (
          await a.get(`${CONTACTS}/searchByOLNum?otherLegNum=${encodeURIComponent(phone)}`)
        ).json();
        assert.equal(found.length, 1, phone);
        assert.ok(!bd.contacts.includes(found[0].id), `${phone}: a contact of A, not B's`);
      }
    });

    test("A cannot point its own records at B's employees, groups or IVR", async () => {
      const [bOwner, boris] = bd.admin.employees;
      const [bGroup] = bd.admin.groups;
      const [bIvr] = bd.admin.ivr;
      const attempts: [string, () => Promise<Response>][] = [
        [
          'contact responsibleUserId',
          () => a.post(`${CONTACTS}/`, { id: aContact, responsibleUserId: boris }),
        ],
        [
          'note responsibleUserId',
          () => a.post(`${CONTACTS}/${aContact}/notes`, { content: 'x', responsibleUserId: boris }),
        ],
        [
          'note update responsibleUserId',
          () => a.put(`${CONTACTS}/${aContact}/notes`, { id: aNote, responsibleUserId: bOwner }),
        ],
        ['account apiUserId', () => a.admin('PATCH', '/api/v1/account', { apiUserId: boris })],
        [
          'group members',
          () => a.admin('POST', '/api/v1/groups', { name: 'G', ext: '200', members: [boris] }),
        ],
        [
          'ivr option target',
          () =>
            a.admin('POST', '/api/v1/ivr', {
              name: 'I',
              options: [{ digit: '1', target: { type: 'group', id: bGroup } }],
            }),
        ],
        [
          'ivr default target',
          () => a.admin('POST', '/api/v1/ivr', { name: 'I', defaultTarget: { type: 'employee', id: boris } }),
        ],
        [
          'trunk destination',
          () =>
            a.admin('POST', '/api/v1/trunks', {
              number: '+380445550001',
              name: 'T',
              destination: { type: 'ivr', id: bIvr },
            }),
        ],
      ];
      for (const [label, run] of attempts) expectError(await run(), 400, label);
      // The batch path checks the responsible employee too, per contact.
      const batch = await a.post(`${CONTACTS}/batch`, {
        merge: 0,
        contacts: [{ responsibleUserId: boris, firstName: 'Відповідальний' }],
      });
      expectOk(batch, 201, 'batch responsible');
      assert.equal(batch.json().failed, 1, batch.text);
      assert.equal(batch.json().succeeded, 0, batch.text);
      // Nothing of these half-made records exists in A.
      const account = (await a.admin('GET', '/api/v1/account')).json();
      assert.ok(!bd.admin.employees.includes(account.apiUserId));
      assert.equal(
        (await a.get(`${CONTACTS}/?searchText=${encodeURIComponent('Відповідальний')}`)).json().length,
        0,
      );
    });

    test("the admin API answers 404 for B's ids (GET, PATCH, DELETE; by API key and by session)", async () => {
      for (const res of ADMIN_RESOURCES) {
        for (const id of bd.admin[res]) {
          for (const auth of ['bearer', 'cookie'] as const) {
            const run = (method: string, body?: unknown) =>
              auth === 'bearer'
                ? a.admin(method, `/api/v1/${res}/${id}`, body)
                : a.call(method, `/api/v1/${res}/${id}`, { body });
            expectError(await run('GET'), 404, `GET ${res}/${id} (${auth})`);
            expectError(await run('PATCH', PATCHES[res]), 404, `PATCH ${res}/${id} (${auth})`);
            expectError(await run('DELETE'), 404, `DELETE ${res}/${id} (${auth})`);
          }
        }
      }
    });

    test("A's cookie on B's Host is 403 on every endpoint, reads and writes alike", async () => {
      const [c1] = bd.contacts;
      const { noteId: n1 } = bd.notes[0];
      const onB = { host: b.host, cookie: a.cookie };
      const calls: [string, string, unknown?][] = [
        ['GET', '/rest/users'],
        ['GET', '/rest/user/status'],
        ['GET', `${CONTACTS}/`],
        ['POST', `${CONTACTS}/`, contactBody({ id: c1, first: 'Hijacked' })],
        ['GET', `${CONTACTS}/${c1}`],
        ['DELETE', `${CONTACTS}/${c1}`],
        ['GET', `${CONTACTS}/searchByOLNum?otherLegNum=${encodeURIComponent(SHARED_PHONES[0])}`],
        [
          'POST',
          `${CONTACTS}/batch`,
          { merge: 1, contacts: [contactBody({ first: 'Planted', phones: [SHARED_PHONES[0]] })] },
        ],
        ['GET', `${CONTACTS}/${c1}/notes`],
        ['POST', `${CONTACTS}/${c1}/notes`, { content: 'planted' }],
        ['PUT', `${CONTACTS}/${c1}/notes`, { id: n1, content: 'changed' }],
        ['DELETE', `${CONTACTS}/${c1}/notes/${n1}`],
        ['GET', '/api/v1/account'],
        ['PATCH', '/api/v1/account', { name: 'Hijacked' }],
        ['POST', '/api/v1/account/rotate-key'],
      ];
      for (const res of ADMIN_RESOURCES) {
        const [id] = bd.admin[res];
        calls.push(
          ['GET', `/api/v1/${res}`],
          ['POST', `/api/v1/${res}`, CREATES[res]],
          ['GET', `/api/v1/${res}/${id}`],
          ['PATCH', `/api/v1/${res}/${id}`, PATCHES[res]],
          ['DELETE', `/api/v1/${res}/${id}`],
        );
      }
      for (const [method, path, body] of calls) {
        expectError(await asA(method, path, { ...onB, body }), 403, `cookie of A on B: ${method} ${path}`);
      }
      // A's key as Bearer on B's Host: every admin call is 403 (and A's cookie alongside does not help).
      for (const [method, path, body] of calls.filter(([, p]) => p.startsWith('/api/'))) {
        expectError(
          await server.request(method, path, { host: b.host, headers: bearer(a.apiKey), body }),
          403,
          `Bearer of A on B: ${method} ${path}`,
        );
      }
      // B's Host in any spelling a client might send is still B's.
      const port = server.port;
      for (const host of [
        `TENANT-B.LOCALHOST:${port}`,
        `tenant-b.localhost.:${port}`,
        'tenant-b.localhost',
        `Tenant-B.Localhost.`,
      ]) {
        expectError(
          await asA('GET', `${CONTACTS}/${c1}`, { host, cookie: a.cookie }),
          403,
          `cookie of A on ${host}`,
        );
        expectError(
          await asA('DELETE', `${CONTACTS}/${c1}`, { host, cookie: a.cookie }),
          403,
          `cookie of A on ${host}`,
        );
        expectError(
          await server.request('GET', `/api/v1/employees/${bd.ownerId}`, { host, headers: bearer(a.apiKey) }),
          403,
          `Bearer of A on ${host}`,
        );
      }
      // A's session still works on its own Host.
      expectOk(await a.get('/rest/users'), 200, 'A on A');
    });

    test('A cannot authorize into B: B domain + A key is 403 from any Host, and gives no cookie', async () => {
      const hosts = [b.host, a.host, `127.0.0.1:${server.port}`, `localhost:${server.port}`];
      for (const host of hosts) {
        const r = await server.request('POST', '/rest/security/authorize', {
          host,
          body: { domain: b.domain, apiKey: a.apiKey },
        });
        expectError(r, 403, `authorize B with A's key on ${host}`);
        assert.equal(r.headers['set-cookie'], undefined);
      }
      // A's domain and key, sent to B's Host: refused (spec #4), not a session of A valid on B.
      const r = await server.request('POST', '/rest/security/authorize', {
        host: b.host,
        body: { domain: a.domain, apiKey: a.apiKey },
      });
      expectError(r, 403, "A's credentials on B's Host");
      assert.equal(r.headers['set-cookie'], undefined);
      // The form-encoded variant is refused the same way.
      const form = await server.request('POST', '/rest/security/authorize', {
        host: b.host,
        raw: `domain=${b.domain}&apiKey=${a.apiKey}`,
        contentType: 'application/x-www-form-urlencoded',
      });
      expectError(form, 403, 'form-encoded B domain + A key');
    });

    test("after all of A's attempts B's data is byte-for-byte unchanged and B's key and session still work", async () => {
      const now = await readB();
      assert.deepEqual([...now.keys()], [...snapshot.keys()]);
      for (const [label, text] of snapshot) assert.equal(now.get(label), text, `B's ${label} changed`);
      assert.equal((await b.authorize()).status, 200, "B's key was not rotated");
      expectOk(await b.get('/rest/users'), 200, 'B session');
    });
  });
}
