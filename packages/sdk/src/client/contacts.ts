import type { BatchResult, Contact, ContactInput, Note, NoteInput } from '@dzvin/protocol';
import type { TimeInput } from './calls.ts';
import { type Paginated, paginate } from './paginate.ts';
import type { Requester } from './phonet-client.ts';

/**
 * Filters of the contact list (`GET /rest/crm/contacts/v2/`).
 * @example
 * ```ts
 * const q: ContactListOptions = { searchText: 'Phonet', filterBy: 'modified', from: Date.now() - 86_400_000 };
 * ```
 */
export interface ContactListOptions {
  /** Only these fields in each contact (`field`, repeated). */
  fields?: readonly string[];
  /** Search the contacts' field values. */
  searchText?: string;
  /** Search the contacts' notes. */
  searchNoteText?: string;
  /** What `from`/`to` filter: creation (`0`) or modification (`1`) time. */
  filterBy?: 'created' | 'modified' | 0 | 1;
  from?: TimeInput;
  to?: TimeInput;
  /** Contacts per request, 1..60 (default 60). */
  pageSize?: number;
  /** Skip this many contacts first. */
  offset?: number;
  signal?: AbortSignal;
}

/**
 * A contact to update: the document requires its `id`.
 * @example
 * ```ts
 * const c: ContactUpdate = { id: 7068, fields: [{ enumCode: 'Имя', values: [{ enumValueCode: 'Имя', value: 'Петр' }] }] };
 * ```
 */
export type ContactUpdate = ContactInput & { id: number };

/**
 * A note to update: `PUT` selects the note by its `id`.
 * @example
 * ```ts
 * const n: NoteUpdate = { id: 12, content: 'Called back' };
 * ```
 */
export type NoteUpdate = NoteInput & { id: number };

/** Most contacts the server takes in one batch (Dzvin's limit); bigger uploads are split. */
const BATCH_CHUNK = 1000;

const ms = (t: TimeInput | undefined) => (t instanceof Date ? t.getTime() : t);

function checkPageSize(n: number, max: number) {
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new RangeError(`pageSize must be an integer from 1 to ${max}`);
}

