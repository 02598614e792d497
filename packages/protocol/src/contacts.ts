import { type Static, Type } from 'typebox';
import { EpochMs, Id, Nullable } from './common.ts';

/**
 * Enum codes of the built-in contacts book ("CRM Teler"). The document notes accounts may name
 * them differently; Dzvin recognises these (Russian, Ukrainian and English spellings, any case)
 * and treats every other enumCode as a custom text field.
 * @example `CONTACT_FIELD_CODES.phone[0] === 'Телефон'`
 */
export const CONTACT_FIELD_CODES = {
  firstName: ['Имя', "Ім'я", 'Імʼя', 'First name', 'Name'],
  lastName: ['Фамилия', 'Прізвище', 'Last name'],
  phone: ['Телефон', 'Phone'],
  email: ['Email', 'E-mail', 'Почта', 'Пошта'],
  company: ['Компания', 'Компанія', 'Company'],
  category: ['Категория', 'Категорія', 'Category'],
} as const;
export type ContactFieldKind = keyof typeof CONTACT_FIELD_CODES | 'custom';

/** One value of a contact field. */
export const ContactValue = Type.Object({
  id: Type.Integer(),
  enumValueCode: Nullable(Type.String()),
  lastModified: EpochMs,
  value: Nullable(Type.String()),
});
export type ContactValue = Static<typeof ContactValue>;

/** One field (enumCode) of a contact with its values. */
export const ContactField = Type.Object({
  id: Type.Integer(),
  enumCode: Type.String(),
  values: Type.Array(ContactValue),
});
export type ContactField = Static<typeof ContactField>;

/**
 * A contact as `GET /rest/crm/contacts/v2/{id}` returns it (every key present, spec #3).
 * @example see `fixtures/contact.json`
 */
export const Contact = Type.Object({
  id: Type.Integer(),
  firstName: Nullable(Type.String()),
  lastName: Nullable(Type.String()),
  companyTitle: Nullable(Type.String()),
  lastModified: EpochMs,
  responsibleUserId: Nullable(Type.Integer()),
  dateCreate: EpochMs,
  createUserId: Nullable(Type.Integer()),
  fields: Type.Array(ContactField),
});
export type Contact = Static<typeof Contact>;
export const ContactList = Type.Array(Contact);

const MaybeId = Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })));
const ShortText = (max: number) => Type.Optional(Nullable(Type.String({ maxLength: max })));

/** A field value as clients send it; numbers are accepted and stored as text. */
export const ContactValueInput = Type.Object({
  id: MaybeId,
  enumValueCode: ShortText(100),
  value: Nullable(Type.Union([Type.String({ maxLength: 4000 }), Type.Number()])),
});

/** A field as clients send it. `id` of an existing field keeps it; a missing id or 0 creates one. */
export const ContactFieldInput = Type.Object({
  id: MaybeId,
  enumCode: Type.String({ minLength: 1, maxLength: 100 }),
  values: Type.Array(ContactValueInput, { maxItems: 100 }),
});

/**
 * A contact as clients send it to update (`POST /rest/crm/contacts/v2/`) or in a batch.
 * Server-maintained keys (`lastModified`, `dateCreate`, `createUserId`) are accepted and ignored.
 * @example `{ "id": 7068, "fields": [{ "enumCode": "Имя", "values": [{ "enumValueCode": "Имя", "value": "Петр" }] }] }`
 */
export const ContactInput = Type.Object({
  id: MaybeId,
  firstName: ShortText(500),
  lastName: ShortText(500),
  companyTitle: ShortText(500),
  responsibleUserId: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }))),
  lastModified: Type.Optional(Type.Unknown()),
  dateCreate: Type.Optional(Type.Unknown()),
  createUserId: Type.Optional(Type.Unknown()),
  fields: Type.Optional(Type.Array(ContactFieldInput, { maxItems: 100 })),
});
export type ContactInput = Static<typeof ContactInput>;

/** Largest page of contacts (spec decision #8). */
export const CONTACTS_MAX_LIMIT = 60;
export const CONTACTS_DEFAULT_LIMIT = 30;

const Limit = Type.Integer({ minimum: 0, maximum: CONTACTS_MAX_LIMIT, default: CONTACTS_DEFAULT_LIMIT });
const Offset = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 });

/** Query of `GET /rest/crm/contacts/v2/`. `field` may repeat (also `field[]=`, `field[0]=`). */
export const ContactListQuery = Type.Object({
  field: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 50 })),
  offset: Type.Optional(Offset),
  limit: Type.Optional(Limit),
  searchText: Type.Optional(Type.String({ maxLength: 200 })),
  searchNoteText: Type.Optional(Type.String({ maxLength: 200 })),
  filterBy: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 1, description: '0 by creation date, 1 by modification date' }),
  ),
  from: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  to: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
});
export type ContactListQuery = Static<typeof ContactListQuery>;

/** Query of `GET /rest/crm/contacts/v2/searchByOLNum`. */
export const SearchByNumberQuery = Type.Object({
  otherLegNum: Type.String({ minLength: 1, maxLength: 64 }),
  offset: Type.Optional(Offset),
  limit: Type.Optional(Limit),
});
export type SearchByNumberQuery = Static<typeof SearchByNumberQuery>;

/** Most contacts in one batch upload. */
export const BATCH_MAX_CONTACTS = 1000;

/**
 * `POST /rest/crm/contacts/v2/batch` body. Each contact is validated on its own, so one bad
 * contact is counted in `failed` without failing the others.
 * @example `{ "merge": 1, "contacts": [{ "fields": [{ "enumCode": "Телефон", "values": [{ "value": "+380442246595" }] }] }] }`
 */
export const BatchRequest = Type.Object({
  merge: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1), Type.Boolean()])),
  contacts: Type.Array(Type.Unknown(), { maxItems: BATCH_MAX_CONTACTS }),
});
export type BatchRequest = Static<typeof BatchRequest>;

/**
 * `201` answer of the batch upload. `errors` is a Dzvin addition: why each failed contact failed.
 * @example `{ "succeeded": 1, "failed": 0, "errors": [] }`
 */
export const BatchResult = Type.Object({
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  errors: Type.Array(Type.Object({ index: Type.Integer(), reason: Type.String() })),
});
export type BatchResult = Static<typeof BatchResult>;

export const ContactIdParams = Type.Object({ id: Id });
