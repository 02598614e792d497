// How `contacts import` reads a CSV header or a JSON object's keys as contact fields, and how
// `contacts export --csv` writes them back: the built-in kinds of the contacts book (name,
// phones, e-mails, company, category) by any usual spelling, every other column a custom field.
import type { Contact, ContactInput } from '@dzvin/protocol';

// A copy, typed against protocol's constant so the two cannot drift: loading protocol's TypeBox
// schemas at run time costs more than a second of start-up per command under tsx.
const CONTACT_FIELD_CODES: typeof import('@dzvin/protocol').CONTACT_FIELD_CODES = {
  firstName: ['Имя', "Ім'я", 'Імʼя', 'First name', 'Name'],
  lastName: ['Фамилия', 'Прізвище', 'Last name'],
  phone: ['Телефон', 'Phone'],
  email: ['Email', 'E-mail', 'Почта', 'Пошта'],
  company: ['Компания', 'Компанія', 'Company'],
  category: ['Категория', 'Категорія', 'Category'],
};

export type Kind = keyof typeof CONTACT_FIELD_CODES;
/** What a column holds: the contact's id, one of the built-in kinds, or a custom field. */
export type ColumnMeaning = { kind: 'id' } | { kind: Kind } | { kind: 'custom'; enumCode: string };

const MULTI_VALUED = new Set<Kind>(['phone', 'email']);

