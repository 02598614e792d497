import type { Contact, ContactField, Note } from '@dzvin/protocol';
import { CompiledQuery, type Kysely, type Selectable, sql } from 'kysely';
import type { ContactQuery, ContactStore, NoteRow } from '../domain/ports.ts';
import { directReads } from './db.ts';
import type { ContactNotesTable, ContactsTable, Database } from './schema.ts';

/** The columns a contact is made of (not `account_id`, not the large `search_text`); none is
 * ambiguous in a join with `contact_phones`. */
const contactFields = [
  'id',
  'first_name',
  'last_name',
  'company_title',
  'last_modified',
  'responsible_user_id',
  'date_create',
  'create_user_id',
  'fields_json',
] as const;
type ContactRow = Omit<Selectable<ContactsTable>, 'account_id' | 'search_text'>;

const toContact = (r: ContactRow): Contact => ({
  id: r.id,
  firstName: r.first_name,
  lastName: r.last_name,
  companyTitle: r.company_title,
  lastModified: r.last_modified,
  responsibleUserId: r.responsible_user_id,
  dateCreate: r.date_create,
  createUserId: r.create_user_id,
  fields: JSON.parse(r.fields_json) as ContactField[],
});

/**
 * A contact row as the JSON text `toContact` + the response serializer make of it, keys in the
 * schema's order, without parsing `fields_json` (written by `contactColumns` as JSON.stringify
 * of the fields, already in the schema's shape) nor building an object to serialize again. A
 * store test checks it equals JSON.stringify(toContact(row)) on both databases.
 */
const contactJson = (r: ContactRow): string =>
  `{"id":${r.id},"firstName":${jsonText(r.first_name)},"lastName":${jsonText(r.last_name)},` +
  `"companyTitle":${jsonText(r.company_title)},"lastModified":${r.last_modified},` +
  `"responsibleUserId":${r.responsible_user_id},"dateCreate":${r.date_create},` +
  `"createUserId":${r.create_user_id},"fields":${r.fields_json}}`;
const jsonText = (s: string | null) => (s === null ? 'null' : JSON.stringify(s));

const contactColumns = (c: Omit<Contact, 'id'>, searchText: string) => ({
  first_name: c.firstName,
  last_name: c.lastName,
  company_title: c.companyTitle,
  responsible_user_id: c.responsibleUserId,
  create_user_id: c.createUserId,
  date_create: c.dateCreate,
  last_modified: c.lastModified,
  fields_json: JSON.stringify(c.fields),
  search_text: searchText,
});

const toNote = (r: Selectable<ContactNotesTable>): Note => ({
  id: r.id,
  elementId: r.contact_id,
  elementType: r.element_type,
  noteType: r.note_type,
  dateCreate: r.date_create,
  lastModified: r.last_modified,
  content: r.content,
  responsibleUserId: r.responsible_user_id,
  otherLegNum: r.other_leg_num,
  otherLegName: r.other_leg_name,
  status: r.status,
  errorMsg: r.error_msg,
  uuid: r.uuid,
  end: r.end_at,
  legId: r.leg_id,
  logicDirection: r.logic_direction,
  billSec: r.bill_sec,
  recordLink: r.record_link,
  trunk: r.trunk,
  tag: r.tag,
});

const noteColumns = (n: NoteRow, searchText: string) => ({
  element_type: n.elementType,
  note_type: n.noteType,
  date_create: n.dateCreate,
  last_modified: n.lastModified,
  content: n.content,
  search_text: searchText,
  responsible_user_id: n.responsibleUserId,
  other_leg_num: n.otherLegNum,
  other_leg_name: n.otherLegName,
  status: n.status,
  error_msg: n.errorMsg,
  uuid: n.uuid,
  end_at: n.end,
  leg_id: n.legId,
  logic_direction: n.logicDirection,
  bill_sec: n.billSec,
  record_link: n.recordLink,
  trunk: n.trunk,
  tag: n.tag,
});

/** `LIKE` pattern for "contains", with the user's % and _ taken literally. */
const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;

