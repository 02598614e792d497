import {
  CONTACT_FIELD_CODES,
  type Contact,
  type ContactField,
  type ContactFieldKind,
  type ContactInput,
  type ContactValue,
} from '@dzvin/protocol';
import { badInput } from '../errors.ts';
import { normalizePhone } from '../phone.ts';

const KIND_BY_CODE = new Map<string, ContactFieldKind>(
  Object.entries(CONTACT_FIELD_CODES).flatMap(([kind, codes]) =>
    codes.map((c) => [c.toLowerCase(), kind as ContactFieldKind] as const),
  ),
);

/** What a field means, from its enumCode (any spelling of CONTACT_FIELD_CODES, any case). */
export function fieldKind(enumCode: string): ContactFieldKind {
  return KIND_BY_CODE.get(enumCode.trim().toLowerCase()) ?? 'custom';
}

/** Kinds that hold one value; a merge replaces them instead of appending. */
const SINGLE_VALUED = new Set<ContactFieldKind>(['firstName', 'lastName', 'company', 'category']);
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

type ValueIn = { id?: number | null; enumValueCode?: string | null; value: string | number | null };
type FieldIn = { id?: number | null; enumCode: string; values: ValueIn[] };

/** A field after validation, before ids are assigned (`id: null` = needs a fresh id). */
interface DraftField {
  id: number | null;
  enumCode: string;
  values: { id: number | null; enumValueCode: string | null; value: string; lastModified: number | null }[];
}

function cleanValue(
  kind: ContactFieldKind,
  enumCode: string,
  raw: string | number | null,
  country: string,
): string | null {
  if (raw === null) return null;
  const v = String(raw).trim();
  if (v === '') return null;
  if (kind === 'phone' && normalizePhone(v, country) === null)
    throw badInput(`field '${enumCode}': '${v}' is not a phone number`);
  if (kind === 'email' && !EMAIL_RE.test(v))
    throw badInput(`field '${enumCode}': '${v}' is not an e-mail address`);
  return v;
}

/** Comparison key of a value, so a merge does not add `+380 44…` next to `044…`. */
function valueKey(kind: ContactFieldKind, value: string, country: string): string {
  if (kind === 'phone') return normalizePhone(value, country) ?? value;
  return value.toLowerCase();
}

function draftFromInput(input: ContactInput, country: string): DraftField[] {
  const fields: DraftField[] = (input.fields ?? []).map((f: FieldIn) => {
    const enumCode = f.enumCode.trim();
    if (!enumCode) throw badInput('a field has an empty enumCode');
    const kind = fieldKind(enumCode);
    const values = f.values.flatMap((v) => {
      const value = cleanValue(kind, enumCode, v.value, country);
      return value === null
        ? []
        : [
            {
              id: v.id || null,
              enumValueCode: v.enumValueCode?.trim() || enumCode,
              value,
              lastModified: null,
            },
          ];
    });
    if (SINGLE_VALUED.has(kind) && values.length > 1)
      throw badInput(`field '${enumCode}' takes one value, got ${values.length}`);
    return { id: f.id || null, enumCode, values };
  });
  // Top-level names are derived output (GET echoes them back). Only a body without `fields` may
  // use them to set a name; otherwise a stale echo would resurrect a field the client removed.
  if (input.fields !== undefined) return fields.filter((f) => f.values.length > 0);
  const tops: [ContactFieldKind, string | null | undefined][] = [
    ['firstName', input.firstName],
    ['lastName', input.lastName],
    ['company', input.companyTitle],
  ];
  for (const [kind, value] of tops) {
    if (value == null || value.trim() === '') continue;
    const code = CONTACT_FIELD_CODES[kind as keyof typeof CONTACT_FIELD_CODES][0];
    fields.push({
      id: null,
      enumCode: code,
      values: [{ id: null, enumValueCode: code, value: value.trim(), lastModified: null }],
    });
  }
  return fields.filter((f) => f.values.length > 0);
}

/**
 * Lays the draft over the existing fields: ids the client sent that exist are kept (with their
 * lastModified when the value did not change); everything else gets a fresh id.
 */
function reconcile(draft: DraftField[], existing: ContactField[]): DraftField[] {
  const oldFields = new Map(existing.map((f) => [f.id, f]));
  const usedField = new Set<number>();
  return draft.map((f) => {
    const old = f.id !== null && !usedField.has(f.id) ? oldFields.get(f.id) : undefined;
    if (old) usedField.add(old.id);
    const oldValues = new Map((old?.values ?? []).map((v) => [v.id, v]));
    const usedValue = new Set<number>();
    return {
      id: old ? old.id : null,
      enumCode: f.enumCode,
      values: f.values.map((v) => {
        const ov = v.id !== null && !usedValue.has(v.id) ? oldValues.get(v.id) : undefined;
        if (!ov) return { ...v, id: null, lastModified: null };
        usedValue.add(ov.id);
        const same = ov.value === v.value && ov.enumValueCode === v.enumValueCode;
        return { ...v, id: ov.id, lastModified: same ? ov.lastModified : null };
      }),
    };
  });
}

