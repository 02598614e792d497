// Contract tests from the document's own examples (packages/protocol/src/fixtures): the server's
// answers have exactly the documented key sets (plus Dzvin's documented additions), times are
// milliseconds, the document's request examples work when sent as they are, and /openapi.json
// lists every path. The schema-only half is packages/protocol/test/fixtures.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Contact, ContactList, Note, NoteList, parseDirections, UserList, UserStatus } from '@dzvin/protocol';
import {
  authorizeRequestExample,
  batchRequestExample,
  batchResponseExample,
  contactExample,
  contactListItemExample,
  DOCUMENT_GAPS,
  noteExample,
  updateRequestExample,
  userStatusResponseExample,
  usersResponseExample,
} from '@dzvin/protocol/fixtures';
import { Compile } from 'typebox/compile';
import { parseQuery } from '../src/http/parsing.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import {
  contactBody,
  createContacts,
  type Response,
  type Session,
  startServer,
  type TestServer,
} from './support/harness.ts';

const CONTACTS = '/rest/crm/contacts/v2';
const keys = (o: object) => Object.keys(o).sort();
const clone = <T>(v: T): T => structuredClone(v);

// biome-ignore lint/suspicious/noExplicitAny: any schema
function valid(schema: any, value: unknown, label: string) {
  const v = Compile(schema);
  const errors = v.Check(value)
    ? []
    : [...v.Errors(value)].map((e) => `${e.instancePath || '/'} ${e.message}`);
  assert.deepEqual(errors, [], `${label} does not match the protocol schema`);
}

function isMs(t: unknown, label: string) {
  assert.equal(typeof t, 'number', `${label} is a number`);
  assert.match(String(t), /^\d{13}$/, `${label} = ${t} is 13-digit milliseconds (spec #1)`);
}

function expectJson(r: Response, status: number, label: string) {
  assert.equal(r.status, status, `${label}: ${r.status} ${r.text}`);
  assert.match(String(r.headers['content-type']), /^application\/json/, label);
}

/** A contact has exactly the documented keys, at every level, and millisecond times. */
function assertContactShape(c: Record<string, unknown>, topKeys: string[], label: string) {
  assert.deepEqual(keys(c), topKeys, `${label}: contact keys`);
  isMs(c.lastModified, `${label}.lastModified`);
  isMs(c.dateCreate, `${label}.dateCreate`);
  const docField = contactExample.fields[0];
  const docValue = docField.values[0];
  const fields = c.fields as Array<Record<string, unknown> & { values: Record<string, unknown>[] }>;
  assert.ok(fields.length > 0, `${label} has fields`);
  for (const f of fields) {
    assert.deepEqual(keys(f), keys(docField), `${label}: field keys`);
    for (const v of f.values) {
      assert.deepEqual(keys(v), keys(docValue), `${label}: value keys`);
      isMs(v.lastModified, `${label}: value lastModified`);
    }
  }
}