export function createContactStore(db: Kysely<Database>): ContactStore {
  // On SQLite, searchByOLNum reads synchronously (see DirectReads); in a transaction it cannot.
  const direct = directReads(db);
  // searchByOLNum is the hottest query (every call's lookup). One join, with LIMIT and OFFSET
  // written into the SQL as literals: with them bound as parameters SQLite's plan costs three
  // times as much (measured at 100k contacts: ≈15 µs against ≈50 µs). Both are validated
  // integers; one statement is compiled per (limit, offset) pair, which in practice is one.
  // Only the columns a contact needs are read (`search_text` is large and never returned).
  const byPhoneQueries = new Map<string, string>();
  const byPhoneSql = (limit: number, offset: number) => {
    if (!Number.isSafeInteger(limit) || !Number.isSafeInteger(offset) || limit < 0 || offset < 0)
      throw new RangeError(`limit and offset must be non-negative integers, got ${limit}, ${offset}`);
    const key = `${limit},${offset}`;
    let text = byPhoneQueries.get(key);
    if (text === undefined) {
      text = db
        .selectFrom('contact_phones as p')
        .innerJoin('contacts as c', 'c.id', 'p.contact_id')
        .select(contactFields)
        .where('p.account_id', '=', 0)
        .where('p.phone', '=', '')
        .orderBy('p.contact_id')
        .limit(sql.lit(limit))
        .offset(sql.lit(offset))
        .compile().sql;
      if (byPhoneQueries.size >= 100) byPhoneQueries.clear();
      byPhoneQueries.set(key, text);
    }
    return text;
  };
  const replacePhones = async (accountId: number, contactId: number, phones: string[]) => {
    await db.deleteFrom('contact_phones').where('contact_id', '=', contactId).execute();
    const unique = [...new Set(phones)];
    if (unique.length)
      await db
        .insertInto('contact_phones')
        .values(unique.map((phone) => ({ account_id: accountId, contact_id: contactId, phone })))
        .execute();
  };
  return {
    async get(accountId, id) {
      const r = await db
        .selectFrom('contacts')
        .select(contactFields)
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst();
      return r ? toContact(r) : null;
    },
    async list(accountId, q: ContactQuery) {
      let query = db.selectFrom('contacts').select(contactFields).where('account_id', '=', accountId);
      if (q.searchText)
        query = query.where(sql<boolean>`search_text like ${containsPattern(q.searchText)} escape '\\'`);
      if (q.searchNoteText) {
        const pattern = containsPattern(q.searchNoteText);
        query = query.where((eb) =>
          eb.exists(
            eb
              .selectFrom('contact_notes as n')
              .select('n.id')
              .whereRef('n.contact_id', '=', 'contacts.id')
              .where('n.account_id', '=', accountId)
              .where(sql<boolean>`n.search_text like ${pattern} escape '\\'`),
          ),
        );
      }
      const col = q.dateColumn === 'dateCreate' ? 'date_create' : 'last_modified';
      if (q.dateColumn && q.from !== undefined) query = query.where(col, '>=', q.from);
      if (q.dateColumn && q.to !== undefined) query = query.where(col, '<=', q.to);
      const rows = await query.orderBy('id').limit(q.limit).offset(q.offset).execute();
      return rows.map(toContact);
    },
    async byPhone(accountId, phone, offset, limit) {
      const { rows } = await db.executeQuery<ContactRow>(
        CompiledQuery.raw(byPhoneSql(limit, offset), [accountId, phone]),
      );
      return rows.map(toContact);
    },
    async byPhoneJson(accountId, phone, offset, limit) {
      const text = byPhoneSql(limit, offset);
      const params = [accountId, phone];
      const rows =
        direct?.all<ContactRow>(text, params) ??
        (await db.executeQuery<ContactRow>(CompiledQuery.raw(text, params))).rows;
      if (rows.length === 0) return '[]';
      if (rows.length === 1) return `[${contactJson(rows[0])}]`;
      return `[${rows.map(contactJson).join(',')}]`;
    },
    async idsByPhones(accountId, phones) {
      if (!phones.length) return [];
      const rows = await db
        .selectFrom('contact_phones')
        .select('contact_id')
        .distinct()
        .where('account_id', '=', accountId)
        .where('phone', 'in', phones)
        .orderBy('contact_id')
        .execute();
      return rows.map((r) => r.contact_id);
    },
    async insert(accountId, c, phones, searchText) {
      const r = await db
        .insertInto('contacts')
        .values({ account_id: accountId, ...contactColumns(c, searchText) })
        .returning('id')
        .executeTakeFirstOrThrow();
      await replacePhones(accountId, r.id, phones);
      return r.id;
    },
    async update(accountId, c, phones, searchText) {
      const r = await db
        .updateTable('contacts')
        .set(contactColumns(c, searchText))
        .where('account_id', '=', accountId)
        .where('id', '=', c.id)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      await replacePhones(accountId, c.id, phones);
      return true;
    },
    async delete(accountId, id) {
      // Explicit child deletes keep this correct whatever the foreign-key settings of the database.
      const exists = await db
        .selectFrom('contacts')
        .select('id')
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!exists) return false;
      await db
        .deleteFrom('contact_notes')
        .where('account_id', '=', accountId)
        .where('contact_id', '=', id)
        .execute();
      await db
        .deleteFrom('contact_phones')
        .where('account_id', '=', accountId)
        .where('contact_id', '=', id)
        .execute();
      await db.deleteFrom('contacts').where('account_id', '=', accountId).where('id', '=', id).execute();
      return true;
    },
    async allocateItemIds(n) {
      if (n <= 0) return [];
      const r = await db
        .updateTable('id_counters')
        .set((eb) => ({ value: eb('value', '+', n) }))
        .where('name', '=', 'contact_item')
        .returning('value')
        .executeTakeFirstOrThrow();
      const last = Number(r.value);
      return Array.from({ length: n }, (_, i) => last - n + 1 + i);
    },
    notes: {
      async list(accountId, contactId) {
        const rows = await db
          .selectFrom('contact_notes')
          .selectAll()
          .where('account_id', '=', accountId)
          .where('contact_id', '=', contactId)
          .orderBy('id')
          .execute();
        return rows.map(toNote);
      },
      async get(accountId, contactId, noteId) {
        const r = await db
          .selectFrom('contact_notes')
          .selectAll()
          .where('account_id', '=', accountId)
          .where('contact_id', '=', contactId)
          .where('id', '=', noteId)
          .executeTakeFirst();
        return r ? toNote(r) : null;
      },
      async insert(accountId, contactId, n, searchText) {
        const r = await db
          .insertInto('contact_notes')
          .values({ account_id: accountId, contact_id: contactId, ...noteColumns(n, searchText) })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toNote(r);
      },
      async update(accountId, contactId, noteId, n, searchText) {
        const r = await db
          .updateTable('contact_notes')
          .set(noteColumns(n, searchText))
          .where('account_id', '=', accountId)
          .where('contact_id', '=', contactId)
          .where('id', '=', noteId)
          .executeTakeFirst();
        return Number(r.numUpdatedRows) > 0;
      },
      async delete(accountId, contactId, noteId) {
        const r = await db
          .deleteFrom('contact_notes')
          .where('account_id', '=', accountId)
          .where('contact_id', '=', contactId)
          .where('id', '=', noteId)
          .executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      },
    },
  };
}