/** Merge (batch `merge: 1`): single-valued kinds are replaced, others gain the values they lack. */
function merge(draft: DraftField[], existing: ContactField[], country: string): DraftField[] {
  const out: DraftField[] = existing.map((f) => ({
    id: f.id,
    enumCode: f.enumCode,
    values: f.values.map((v) => ({ ...v, value: v.value ?? '' })),
  }));
  for (const f of draft) {
    const kind = fieldKind(f.enumCode);
    const target = out.find((o) =>
      kind === 'custom'
        ? o.enumCode.toLowerCase() === f.enumCode.toLowerCase()
        : fieldKind(o.enumCode) === kind,
    );
    if (!target) {
      out.push({ ...f, id: null, values: f.values.map((v) => ({ ...v, id: null })) });
      continue;
    }
    if (SINGLE_VALUED.has(kind)) {
      const [nv] = f.values;
      const [ov] = target.values;
      if (!ov || ov.value !== nv.value) target.values = [{ ...nv, id: ov?.id ?? null, lastModified: null }];
      continue;
    }
    const have = new Set(target.values.map((v) => valueKey(kind, v.value, country)));
    for (const v of f.values) {
      const key = valueKey(kind, v.value, country);
      if (!have.has(key)) {
        have.add(key);
        target.values.push({ ...v, id: null, lastModified: null });
      }
    }
  }
  return out;
}

export interface BuiltContact {
  contact: Omit<Contact, 'id'> & { id: number | null };
  phones: string[];
  searchText: string;
}

/**
 * Turns a client's contact into what is stored: validated typed values, stable ids, server
 * timestamps, the derived names, the normalized phone index and the search text.
 */
export async function buildContact(args: {
  input: ContactInput;
  existing: Contact | null;
  mode: 'replace' | 'merge';
  country: string;
  now: number;
  createUserId: number | null;
  responsibleUserId: number | null | undefined;
  allocateIds: (n: number) => Promise<number[]>;
}): Promise<BuiltContact> {
  const { input, existing, country, now } = args;
  const draft = draftFromInput(input, country);
  const laid = existing
    ? args.mode === 'merge' || input.fields === undefined
      ? merge(draft, existing.fields, country)
      : reconcile(draft, existing.fields)
    : draft.map((f) => ({
        ...f,
        id: null,
        values: f.values.map((v) => ({ ...v, id: null, lastModified: null })),
      }));
  const need = laid.reduce(
    (n, f) => n + (f.id === null ? 1 : 0) + f.values.filter((v) => v.id === null).length,
    0,
  );
  const ids = await args.allocateIds(need);
  let next = 0;
  const fields: ContactField[] = laid.map((f) => ({
    id: f.id ?? ids[next++],
    enumCode: f.enumCode,
    values: f.values.map(
      (v): ContactValue => ({
        id: v.id ?? ids[next++],
        enumValueCode: v.enumValueCode,
        lastModified: v.lastModified ?? now,
        value: v.value,
      }),
    ),
  }));
  const first = (kind: ContactFieldKind) =>
    fields.find((f) => fieldKind(f.enumCode) === kind)?.values[0]?.value ?? null;
  const phones = fields
    .filter((f) => fieldKind(f.enumCode) === 'phone')
    .flatMap((f) => f.values.map((v) => normalizePhone(v.value ?? '', country)))
    .filter((p): p is string => p !== null);
  const contact = {
    id: existing?.id ?? null,
    firstName: first('firstName'),
    lastName: first('lastName'),
    companyTitle: first('company'),
    lastModified: now,
    responsibleUserId:
      args.responsibleUserId === undefined ? (existing?.responsibleUserId ?? null) : args.responsibleUserId,
    dateCreate: existing?.dateCreate ?? now,
    createUserId: existing ? existing.createUserId : args.createUserId,
    fields,
  };
  const searchText = [
    ...fields.flatMap((f) => f.values.map((v) => v.value ?? '')),
    ...phones,
    ...phones.map((p) => p.replace(/\D/g, '')),
  ]
    .join('\n')
    .toLowerCase();
  return { contact, phones, searchText };
}