for (const dialect of DIALECTS) {
  describe(`contract: the document's examples against the server [${dialect}]`, {
    skip: dialectSkipReason(dialect),
  }, () => {
    let server: TestServer;
    let acme: Session;
    let ownerId: number;
    before(async () => {
      server = await startServer(dialect);
      acme = await server.account('contract.localhost');
      ownerId = (await acme.admin('GET', '/api/v1/account')).json().apiUserId;
      const second = await acme.admin('POST', '/api/v1/employees', {
        displayName: 'Юрий Юрьев',
        ext: '990',
        email: 'yuriy@contract.localhost',
      });
      assert.equal(second.status, 201, second.text);
    });
    after(() => server.close());

    test('POST /rest/security/authorize with the documented body answers 200 and the documented cookie', async () => {
      const body = { ...clone(authorizeRequestExample), domain: acme.domain, apiKey: acme.apiKey };
      assert.deepEqual(keys(body), keys(authorizeRequestExample));
      const r = await server.request('POST', '/rest/security/authorize', {
        host: acme.host,
        headers: { 'content-type': 'application/json' },
        raw: JSON.stringify(body),
      });
      assert.equal(r.status, 200, r.text);
      assert.match(String(r.headers['set-cookie']?.[0]), /^JSESSIONID=[^;]+; Path=\/; HttpOnly$/);
    });

    test('GET /rest/users answers the documented keys for every user', async () => {
      const r = await acme.get('/rest/users');
      expectJson(r, 200, 'users');
      const users = r.json();
      valid(UserList, users, 'GET /rest/users');
      assert.equal(users.length, 2);
      for (const u of users) assert.deepEqual(keys(u), keys(usersResponseExample[0]));
      const yuriy = users.find((u: { ext: string }) => u.ext === '990');
      assert.equal(yuriy.displayName, 'Юрий Юрьев');
      assert.equal(typeof yuriy.id, 'number');
    });

    test('GET /rest/user/status answers the documented keys', async () => {
      const r = await acme.get('/rest/user/status');
      expectJson(r, 200, 'status');
      valid(UserStatus, r.json(), 'GET /rest/user/status');
      assert.deepEqual(keys(r.json()), keys(userStatusResponseExample));
      assert.equal(r.json().status, 0, 'the owner employee is monitored and online');
    });

    test('GET /rest/crm/contacts/v2/{id} answers exactly the keys of the documented example', async () => {
      // The document's example contact: company and category only, no names.
      const [id] = await createContacts(acme, [
        {
          fields: contactExample.fields.map((f) => ({
            enumCode: f.enumCode,
            values: f.values.map((v) => ({ enumValueCode: v.enumValueCode, value: v.value })),
          })),
        } as ReturnType<typeof contactBody>,
      ]);
      const r = await acme.get(`${CONTACTS}/${id}`);
      expectJson(r, 200, 'contact');
      const c = r.json();
      valid(Contact, c, `GET ${CONTACTS}/${id}`);
      assertContactShape(c, keys(contactExample), 'GET /{id}');
      assert.equal(c.id, id);
      assert.equal(c.firstName, null, 'absent names are null, not missing (spec #3)');
      assert.equal(c.lastName, null);
      assert.equal(c.companyTitle, 'Phonet');
      assert.deepEqual(
        c.fields.map((f: { enumCode: string; values: { value: string }[] }) => [
          f.enumCode,
          f.values.map((v) => v.value),
        ]),
        contactExample.fields.map((f) => [f.enumCode, f.values.map((v) => v.value)]),
      );
    });

    test('the contact list and searchByOLNum answer arrays of contacts with every key (the example lacks the names)', async () => {
      const example = contactListItemExample;
      await createContacts(acme, [
        {
          fields: example.fields.map((f) => ({
            enumCode: f.enumCode,
            values: f.values.map((v) => ({ enumValueCode: v.enumValueCode, value: v.value })),
          })),
        } as ReturnType<typeof contactBody>,
      ]);
      // Dzvin's list item = the document's list item + the keys the document's example lacks
      // (firstName, lastName: every key present, spec #3) = the single-contact example's keys.
      const expected = [...keys(example), ...DOCUMENT_GAPS.contactListItem].sort();
      assert.deepEqual(expected, keys(contactExample));
      const list = await acme.get(`${CONTACTS}/?searchText=${encodeURIComponent('Александр')}`);
      expectJson(list, 200, 'list');
      valid(ContactList, list.json(), 'GET list');
      assert.equal(list.json().length, 1, 'spec #10: an array');
      const item = list.json()[0];
      assertContactShape(item, expected, 'list item');
      assert.equal(item.firstName, 'Александр');
      assert.equal(item.companyTitle, 'Online company');

      const byNum = await acme.get(
        `${CONTACTS}/searchByOLNum?otherLegNum=${encodeURIComponent('+380440000000')}`,
      );
      expectJson(byNum, 200, 'searchByOLNum');
      valid(ContactList, byNum.json(), 'searchByOLNum');
      assert.equal(byNum.json().length, 1);
      assertContactShape(byNum.json()[0], expected, 'searchByOLNum item');
      assert.equal(byNum.json()[0].id, item.id);
    });

    test('the documented update request, with ids of this account, answers 1 and is applied', async () => {
      const [id] = await createContacts(acme, [
        contactBody({ first: 'Іван', last: 'Старий', phones: ['+380501112233'] }),
      ]);
      // The example's ids name records of Phonet's own demo account; ours replace them. The
      // example's field/value ids do not exist here, so those get fresh ids. Everything else is
      // sent as the document shows it, including the server-maintained keys.
      const body = { ...clone(updateRequestExample), id, responsibleUserId: ownerId };
      const r = await acme.post(`${CONTACTS}/`, body);
      expectJson(r, 200, 'update');
      assert.equal(r.text, '1', 'the documented success body');
      const c = (await acme.get(`${CONTACTS}/${id}`)).json();
      assertContactShape(c, keys(contactExample), 'updated');
      assert.equal(c.firstName, 'Петр');
      assert.equal(c.lastName, 'Петров');
      assert.equal(c.responsibleUserId, ownerId);
      assert.deepEqual(
        c.fields.map((f: { enumCode: string }) => f.enumCode),
        ['Имя', 'Фамилия'],
        'the update replaces the fields (no phone any more)',
      );
      assert.notEqual(c.dateCreate, updateRequestExample.dateCreate, 'dateCreate is server-maintained');
      assert.notEqual(c.createUserId, updateRequestExample.createUserId, 'createUserId is server-maintained');
      assert.equal(c.createUserId, ownerId);
    });

    test('the documented update request sent verbatim names a contact this account lacks: 404 with a reason', async () => {
      const r = await acme.post(`${CONTACTS}/`, clone(updateRequestExample));
      // Contact 7068 does not exist in this account: 404 for an unknown id (spec #6).
      assert.equal(r.status, 404, r.text);
      assert.match(String(r.headers['content-type']), /^text\/plain; charset=utf-8/);
      assert.ok(r.text.trim().length > 0);
    });

    test('the documented batch request answers 201 with the documented keys (+ errors) and merges', async () => {
      const [id] = await createContacts(acme, [contactBody({ first: 'Марія', phones: ['+380671234567'] })]);
      const body = clone(batchRequestExample);
      body.contacts[0].id = id;
      body.contacts[0].responsibleUserId = ownerId;
      const r = await acme.post(`${CONTACTS}/batch`, body);
      expectJson(r, 201, 'batch');
      const result = r.json();
      assert.deepEqual(keys(result), [...keys(batchResponseExample), ...DOCUMENT_GAPS.batchResponse].sort());
      assert.deepEqual(result, { ...batchResponseExample, errors: [] });
      const c = (await acme.get(`${CONTACTS}/${id}`)).json();
      assert.deepEqual(
        c.fields.map((f: { enumCode: string; values: { value: string }[] }) => [
          f.enumCode,
          f.values.map((v) => v.value),
        ]),
        [
          ['Имя', ['Марія']],
          ['Телефон', ['+380671234567']],
          ['Категория', ['EMPL']],
        ],
        'merge: 1 adds the category and keeps what was there',
      );
      assertContactShape(c, keys(contactExample), 'merged');
    });

    test('the documented batch request sent verbatim counts its unknown contact as failed, with a reason', async () => {
      const r = await acme.post(`${CONTACTS}/batch`, clone(batchRequestExample));
      expectJson(r, 201, 'batch verbatim');
      const result = r.json();
      assert.deepEqual(keys(result), ['errors', 'failed', 'succeeded']);
      assert.equal(result.succeeded, 0);
      assert.equal(result.failed, 1);
      assert.equal(result.errors.length, 1);
      assert.equal(result.errors[0].index, 0);
      assert.ok(result.errors[0].reason.length > 0);
    });

    test('the documented note, sent as the document shows it, is saved and answered with its ids', async () => {
      const [id] = await createContacts(acme, [contactBody({ first: 'Нотатка', phones: ['+380931112233'] })]);
      // Verbatim: the document's example is the note template with `content: null`; the document
      // lists no required field other than "a parameter is missing" (400), and every key is here.
      const r = await acme.post(`${CONTACTS}/${id}/notes`, clone(noteExample));
      expectJson(r, 200, 'POST note verbatim');
      const n = r.json();
      valid(Note, n, 'POST note answer');
      assert.deepEqual(keys(n), keys(noteExample));
      assert.ok(n.id > 0, 'the answer carries the new id');
      assert.equal(n.elementId, id, 'elementId is the contact');
      isMs(n.dateCreate, 'note.dateCreate');
      isMs(n.lastModified, 'note.lastModified');
    });

    test('notes: POST (with content), GET, PUT and DELETE answer the documented shapes', async () => {
      const [id] = await createContacts(acme, [contactBody({ first: 'Замітки', phones: ['+380931112244'] })]);
      const post = await acme.post(`${CONTACTS}/${id}/notes`, {
        ...clone(noteExample),
        content: 'Передзвонити завтра',
      });
      expectJson(post, 200, 'POST note');
      const n = post.json();
      valid(Note, n, 'POST note answer');
      assert.deepEqual(keys(n), keys(noteExample));
      assert.ok(n.id > 0);
      assert.equal(n.elementId, id);
      assert.equal(n.content, 'Передзвонити завтра');
      isMs(n.dateCreate, 'note.dateCreate');
      isMs(n.lastModified, 'note.lastModified');

      const put = await acme.put(`${CONTACTS}/${id}/notes`, {
        ...clone(noteExample),
        id: n.id,
        content: 'Передзвонив',
      });
      expectJson(put, 200, 'PUT note');
      assert.equal(put.text, '1');

      const list = await acme.get(`${CONTACTS}/${id}/notes`);
      expectJson(list, 200, 'GET notes');
      valid(NoteList, list.json(), 'GET notes');
      assert.equal(list.json().length, 1);
      const saved = list.json()[0];
      assert.deepEqual(keys(saved), keys(noteExample));
      assert.equal(saved.id, n.id);
      assert.equal(saved.content, 'Передзвонив');
      assert.equal(saved.dateCreate, n.dateCreate, 'dateCreate is kept on update');
      isMs(saved.lastModified, 'updated note.lastModified');

      const del = await acme.delete(`${CONTACTS}/${id}/notes/${n.id}`);
      expectJson(del, 200, 'DELETE note');
      assert.equal(del.text, '1');
      assert.deepEqual((await acme.get(`${CONTACTS}/${id}/notes`)).json(), []);

      const delContact = await acme.delete(`${CONTACTS}/${id}`);
      expectJson(delContact, 200, 'DELETE contact');
      assert.equal(delContact.text, '1');
      assert.equal((await acme.get(`${CONTACTS}/${id}`)).status, 404);
    });

    test('the list folds field[]=, field[0]= and repeated field= into one filter (spec #7 parser)', async () => {
      await createContacts(acme, [
        contactBody({
          first: 'Фільтр',
          last: 'Полів',
          phones: ['+380441234567'],
          company: 'Fold Ltd',
          email: 'fold@example.com',
        }),
      ]);
      const codes = async (qs: string) => {
        const r = await acme.get(`${CONTACTS}/?searchText=${encodeURIComponent('Фільтр')}&${qs}`);
        expectJson(r, 200, qs);
        assert.equal(r.json().length, 1, qs);
        return r.json()[0].fields.map((f: { enumCode: string }) => f.enumCode);
      };
      const e = encodeURIComponent;
      const three = ['Имя', 'Телефон', 'Email'];
      // Raw brackets, as PHP's http_build_query without encoding and curl -g send them.
      assert.deepEqual(await codes(`field[]=${e('Имя')}&field[0]=${e('Телефон')}&field=Email`), three);
      // Percent-encoded brackets, as browsers and most HTTP clients send them.
      assert.deepEqual(
        await codes(`field%5B%5D=${e('Имя')}&field%5B0%5D=${e('Телефон')}&field=Email`),
        three,
      );
      assert.deepEqual(await codes(`field=${e('Имя')}&field=Email`), ['Имя', 'Email']);
      assert.deepEqual(await codes(`field=${e('Имя')}`), ['Имя'], 'a single field is a one-item filter');
      assert.equal((await codes('')).length, 5, 'no filter: every field');
    });

    test('GET /openapi.json lists every Phonet path of the contract and the admin paths', async () => {
      const r = await server.request('GET', '/openapi.json');
      expectJson(r, 200, 'openapi');
      const doc = r.json();
      // Path parameter names are the server's choice (the document says {cntId} where we say {id}).
      const norm = (p: string) => p.replace(/\{[^}]+\}/g, '{}').replace(/\/$/, '');
      const ops = new Set<string>();
      for (const [p, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>))
        for (const m of Object.keys(item)) ops.add(`${m.toUpperCase()} ${norm(p)}`);
      const phonet = [
        'POST /rest/security/authorize',
        'GET /rest/users',
        'GET /rest/user/status',
        'GET /rest/crm/contacts/v2',
        'POST /rest/crm/contacts/v2',
        'GET /rest/crm/contacts/v2/{}',
        'DELETE /rest/crm/contacts/v2/{}',
        'GET /rest/crm/contacts/v2/searchByOLNum',
        'POST /rest/crm/contacts/v2/batch',
        'GET /rest/crm/contacts/v2/{}/notes',
        'POST /rest/crm/contacts/v2/{}/notes',
        'PUT /rest/crm/contacts/v2/{}/notes',
        'DELETE /rest/crm/contacts/v2/{}/notes/{}',
      ];
      const admin = ['GET /api/v1/account', 'PATCH /api/v1/account', 'POST /api/v1/account/rotate-key'];
      for (const res of ['employees', 'groups', 'ivr', 'trunks', 'crm-connections'])
        admin.push(
          `GET /api/v1/${res}`,
          `POST /api/v1/${res}`,
          `GET /api/v1/${res}/{}`,
          `PATCH /api/v1/${res}/{}`,
          `DELETE /api/v1/${res}/{}`,
        );
      const missing = [...phonet, ...admin].filter((op) => !ops.has(op));
      assert.deepEqual(missing, [], 'operations missing from /openapi.json');
      // The documented error answers are plain text (spec #6) and sessions are declared.
      const byId = doc.paths['/rest/crm/contacts/v2/{id}'].get;
      assert.ok(byId.responses['404'].content['text/plain'], 'GET /{id} documents its plain-text 404');
      assert.deepEqual(byId.security, [{ session: [] }]);
      assert.ok(doc.components.securitySchemes.session);
    });
  });
}

describe('query parsing folds PHP-style and repeated keys the way parseDirections expects (spec #7)', () => {
  test('directions[]=2&directions[0]=4, directions=2&directions=4 and directions=2,4 all select [2, 4]', () => {
    for (const qs of [
      'directions[]=2&directions[0]=4',
      'directions%5B%5D=2&directions%5B1%5D=4',
      'directions=2&directions=4',
      'directions=2,4',
      'directions=6',
    ]) {
      const q = parseQuery(qs);
      assert.deepEqual(parseDirections(q.directions as string | string[]), [2, 4], qs);
    }
  });

  test('field[]=Имя&field[0]=Телефон&field=Email folds into one array, in order', () => {
    const q = parseQuery(
      `field[]=${encodeURIComponent('Имя')}&field[0]=${encodeURIComponent('Телефон')}&field=Email`,
    );
    assert.deepEqual(q.field, ['Имя', 'Телефон', 'Email']);
  });

  test('a key without brackets stays a string; keys are not inherited from Object.prototype', () => {
    const q = parseQuery('limit=5&toString=x&__proto__=y');
    assert.equal(q.limit, '5');
    assert.equal(q.toString, 'x');
    assert.equal(Object.getPrototypeOf(q), null);
  });
});
