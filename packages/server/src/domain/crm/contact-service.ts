import {
  type BatchResult,
  CONTACTS_DEFAULT_LIMIT,
  type Contact,
  type ContactFieldKind,
  ContactInput,
  type ContactListQuery,
  type Note,
  type NoteInput,
  type One,
} from '@dzvin/protocol';
import { Compile } from 'typebox/compile';
import type { Clock } from '../clock.ts';
import { badInput, DomainError } from '../errors.ts';
import { normalizePhone } from '../phone.ts';
import type { AccountRecord, NoteRow, Store } from '../ports.ts';
import { buildContact, fieldKind } from './contact-fields.ts';

const contactInputValidator = Compile(ContactInput);

/** Validates one contact of a batch on its own (so the others still count). */
function parseContactInput(raw: unknown): ContactInput {
  if (contactInputValidator.Check(raw)) return raw;
  const [first] = contactInputValidator.Errors(raw);
  const where = first?.instancePath ? first.instancePath.replace(/^\//, '').replaceAll('/', '.') : 'contact';
  throw badInput(`${where}: ${first?.message ?? 'is not a valid contact'}`);
}

/** Document times are milliseconds; a value below 1e12 is taken as seconds (spec #1). */
export const toMs = (t: number) => (t < 1e12 ? t * 1000 : t);

const noteSearchText = (n: Pick<Note, 'content' | 'otherLegNum' | 'otherLegName' | 'tag'>) =>
  [n.content, n.otherLegNum, n.otherLegName, n.tag].filter(Boolean).join('\n').toLowerCase();

/** The built-in contacts book ("CRM Teler") with notes. */
export function createContactService(deps: { store: Store; clock: Clock }) {
  const { store, clock } = deps;

  async function need(tx: Store, a: AccountRecord, id: number): Promise<Contact> {
    const c = await tx.contacts.get(a.id, id);
    if (!c) throw new DomainError('CONTACT_NOT_FOUND', `Contact ${id} not found`);
    return c;
  }

  async function checkResponsible(
    tx: Store,
    a: AccountRecord,
    id: number | null | undefined,
  ): Promise<number | null | undefined> {
    if (id === undefined) return undefined;
    if (id === null || id === 0) return null;
    if (!(await tx.directory.employees.get(a.id, id)))
      throw badInput(`responsibleUserId ${id} is not an employee of this account`);
    return id;
  }

  /** One contact saved atomically: `existing` null creates it. */
  async function save(
    tx: Store,
    a: AccountRecord,
    input: ContactInput,
    existing: Contact | null,
    mode: 'replace' | 'merge',
  ) {
    const built = await buildContact({
      input,
      existing,
      mode,
      country: a.defaultCountry,
      now: clock.now(),
      createUserId: a.apiUserId,
      responsibleUserId: await checkResponsible(tx, a, input.responsibleUserId),
      allocateIds: (n) => tx.contacts.allocateItemIds(n),
    });
    const { contact, phones, searchText } = built;
    if (contact.id === null) return tx.contacts.insert(a.id, contact, phones, searchText);
    await tx.contacts.update(a.id, { ...contact, id: contact.id }, phones, searchText);
    return contact.id;
  }

  /** Applies the `field` filter of the list endpoint: only the named enumCodes (or their kinds). */
  function pickFields(contacts: Contact[], field: string[] | undefined): Contact[] {
    if (!field?.length) return contacts;
    const codes = new Set(field.map((f) => f.trim().toLowerCase()));
    const kinds = new Set<ContactFieldKind>(field.map((f) => fieldKind(f)).filter((k) => k !== 'custom'));
    return contacts.map((c) => ({
      ...c,
      fields: c.fields.filter((f) => codes.has(f.enumCode.toLowerCase()) || kinds.has(fieldKind(f.enumCode))),
    }));
  }

  async function needNoteTarget(a: AccountRecord, contactId: number) {
    await need(store, a, contactId);
  }

  function noteRow(input: NoteInput, base: NoteRow | null, now: number): NoteRow {
    const str = (v: string | number | null | undefined, old: string | null) =>
      v === undefined ? old : v === null ? null : String(v);
    const int = (v: number | null | undefined, old: number | null) => (v === undefined ? old : v);
    return {
      elementType: input.elementType ?? base?.elementType ?? 0,
      noteType: input.noteType ?? base?.noteType ?? 0,
      dateCreate: base?.dateCreate ?? now,
      lastModified: now,
      content: input.content === undefined ? (base?.content ?? null) : input.content,
      responsibleUserId: int(input.responsibleUserId, base?.responsibleUserId ?? null),
      otherLegNum: str(input.otherLegNum, base?.otherLegNum ?? null),
      otherLegName: str(input.otherLegName, base?.otherLegName ?? null),
      status: str(input.status, base?.status ?? null),
      errorMsg: str(input.errorMsg, base?.errorMsg ?? null),
      uuid: str(input.uuid, base?.uuid ?? null),
      end: int(input.end, base?.end ?? null),
      legId: int(input.legId, base?.legId ?? null),
      logicDirection: int(input.logicDirection, base?.logicDirection ?? null),
      billSec: int(input.billSec, base?.billSec ?? null),
      recordLink: str(input.recordLink, base?.recordLink ?? null),
      trunk: str(input.trunk, base?.trunk ?? null),
      tag: str(input.tag, base?.tag ?? null),
    };
  }

  return {
    get: (a: AccountRecord, id: number) => need(store, a, id),

    async list(a: AccountRecord, q: ContactListQuery): Promise<Contact[]> {
      if (q.filterBy === undefined && (q.from !== undefined || q.to !== undefined))
        throw badInput('from/to need filterBy (0 = by creation date, 1 = by modification date)');
      const contacts = await store.contacts.list(a.id, {
        offset: q.offset ?? 0,
        limit: q.limit ?? CONTACTS_DEFAULT_LIMIT,
        searchText: q.searchText?.trim().toLowerCase() || undefined,
        searchNoteText: q.searchNoteText?.trim().toLowerCase() || undefined,
        dateColumn: q.filterBy === undefined ? undefined : q.filterBy === 0 ? 'dateCreate' : 'lastModified',
        from: q.from === undefined ? undefined : toMs(q.from),
        to: q.to === undefined ? undefined : toMs(q.to),
      });
      return pickFields(contacts, q.field);
    },

    async byNumber(
      a: AccountRecord,
      otherLegNum: string,
      offset = 0,
      limit = CONTACTS_DEFAULT_LIMIT,
    ): Promise<Contact[]> {
      const phone = normalizePhone(otherLegNum, a.defaultCountry);
      if (phone === null) throw badInput(`otherLegNum '${otherLegNum}' is not a phone number`);
      return store.contacts.byPhone(a.id, phone, offset, limit);
    },

    /** `byNumber` as the JSON text the route sends (the same list, not built as objects). */
    async byNumberJson(
      a: AccountRecord,
      otherLegNum: string,
      offset = 0,
      limit = CONTACTS_DEFAULT_LIMIT,
    ): Promise<string> {
      const phone = normalizePhone(otherLegNum, a.defaultCountry);
      if (phone === null) throw badInput(`otherLegNum '${otherLegNum}' is not a phone number`);
      return store.contacts.byPhoneJson(a.id, phone, offset, limit);
    },

    /** `POST /rest/crm/contacts/v2/`: updates an existing contact (the document requires `id`). */
    async update(a: AccountRecord, input: ContactInput): Promise<One> {
      if (!input.id)
        throw new DomainError(
          'ID_REQUIRED',
          'id is required (create contacts with POST /rest/crm/contacts/v2/batch)',
        );
      const id = input.id;
      await store.transaction(async (tx) => save(tx, a, input, await need(tx, a, id), 'replace'));
      return 1;
    },

    async delete(a: AccountRecord, id: number): Promise<One> {
      if (!(await store.contacts.delete(a.id, id)))
        throw new DomainError('CONTACT_NOT_FOUND', `Contact ${id} not found`);
      return 1;
    },

    /**
     * `POST /rest/crm/contacts/v2/batch`. Each contact is saved in its own transaction and
     * counted. With an `id`, that contact is updated (replaced, or merged with `merge: 1`).
     * Without one, `merge: 1` merges into the first contact sharing a phone number, else creates.
     */
    async batch(a: AccountRecord, merge: boolean, contacts: unknown[]): Promise<BatchResult> {
      const result: BatchResult = { succeeded: 0, failed: 0, errors: [] };
      for (const [index, raw] of contacts.entries()) {
        try {
          const input = parseContactInput(raw);
          await store.transaction(async (tx) => {
            let existing: Contact | null = null;
            if (input.id) existing = await need(tx, a, input.id);
            else if (merge) {
              const phones = (input.fields ?? [])
                .filter((f) => fieldKind(f.enumCode) === 'phone')
                .flatMap((f) =>
                  f.values.map((v) =>
                    v.value === null ? null : normalizePhone(String(v.value), a.defaultCountry),
                  ),
                )
                .filter((p): p is string => p !== null);
              const [match] = await tx.contacts.idsByPhones(a.id, phones);
              if (match !== undefined) existing = await tx.contacts.get(a.id, match);
            }
            await save(tx, a, input, existing, merge ? 'merge' : 'replace');
          });
          result.succeeded++;
        } catch (e) {
          if (!(e instanceof DomainError)) throw e;
          result.failed++;
          result.errors.push({ index, reason: e.message });
        }
      }
      return result;
    },

    notes: {
      async list(a: AccountRecord, contactId: number): Promise<Note[]> {
        await needNoteTarget(a, contactId);
        return store.contacts.notes.list(a.id, contactId);
      },
      async create(a: AccountRecord, contactId: number, input: NoteInput): Promise<Note> {
        await needNoteTarget(a, contactId);
        // The document's own example sends `content: null`: the key must be there, the text may not.
        if (input.content === undefined) throw badInput('content is required (it may be null)');
        const responsible = await checkResponsible(store, a, input.responsibleUserId);
        const row = noteRow(input, null, clock.now());
        row.responsibleUserId = responsible ?? a.apiUserId;
        try {
          return await store.contacts.notes.insert(a.id, contactId, row, noteSearchText(row));
        } catch (e) {
          // A concurrent DELETE of the contact between the check and the insert: the foreign key
          // refuses the note; answer 404 as for a contact that never existed (was a 500, found by
          // the hostile-input proof on PostgreSQL).
          await needNoteTarget(a, contactId);
          throw e;
        }
      },
      async update(a: AccountRecord, contactId: number, input: NoteInput): Promise<One> {
        if (!input.id) throw new DomainError('ID_REQUIRED', 'id of the note is required');
        await needNoteTarget(a, contactId);
        const old = await store.contacts.notes.get(a.id, contactId, input.id);
        if (!old)
          throw new DomainError('NOTE_NOT_FOUND', `Note ${input.id} of contact ${contactId} not found`);
        const responsible = await checkResponsible(store, a, input.responsibleUserId);
        const row = {
          ...noteRow(input, old, clock.now()),
          responsibleUserId: responsible === undefined ? old.responsibleUserId : responsible,
        };
        await store.contacts.notes.update(a.id, contactId, input.id, row, noteSearchText(row));
        return 1;
      },
      async delete(a: AccountRecord, contactId: number, noteId: number): Promise<One> {
        await needNoteTarget(a, contactId);
        if (!(await store.contacts.notes.delete(a.id, contactId, noteId)))
          throw new DomainError('NOTE_NOT_FOUND', `Note ${noteId} of contact ${contactId} not found`);
        return 1;
      },
    },
  };
}
export type ContactService = ReturnType<typeof createContactService>;