/** `client.contacts`. @internal */
export function createContactsApi(c: Requester) {
  const base = '/rest/crm/contacts/v2';
  const list = (o: ContactListOptions = {}): Paginated<Contact> => {
    const pageSize = o.pageSize ?? 60;
    checkPageSize(pageSize, 60);
    const filterBy = o.filterBy === 'created' ? 0 : o.filterBy === 'modified' ? 1 : o.filterBy;
    const query = {
      field: o.fields,
      searchText: o.searchText,
      searchNoteText: o.searchNoteText,
      filterBy,
      from: ms(o.from),
      to: ms(o.to),
    };
    return paginate(
      pageSize,
      (offset, limit) =>
        c.request<Contact[]>({
          method: 'GET',
          path: `${base}/`,
          query: { ...query, offset, limit },
          signal: o.signal,
        }),
      o.offset ?? 0,
    );
  };

  return {
    /**
     * One contact (`GET /rest/crm/contacts/v2/{id}`); PhonetNotFoundError when unknown.
     * @example
     * ```ts
     * const contact = await client.contacts.get(7068);
     * ```
     */
    get(id: number, opts: { signal?: AbortSignal } = {}): Promise<Contact> {
      return c.request({ method: 'GET', path: `${base}/${id}`, signal: opts.signal });
    },
    /**
     * Every contact matching the filters, page by page (`GET /rest/crm/contacts/v2/`).
     * @example
     * ```ts
     * for await (const contact of client.contacts.list({ filterBy: 'modified', from: lastSync })) upsert(contact);
     * ```
     */
    list,
    /**
     * Contacts whose fields contain `text` (`searchText`); the other list filters apply too.
     * @example
     * ```ts
     * const found = await client.contacts.search('Phonet').toArray(10);
     * ```
     */
    search(text: string, o: Omit<ContactListOptions, 'searchText'> = {}): Paginated<Contact> {
      return list({ ...o, searchText: text });
    },
    /**
     * Contacts with this phone number in any spelling (`GET …/searchByOLNum`), all pages.
     * @example
     * ```ts
     * const [contact] = await client.contacts.byNumber('0442246595');
     * ```
     */
    byNumber(number: string, o: { pageSize?: number; signal?: AbortSignal } = {}): Promise<Contact[]> {
      const pageSize = o.pageSize ?? 60;
      checkPageSize(pageSize, 60);
      return paginate(pageSize, (offset, limit) =>
        c.request<Contact[]>({
          method: 'GET',
          path: `${base}/searchByOLNum`,
          query: { otherLegNum: number, offset, limit },
          signal: o.signal,
        }),
      ).toArray();
    },
    /**
     * Saves a contact (`POST /rest/crm/contacts/v2/`, `id` required). Retried like an idempotent
     * request: sending the same contact twice leaves the same result.
     * @example
     * ```ts
     * await client.contacts.update({ ...contact, fields: [...contact.fields, noteField] });
     * ```
     */
    async update(contact: ContactUpdate, opts: { signal?: AbortSignal } = {}): Promise<void> {
      await c.request({
        method: 'POST',
        path: `${base}/`,
        body: contact,
        idempotent: true,
        signal: opts.signal,
      });
    },
    /**
     * Deletes a contact and its notes (`DELETE /rest/crm/contacts/v2/{id}`).
     * @example
     * ```ts
     * await client.contacts.delete(7068);
     * ```
     */
    async delete(id: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
      await c.request({ method: 'DELETE', path: `${base}/${id}`, signal: opts.signal });
    },
    /**
     * Uploads contacts (`POST /rest/crm/contacts/v2/batch`); `merge` (default true) merges into
     * the contact sharing a phone number. More than 1000 are sent in several requests and the
     * results summed (`errors[].index` stays an index into `contacts`). Never retried.
     * @example
     * ```ts
     * const { succeeded, failed, errors } = await client.contacts.batch(rows, { merge: true });
     * ```
     */
    async batch(
      contacts: readonly ContactInput[],
      o: { merge?: boolean; signal?: AbortSignal } = {},
    ): Promise<BatchResult> {
      const total: BatchResult = { succeeded: 0, failed: 0, errors: [] };
      for (let start = 0; start < contacts.length; start += BATCH_CHUNK) {
        const chunk = contacts.slice(start, start + BATCH_CHUNK);
        const r = await c.request<Partial<BatchResult>>({
          method: 'POST',
          path: `${base}/batch`,
          body: { merge: o.merge === false ? 0 : 1, contacts: chunk },
          signal: o.signal,
        });
        total.succeeded += r?.succeeded ?? 0;
        total.failed += r?.failed ?? 0;
        for (const e of r?.errors ?? []) total.errors.push({ index: e.index + start, reason: e.reason });
      }
      return total;
    },
    /**
     * The notes of one contact.
     * @example
     * ```ts
     * const notes = client.contacts.notes(7068);
     * const note = await notes.create({ content: 'Wants a quote' });
     * await notes.update({ ...note, content: 'Quote sent' });
     * await notes.delete(note.id);
     * ```
     */
    notes(contactId: number) {
      const path = `${base}/${contactId}/notes`;
      return {
        /** `GET /rest/crm/contacts/v2/{id}/notes`. */
        list(opts: { signal?: AbortSignal } = {}): Promise<Note[]> {
          return c.request({ method: 'GET', path, signal: opts.signal });
        },
        /** `POST …/{id}/notes`: the saved note, with its id. Never retried. */
        create(note: NoteInput, opts: { signal?: AbortSignal } = {}): Promise<Note> {
          return c.request({ method: 'POST', path, body: note, signal: opts.signal });
        },
        /** `PUT …/{id}/notes` (the note's `id` selects it). */
        async update(note: NoteUpdate, opts: { signal?: AbortSignal } = {}): Promise<void> {
          await c.request({ method: 'PUT', path, body: note, signal: opts.signal });
        },
        /** `DELETE …/{cntId}/notes/{noteId}`. */
        async delete(noteId: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
          await c.request({ method: 'DELETE', path: `${path}/${noteId}`, signal: opts.signal });
        },
      };
    },
  };
}
