import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../src/index.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import {
  contactBody,
  createContacts,
  type Session,
  startServer,
  type TestServer,
} from './support/harness.ts';

const BASE = '/rest/crm/contacts/v2';

for (const dialect of DIALECTS) {
  describe(`contacts book [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    const clock = createManualClock(Date.UTC(2026, 10, 1, 9));
    let server: TestServer;
    let s: Session;
    before(async () => {
      server = await startServer(dialect, { clock, config: { sessionIdleSec: 30 * 86400 } });
      s = await server.account('book.localhost');
    });
    after(() => server.close());

    test('batch upload creates contacts and answers 201 {succeeded, failed}', async () => {
      const r = await s.post(`${BASE}/batch`, {
        merge: 0,
        contacts: [
          contactBody({ first: 'Іван', last: 'Іванов', phones: ['+380 44 224-65-95'], company: 'Phonet' }),
        ],
      });
      assert.equal(r.status, 201);
      assert.deepEqual(r.json(), { succeeded: 1, failed: 0, errors: [] });
    });

    test('searchByOLNum finds a number in any common format (E.164 index, spec #9)', async () => {
      for (const q of [
        '+380442246595',
        '0442246595',
        '380442246595',
        '+380 44 224-65-95',
        '(044) 224 65 95',
      ]) {
        const r = await s.get(`${BASE}/searchByOLNum?otherLegNum=${encodeURIComponent(q)}`);
        assert.equal(r.status, 200, q);
        const list = r.json();
        assert.ok(Array.isArray(list), 'an array (spec #10)');
        assert.equal(list.length, 1, q);
        assert.equal(list[0].firstName, 'Іван');
      }
      const none = await s.get(`${BASE}/searchByOLNum?otherLegNum=0501112233`);
      assert.deepEqual(none.json(), []);
      const missing = await s.get(`${BASE}/searchByOLNum`);
      assert.equal(missing.status, 400);
      assert.match(missing.text, /otherLegNum/);
    });

    test('a contact has every documented key, derived names, server ids and millisecond times', async () => {
      const [found] = (await s.get(`${BASE}/searchByOLNum?otherLegNum=0442246595`)).json();
      const r = await s.get(`${BASE}/${found.id}`);
      assert.equal(r.status, 200);
      const c = r.json();
      assert.deepEqual(Object.keys(c).sort(), [
        'companyTitle',
        'createUserId',
        'dateCreate',
        'fields',
        'firstName',
        'id',
        'lastModified',
        'lastName',
        'responsibleUserId',
      ]);
      assert.equal(c.lastName, 'Іванов');
      assert.equal(c.companyTitle, 'Phonet');
      assert.equal(c.dateCreate, clock.now());
      assert.equal(c.lastModified, clock.now());
      assert.equal(c.responsibleUserId, null);
      assert.equal(typeof c.createUserId, 'number');
      const ids = c.fields.flatMap((f: { id: number; values: { id: number }[] }) => [
        f.id,
        ...f.values.map((v) => v.id),
      ]);
      assert.equal(new Set(ids).size, ids.length, 'field and value ids are unique');
      for (const f of c.fields) {
        assert.deepEqual(Object.keys(f).sort(), ['enumCode', 'id', 'values']);
        for (const v of f.values)
          assert.deepEqual(Object.keys(v).sort(), ['enumValueCode', 'id', 'lastModified', 'value']);
      }
    });

    test('update keeps the ids of fields and values it is sent, bumps lastModified, keeps dateCreate', async () => {
      const [c] = (await s.get(`${BASE}/searchByOLNum?otherLegNum=0442246595`)).json();
      await clock.advance(60_000);
      const employees = (await s.get('/rest/users')).json();
      const name = c.fields.find((f: { enumCode: string }) => f.enumCode === 'Имя');
      const phone = c.fields.find((f: { enumCode: string }) => f.enumCode === 'Телефон');
      const body = {
        ...c,
        responsibleUserId: employees[0].id,
        fields: [
          { ...name, values: [{ ...name.values[0], value: 'Петро' }] },
          phone,
          { enumCode: 'Email', values: [{ enumValueCode: 'Email рабочий', value: 'petro@example.com' }] },
        ],
      };
      const r = await s.post(`${BASE}/`, body);
      assert.equal(r.status, 200);
      assert.equal(r.text, '1');
      const after = (await s.get(`${BASE}/${c.id}`)).json();
      assert.equal(after.firstName, 'Петро');
      assert.equal(after.lastName, null, 'a field not sent is removed (update replaces fields)');
      assert.equal(after.dateCreate, c.dateCreate);
      assert.equal(after.lastModified, clock.now());
      assert.equal(after.responsibleUserId, employees[0].id);
      const after_name = after.fields.find((f: { enumCode: string }) => f.enumCode === 'Имя');
      assert.equal(after_name.id, name.id);
      assert.equal(after_name.values[0].id, name.values[0].id);
      assert.equal(after_name.values[0].lastModified, clock.now(), 'a changed value gets a new lastModified');
      const after_phone = after.fields.find((f: { enumCode: string }) => f.enumCode === 'Телефон');
      assert.deepEqual(after_phone, phone, 'an unchanged field is kept exactly, lastModified included');
      const email = after.fields.find((f: { enumCode: string }) => f.enumCode === 'Email');
      assert.ok(email.id > 0);
    });

    test('an update without fields keeps them; top-level names then set the name fields', async () => {
      const [c] = (await s.get(`${BASE}/searchByOLNum?otherLegNum=0442246595`)).json();
      assert.equal((await s.post(`${BASE}/`, { id: c.id, lastName: 'Коваль' })).status, 200);
      const after = (await s.get(`${BASE}/${c.id}`)).json();
      assert.equal(after.lastName, 'Коваль');
      assert.equal(after.firstName, c.firstName);
      assert.equal(after.fields.length, c.fields.length + 1);
    });

    test('update without id is 400, of an unknown id 404, with a bad responsibleUserId 400 and nothing changes', async () => {
      const noId = await s.post(`${BASE}/`, contactBody({ first: 'X' }));
      assert.equal(noId.status, 400);
      assert.match(noId.text, /id/);
      const unknown = await s.post(`${BASE}/`, contactBody({ id: 987654, first: 'X' }));
      assert.equal(unknown.status, 404);
      const [c] = (await s.get(`${BASE}/searchByOLNum?otherLegNum=0442246595`)).json();
      const bad = await s.post(`${BASE}/`, { ...c, responsibleUserId: 999999, fields: [] });
      assert.equal(bad.status, 400);
      assert.deepEqual((await s.get(`${BASE}/${c.id}`)).json(), c);
      const badPhone = await s.post(`${BASE}/`, {
        id: c.id,
        fields: [{ enumCode: 'Телефон', values: [{ value: 'call me' }] }],
      });
      assert.equal(badPhone.status, 400);
      assert.match(badPhone.text, /not a phone number/);
      assert.deepEqual((await s.get(`${BASE}/${c.id}`)).json(), c);
    });

    test('batch merge 1 merges into the contact with the same number; merge 0 creates a new one', async () => {
      const [c] = (await s.get(`${BASE}/searchByOLNum?otherLegNum=0442246595`)).json();
      const merged = await s.post(`${BASE}/batch`, {
        merge: 1,
        contacts: [contactBody({ phones: ['380442246595', '+380671234567'], company: 'Phonet LLC' })],
      });
      assert.deepEqual(merged.json(), { succeeded: 1, failed: 0, errors: [] });
      const after = (await s.get(`${BASE}/${c.id}`)).json();
      const phones = after.fields
        .find((f: { enumCode: string }) => f.enumCode === 'Телефон')
        .values.map((v: { value: string }) => v.value);
      assert.deepEqual(
        phones,
        ['+380 44 224-65-95', '+380671234567'],
        'the same number in another format is not added twice',
      );
      assert.equal(after.companyTitle, 'Phonet LLC', 'single-valued fields take the new value');
      assert.equal(after.firstName, 'Петро', 'fields not in the upload are kept');
      assert.equal((await s.get(`${BASE}/searchByOLNum?otherLegNum=0671234567`)).json()[0].id, c.id);

      const created = await s.post(`${BASE}/batch`, {
        merge: 0,
        contacts: [contactBody({ first: 'Двійник', phones: ['0442246595'] })],
      });
      assert.deepEqual(created.json(), { succeeded: 1, failed: 0, errors: [] });
      const both = (await s.get(`${BASE}/searchByOLNum?otherLegNum=0442246595`)).json();
      assert.equal(both.length, 2);
      assert.deepEqual(
        both.map((x: { id: number }) => x.id),
        [...both.map((x: { id: number }) => x.id)].sort((a, b) => a - b),
      );
    });

    test('batch counts each contact on its own and explains each failure', async () => {
      const r = await s.post(`${BASE}/batch`, {
        merge: 0,
        contacts: [
          contactBody({ first: 'Добрий', phones: ['0931112233'] }),
          { fields: [{ enumCode: 'Email', values: [{ value: 'not-an-email' }] }] },
          { fields: 'oops' },
          42,
          contactBody({ id: 99999999, first: 'Нема' }),
          contactBody({ first: 'Теж добрий', email: 'ok@example.com' }),
        ],
      });
      assert.equal(r.status, 201);
      const body = r.json();
      assert.equal(body.succeeded, 2);
      assert.equal(body.failed, 4);
      assert.deepEqual(
        body.errors.map((e: { index: number }) => e.index),
        [1, 2, 3, 4],
      );
      for (const e of body.errors) assert.ok(e.reason.length > 3);
      assert.equal((await s.get(`${BASE}/?searchText=${encodeURIComponent('добрий')}`)).json().length, 2);
      assert.equal((await s.get(`${BASE}/?searchText=${encodeURIComponent('нема')}`)).json().length, 0);
    });

    test('list pages with offset/limit (default 30, max 60), 200 [] past the end, 400 out of range', async () => {
      await createContacts(
        s,
        Array.from({ length: 70 }, (_, i) =>
          contactBody({
            first: `Page${String(i).padStart(2, '0')}`,
            phones: [`+38050${String(1000000 + i)}`],
          }),
        ),
      );
      const all = [];
      for (let offset = 0; ; offset += 60) {
        const page = (await s.get(`${BASE}/?limit=60&offset=${offset}`)).json();
        all.push(...page);
        if (page.length < 60) break;
      }
      const ids = all.map((c) => c.id);
      assert.equal(new Set(ids).size, ids.length);
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
        'stable order by id',
      );
      assert.equal((await s.get(`${BASE}/`)).json().length, 30);
      assert.deepEqual((await s.get(`${BASE}/?offset=100000`)).json(), []);
      assert.deepEqual((await s.get(`${BASE}/?limit=0`)).json(), []);
      for (const q of ['limit=61', 'limit=-1', 'offset=-5', 'limit=abc']) {
        const r = await s.get(`${BASE}/?${q}`);
        assert.equal(r.status, 400, q);
        assert.match(r.text, new RegExp(q.split('=')[0]), 'the reason names the parameter');
      }
    });

    test('searchText matches any field, case-insensitively, also in Cyrillic; % and _ are literal', async () => {
      const r = await s.get(`${BASE}/?limit=60&searchText=${encodeURIComponent('PAGE0')}`);
      assert.equal(r.json().length, 10);
      assert.equal(
        (await s.get(`${BASE}/?searchText=${encodeURIComponent('петро')}`)).json()[0].firstName,
        'Петро',
      );
      assert.deepEqual((await s.get(`${BASE}/?searchText=${encodeURIComponent('%')}`)).json(), []);
      assert.deepEqual((await s.get(`${BASE}/?searchText=${encodeURIComponent('Page_0')}`)).json(), []);
      assert.equal(
        (await s.get(`${BASE}/?searchText=0501000005`)).json()[0].firstName,
        'Page05',
        'numbers by digits',
      );
    });

    test('the field filter selects fields by enumCode (repeated and PHP-style keys alike)', async () => {
      const [c] = (await s.get(`${BASE}/?searchText=Page01`)).json();
      for (const q of ['field=Имя', 'field[]=Имя', 'field[0]=Имя']) {
        const [x] = (await s.get(`${BASE}/?searchText=Page01&${encodeURI(q)}`)).json();
        assert.deepEqual(
          x.fields.map((f: { enumCode: string }) => f.enumCode),
          ['Имя'],
          q,
        );
        assert.equal(x.id, c.id);
      }
      const [two] = (
        await s.get(`${BASE}/?searchText=Page01&${encodeURI('field=Имя&field=Телефон')}`)
      ).json();
      assert.deepEqual(
        two.fields.map((f: { enumCode: string }) => f.enumCode),
        ['Имя', 'Телефон'],
      );
    });

    test('filterBy 0/1 with from/to selects by creation or modification time; seconds are accepted', async () => {
      const t0 = clock.now();
      await clock.advance(3_600_000);
      const [fresh] = await createContacts(s, [contactBody({ first: 'Свіжий', phones: ['0939998877'] })]);
      const t1 = clock.now();
      const created = (await s.get(`${BASE}/?filterBy=0&from=${t1}&to=${t1 + 1}`)).json();
      assert.deepEqual(
        created.map((c: { id: number }) => c.id),
        [fresh],
      );
      const inSeconds = (
        await s.get(`${BASE}/?filterBy=0&from=${Math.floor(t1 / 1000)}&to=${Math.ceil(t1 / 1000)}`)
      ).json();
      assert.deepEqual(
        inSeconds.map((c: { id: number }) => c.id),
        [fresh],
      );
      await clock.advance(3_600_000);
      const [old] = (await s.get(`${BASE}/?searchText=Page02`)).json();
      assert.equal((await s.post(`${BASE}/`, { ...old, fields: old.fields })).status, 200);
      const modified = (await s.get(`${BASE}/?filterBy=1&from=${clock.now()}`)).json();
      assert.deepEqual(
        modified.map((c: { id: number }) => c.id),
        [old.id],
      );
      assert.ok(old.dateCreate <= t0);
      const noFilter = await s.get(`${BASE}/?from=${t1}`);
      assert.equal(noFilter.status, 400);
    });

    test('notes: create answers the note with ids, list, update answers 1, delete answers 1; searchNoteText finds the contact', async () => {
      const [c] = (await s.get(`${BASE}/?searchText=Page03`)).json();
      const created = await s.post(`${BASE}/${c.id}/notes`, {
        content: 'Передзвонити щодо рахунку',
        tag: 'billing',
      });
      assert.equal(created.status, 200);
      const note = created.json();
      assert.deepEqual(Object.keys(note).sort(), [
        'billSec',
        'content',
        'dateCreate',
        'elementId',
        'elementType',
        'end',
        'errorMsg',
        'id',
        'lastModified',
        'legId',
        'logicDirection',
        'noteType',
        'otherLegName',
        'otherLegNum',
        'recordLink',
        'responsibleUserId',
        'status',
        'tag',
        'trunk',
        'uuid',
      ]);
      assert.equal(note.elementId, c.id);
      assert.equal(note.dateCreate, clock.now());
      assert.equal((await s.get(`${BASE}/${c.id}/notes`)).json().length, 1);
      const found = (await s.get(`${BASE}/?searchNoteText=${encodeURIComponent('РАХУНКУ')}`)).json();
      assert.deepEqual(
        found.map((x: { id: number }) => x.id),
        [c.id],
      );

      await clock.advance(1000);
      const upd = await s.put(`${BASE}/${c.id}/notes`, { id: note.id, content: 'Рахунок оплачено' });
      assert.equal(upd.status, 200);
      assert.equal(upd.text, '1');
      const [after] = (await s.get(`${BASE}/${c.id}/notes`)).json();
      assert.equal(after.content, 'Рахунок оплачено');
      assert.equal(after.tag, 'billing', 'keys not sent are kept');
      assert.equal(after.dateCreate, note.dateCreate);
      assert.equal(after.lastModified, clock.now());

      assert.equal((await s.put(`${BASE}/${c.id}/notes`, { content: 'no id' })).status, 400);
      assert.equal((await s.put(`${BASE}/${c.id}/notes`, { id: 999999, content: 'x' })).status, 404);
      assert.equal((await s.post(`${BASE}/${c.id}/notes`, {})).status, 400);
      assert.equal((await s.post(`${BASE}/999999/notes`, { content: 'x' })).status, 404);
      assert.equal((await s.get(`${BASE}/999999/notes`)).status, 404);

      const del = await s.delete(`${BASE}/${c.id}/notes/${note.id}`);
      assert.equal(del.status, 200);
      assert.equal(del.text, '1');
      assert.equal((await s.delete(`${BASE}/${c.id}/notes/${note.id}`)).status, 404);
      assert.deepEqual((await s.get(`${BASE}/${c.id}/notes`)).json(), []);
    });

    test('delete answers 1, removes the contact, its notes and its numbers from the index', async () => {
      const [c] = (await s.get(`${BASE}/?searchText=Page04`)).json();
      await s.post(`${BASE}/${c.id}/notes`, { content: 'to be deleted' });
      const r = await s.delete(`${BASE}/${c.id}`);
      assert.equal(r.status, 200);
      assert.equal(r.text, '1');
      assert.equal((await s.get(`${BASE}/${c.id}`)).status, 404);
      assert.equal((await s.get(`${BASE}/${c.id}/notes`)).status, 404);
      assert.deepEqual((await s.get(`${BASE}/searchByOLNum?otherLegNum=0501000004`)).json(), []);
      assert.equal((await s.delete(`${BASE}/${c.id}`)).status, 404);
    });

    test('an account with another default country normalizes national numbers its own way', async () => {
      const pl = await server.account('pl.localhost', { country: 'PL' });
      await createContacts(pl, [contactBody({ first: 'Jan', phones: ['512 345 678'] })]);
      assert.equal((await pl.get(`${BASE}/searchByOLNum?otherLegNum=%2B48512345678`)).json().length, 1);
      assert.equal((await pl.get(`${BASE}/searchByOLNum?otherLegNum=512345678`)).json().length, 1);
    });
  });
}