/** `First Name`, `first_name`, `firstName` and `phone2` all read alike. */
const squash = (s: string) =>
  s
    .trim()
    .toLowerCase()
    .replace(/[\s_\-'ʼ]+/g, '')
    .replace(/[0-9]+$/, '');

const ALIASES = new Map<string, ColumnMeaning['kind']>();
for (const [kind, codes] of Object.entries(CONTACT_FIELD_CODES))
  for (const code of codes) ALIASES.set(squash(code), kind as Kind);
for (const [alias, kind] of [
  ['id', 'id'],
  ['firstname', 'firstName'],
  ['givenname', 'firstName'],
  ['lastname', 'lastName'],
  ['surname', 'lastName'],
  ['familyname', 'lastName'],
  ['phones', 'phone'],
  ['phonenumber', 'phone'],
  ['tel', 'phone'],
  ['telephone', 'phone'],
  ['mobile', 'phone'],
  ['телефони', 'phone'],
  ['телефоны', 'phone'],
  ['emails', 'email'],
  ['mail', 'email'],
  ['companytitle', 'company'],
  ['organization', 'company'],
  ['organisation', 'company'],
] as const)
  ALIASES.set(alias, kind);

/** What a CSV header cell or JSON key means. */
export function columnMeaning(header: string): ColumnMeaning {
  const kind = ALIASES.get(squash(header));
  if (kind === undefined) return { kind: 'custom', enumCode: header.trim() };
  return { kind } as ColumnMeaning;
}

/** Phones and e-mails may hold several values in one cell: `a; b` (also `|` or line breaks). */
const splitValues = (kind: ColumnMeaning['kind'], v: string): string[] =>
  (MULTI_VALUED.has(kind as Kind) ? v.split(/[;|\n]/) : [v]).map((s) => s.trim()).filter(Boolean);

/**
 * One contact to upload from (column meaning, raw values) pairs; `keepId` keeps an `id` column
 * (the contact is then updated, not created). Throws a one-line reason on a bad id.
 */
export function contactFromCells(
  cells: [ColumnMeaning, unknown][],
  keepId: boolean,
): ContactInput & { fields: NonNullable<ContactInput['fields']> } {
  const contact: ContactInput & { fields: NonNullable<ContactInput['fields']> } = { fields: [] };
  const byCode = new Map<string, string[]>();
  for (const [meaning, raw] of cells) {
    const texts = (Array.isArray(raw) ? raw : [raw])
      .filter((v) => v !== null && v !== undefined)
      .map((v) => String(v));
    if (meaning.kind === 'id') {
      const text = texts.join('').trim();
      if (!keepId || text === '') continue;
      const id = Number(text);
      if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(id) || id < 1)
        throw new Error(`id '${text}' is not a positive integer`);
      contact.id = id;
      continue;
    }
    const enumCode = meaning.kind === 'custom' ? meaning.enumCode : CONTACT_FIELD_CODES[meaning.kind][0];
    const values = texts.flatMap((t) => splitValues(meaning.kind, t));
    if (values.length === 0) continue;
    const list = byCode.get(enumCode) ?? [];
    byCode.set(enumCode, list);
    list.push(...values);
  }
  for (const [enumCode, values] of byCode)
    contact.fields.push({ enumCode, values: values.map((value) => ({ value })) });
  return contact;
}

/**
 * A contact in the API's own shape (`{ fields: [{ enumCode, values }] }`, e.g. from
 * `contacts export --json`), ready to upload: the server-kept keys dropped, and every id unless
 * `keepId` (then the contact's id stays, to update it; field and value ids are always dropped).
 */
export function contactFromApiShape(raw: Record<string, unknown>, keepId: boolean): ContactInput {
  const out: ContactInput = {};
  if (keepId && raw.id !== undefined && raw.id !== null) out.id = raw.id as number;
  for (const key of ['firstName', 'lastName', 'companyTitle', 'responsibleUserId'] as const)
    if (raw[key] !== undefined) (out as Record<string, unknown>)[key] = raw[key];
  if (Array.isArray(raw.fields))
    out.fields = raw.fields.map((f: Record<string, unknown>) => {
      if (!f || typeof f !== 'object') return f;
      const { id: _fieldId, ...field } = f;
      return {
        ...field,
        values: Array.isArray(field.values)
          ? field.values.map((v: Record<string, unknown>) => {
              if (!v || typeof v !== 'object') return v;
              const { id: _valueId, lastModified: _lm, ...value } = v;
              return value;
            })
          : field.values,
      };
    }) as ContactInput['fields'];
  return out;
}

/** Which built-in kind an enumCode is (any spelling, any case), or undefined for custom. */
export function kindOfCode(enumCode: string): Kind | undefined {
  const lower = enumCode.trim().toLowerCase();
  for (const [kind, codes] of Object.entries(CONTACT_FIELD_CODES))
    if (codes.some((c) => c.toLowerCase() === lower)) return kind as Kind;
  return undefined;
}

/** A contact flattened for a CSV row or a table: built-in kinds plus custom fields by enumCode. */
export interface FlatContact {
  id: number;
  firstName: string;
  lastName: string;
  company: string;
  category: string;
  phones: string[];
  emails: string[];
  custom: Map<string, string[]>;
}

export function flattenContact(c: Contact): FlatContact {
  const flat: FlatContact = {
    id: c.id,
    firstName: c.firstName ?? '',
    lastName: c.lastName ?? '',
    company: c.companyTitle ?? '',
    category: '',
    phones: [],
    emails: [],
    custom: new Map(),
  };
  const names: Partial<Record<Kind, string[]>> = {};
  for (const f of c.fields) {
    const values = f.values.map((v) => v.value).filter((v): v is string => v !== null && v !== '');
    const kind = kindOfCode(f.enumCode);
    if (kind === 'phone') flat.phones.push(...values);
    else if (kind === 'email') flat.emails.push(...values);
    else if (kind) names[kind] = [...(names[kind] ?? []), ...values];
    else flat.custom.set(f.enumCode, [...(flat.custom.get(f.enumCode) ?? []), ...values]);
  }
  flat.firstName ||= names.firstName?.join(' ') ?? '';
  flat.lastName ||= names.lastName?.join(' ') ?? '';
  flat.company ||= names.company?.join(' ') ?? '';
  flat.category = names.category?.join(' ') ?? '';
  return flat;
}
