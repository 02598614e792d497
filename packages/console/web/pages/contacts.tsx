// Contacts: search by name or number, view and edit fields, notes, import/export (JSON).
// The hash says what is open, so call events can link here: `#/contacts?id=5` opens contact 5,
// `#/contacts?new=%2B380501234567` a new contact with that number (issue #13).
import { useEffect, useState } from 'preact/hooks';
import {
  ApiError,
  api,
  type Contact,
  type ContactField,
  employeeSession,
  get,
  type Note,
  post,
  qs,
} from '../api.ts';
import { fmtDateTime, t } from '../i18n.ts';
import * as phone from '../phone/phone-store.ts';
import { go, hash, hashParams } from '../route.ts';
import { useSignal } from '../signal.ts';
import { Action, Empty, ErrorBox, errText, Loading } from '../ui.tsx';

const looksLikeNumber = (s: string) => /^[+\d][\d\s()-]{3,}$/.test(s.trim());
/** A phone number as typed or linked (`+380 50 123-45-67`) without its separators; null if none. */
const phoneOf = (s: string) => {
  const d = s.trim().replace(/[\s().-]/g, '');
  return /^\+?\d{5,15}$/.test(d) ? d : null;
};
const nameOf = (c: Contact) =>
  [c.firstName, c.lastName].filter(Boolean).join(' ') || c.companyTitle || `#${c.id}`;
const phonesOf = (c: Contact) =>
  c.fields
    .filter((f) => /^(телефон|phone)$/i.test(f.enumCode))
    .flatMap((f) => f.values.map((v) => v.value))
    .filter(Boolean)
    .join(', ');
const fill = (label: string, v: string) => label.replace('{v}', v);

/** Click-to-call from a contact: the signed-in employee's browser phone dials the number. */
function CallButton({ c }: { c: Contact }) {
  const s = useSignal(phone.status);
  const num = phonesOf(c).split(', ')[0];
  if (s.kind !== 'registered' || !num) return null;
  return (
    <button
      type="button"
      class="plain"
      data-testid="contact-call"
      aria-label={`${t('call')} ${nameOf(c)}`}
      onClick={() => {
        void phone.dial(num);
        go('#/phone');
      }}
    >
      📞
    </button>
  );
}

function Editor({ id, onChanged }: { id: number; onChanged: () => void }) {
  const readOnly = useSignal(employeeSession) !== null;
  const [contact, setContact] = useState<Contact | null>(null);
  const [fields, setFields] = useState<ContactField[]>([]);
  const [notes, setNotes] = useState<Note[]>([]);
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  const [saved, setSaved] = useState(false);

  const load = async () => {
    try {
      const c = await get<Contact>(`/rest/crm/contacts/v2/${id}`);
      setContact(c);
      setFields(structuredClone(c.fields));
      setNotes(await get<Note[]>(`/rest/crm/contacts/v2/${id}/notes`));
      setError(null);
    } catch (e) {
      // A link to a contact of another account, or one deleted since, answers 404.
      setMissing(e instanceof ApiError && e.status === 404);
      setError(errText(e));
    }
  };
  useEffect(() => {
    setContact(null);
    setMissing(false);
    setError(null);
    setSaved(false);
    void load();
  }, [id]);

  if (!contact && missing) return <Missing text={fill(t('contactNotFound'), String(id))} />;
  if (!contact) return error ? <ErrorBox error={error} /> : <Loading />;
  const update = (fi: number, vi: number, key: 'value' | 'enumValueCode', v: string) => {
    const next = structuredClone(fields);
    next[fi].values[vi][key] = v;
    setFields(next);
    setSaved(false);
  };
  return (
    <div class="card stack" data-testid="contact-editor">
      <h2>{nameOf(contact)}</h2>
      <p class="muted small">
        #{contact.id} · {fmtDateTime(contact.lastModified)}
      </p>
      <form
        class="stack"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await post('/rest/crm/contacts/v2/', { id: contact.id, fields });
            setSaved(true);
            await load();
            onChanged();
          } catch (err) {
            setError(errText(err));
          }
        }}
      >
        <h3 class="small muted">{t('fields')}</h3>
        {fields.map((f, fi) => (
          <fieldset class="stack" data-field={f.enumCode}>
            <legend>
              {f.id ? (
                f.enumCode
              ) : (
                <input
                  aria-label={t('name')}
                  value={f.enumCode}
                  onInput={(e) => {
                    const next = structuredClone(fields);
                    next[fi].enumCode = e.currentTarget.value;
                    setFields(next);
                  }}
                />
              )}
            </legend>
            {f.values.map((v, vi) => (
              <div class="row">
                <input
                  aria-label={`${f.enumCode} ${vi + 1}`}
                  name={`field-${f.enumCode}-${vi}`}
                  value={v.value ?? ''}
                  onInput={(e) => update(fi, vi, 'value', e.currentTarget.value)}
                />
                <input
                  aria-label={`${f.enumCode} ${vi + 1} type`}
                  class="small"
                  size={10}
                  value={v.enumValueCode ?? ''}
                  onInput={(e) => update(fi, vi, 'enumValueCode', e.currentTarget.value)}
                />
              </div>
            ))}
            <button
              hidden={readOnly}
              type="button"
              class="plain small"
              onClick={() => {
                const next = structuredClone(fields);
                next[fi].values.push({ enumValueCode: next[fi].values[0]?.enumValueCode ?? null, value: '' });
                setFields(next);
              }}
            >
              + {t('addValue')}
            </button>
          </fieldset>
        ))}
        <div class="row">
          <button
            hidden={readOnly}
            type="button"
            class="plain"
            onClick={() =>
              setFields([...fields, { enumCode: '', values: [{ enumValueCode: null, value: '' }] }])
            }
          >
            + {t('addField')}
          </button>
          <button type="submit" class="primary" hidden={readOnly}>
            {t('save')}
          </button>
          {saved ? (
            <span class="ok-note" role="status">
              {t('saved')}
            </span>
          ) : null}
          {readOnly ? null : (
            <Action
              kind="danger"
              onError={setError}
              onClick={async () => {
                if (!confirm(t('confirm'))) return;
                await api('DELETE', `/rest/crm/contacts/v2/${contact.id}`);
                onChanged();
                go('#/contacts', true);
              }}
            >
              {t('delete')}
            </Action>
          )}
        </div>
      </form>
      <ErrorBox error={error} />
      <h3>{t('notes')}</h3>
      {notes.length === 0 ? <p class="muted">{t('noNotes')}</p> : null}
      <ul class="list">
        {notes.map((n) => (
          <li class="note" style="padding:.5rem .75rem">
            <div class="muted small">{fmtDateTime(n.dateCreate)}</div>
            <div>{n.content}</div>
          </li>
        ))}
      </ul>
      <form
        class="row"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!note.trim()) return;
          try {
            await post(`/rest/crm/contacts/v2/${contact.id}/notes`, { content: note.trim(), noteType: 0 });
            setNote('');
            setNotes(await get<Note[]>(`/rest/crm/contacts/v2/${contact.id}/notes`));
          } catch (err) {
            setError(errText(err));
          }
        }}
      >
        <textarea
          aria-label={t('addNote')}
          name="note"
          rows={2}
          style="flex:1"
          value={note}
          onInput={(e) => setNote(e.currentTarget.value)}
        />
        <button type="submit" class="plain">
          {t('addNote')}
        </button>
      </form>
    </div>
  );
}

export function ContactsPage() {
  const [q, setQ] = useState('');
  const [query, setQuery] = useState('');
  const [list, setList] = useState<Contact[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [nonce, setNonce] = useState(0);
  const [info, setInfo] = useState<string | null>(null);
  // What is open comes from the hash: `?id=` a contact, `?new=` (maybe empty) the new-contact form.
  const params = hashParams(useSignal(hash));
  const idParam = params.id;
  const selected = idParam !== undefined && /^[1-9]\d{0,14}$/.test(idParam) ? Number(idParam) : null;
  // An employee's own session reads the book (and adds notes); it does not edit contacts.
  const readOnly = useSignal(employeeSession) !== null;
  const creating = params.new !== undefined && !readOnly;

  useEffect(() => {
    let stale = false;
    const path = looksLikeNumber(query)
      ? `/rest/crm/contacts/v2/searchByOLNum${qs({ otherLegNum: query.trim() })}`
      : `/rest/crm/contacts/v2/${qs({ searchText: query.trim() || undefined, limit: 60 })}`;
    get<Contact[]>(path).then(
      (r) => {
        if (stale) return;
        setList(r);
        setError(null);
      },
      (e) => !stale && setError(errText(e)),
    );
    return () => {
      stale = true;
    };
  }, [query, nonce]);

  return (
    <section aria-labelledby="contacts-h">
      <div class="page-head">
        <h1 id="contacts-h">{t('contacts')}</h1>
      </div>
      <div class="row" style="margin-bottom:.75rem">
        <form
          class="row"
          aria-label={t('search')}
          onSubmit={(e) => {
            e.preventDefault();
            setQuery(q);
          }}
        >
          <input
            type="search"
            name="q"
            aria-label={t('search')}
            placeholder={t('search')}
            value={q}
            onInput={(e) => setQ(e.currentTarget.value)}
          />
          <button type="submit" class="primary">
            {t('searchBtn')}
          </button>
        </form>
        {readOnly ? null : (
          <button
            type="button"
            class="plain"
            aria-expanded={creating}
            onClick={() => go(creating ? '#/contacts' : '#/contacts?new=')}
          >
            + {t('newContact')}
          </button>
        )}
        <button
          type="button"
          class="plain"
          onClick={() => {
            const blob = new Blob([JSON.stringify(list ?? [], null, 2)], { type: 'application/json' });
            const a = document.createElement('a');
            a.href = URL.createObjectURL(blob);
            a.download = 'contacts.json';
            a.click();
            URL.revokeObjectURL(a.href);
          }}
        >
          {t('export')}
        </button>
        <label class="plain" hidden={readOnly}>
          <span class="muted small">{t('importBtn')}</span>
          <input
            type="file"
            accept="application/json"
            onChange={async (e) => {
              const file = e.currentTarget.files?.[0];
              if (!file) return;
              try {
                const parsed = JSON.parse(await file.text()) as Contact[];
                const contacts = parsed.map((c) => ({
                  fields: c.fields.map((f) => ({
                    enumCode: f.enumCode,
                    values: f.values.map((v) => ({ enumValueCode: v.enumValueCode, value: v.value })),
                  })),
                }));
                const r = await post<{ succeeded: number; failed: number }>('/rest/crm/contacts/v2/batch', {
                  merge: 1,
                  contacts,
                });
                setInfo(`${t('imported')}: ${r.succeeded} / ${r.succeeded + r.failed}`);
                setNonce(nonce + 1);
              } catch (err) {
                setError(errText(err));
              }
            }}
          />
        </label>
        {info ? <span class="ok-note">{info}</span> : null}
      </div>
      {creating ? (
        <NewContact
          key={params.new}
          linked={params.new ?? ''}
          onDone={(id, shown) => {
            setQ(shown);
            setQuery(shown);
            setNonce(nonce + 1);
            go(id ? `#/contacts?id=${id}` : '#/contacts', true);
          }}
        />
      ) : null}
      <ErrorBox error={error} />
      <div class="grid2">
        <div>
          {list === null ? (
            <Loading />
          ) : list.length === 0 ? (
            <Empty>{t('noContacts')}</Empty>
          ) : (
            <ul class="list" data-testid="contact-list">
              {list.map((c) => (
                <li>
                  <button
                    type="button"
                    class="item"
                    aria-current={selected === c.id}
                    onClick={() => go(`#/contacts?id=${c.id}`)}
                  >
                    <div>{nameOf(c)}</div>
                    <div class="muted small">
                      {phonesOf(c)} {c.companyTitle ? `· ${c.companyTitle}` : ''}
                    </div>
                  </button>
                  <CallButton c={c} />
                </li>
              ))}
            </ul>
          )}
        </div>
        <div>
          {idParam !== undefined && selected === null ? (
            <Missing text={fill(t('badContactId'), idParam)} />
          ) : selected ? (
            <Editor
              id={selected}
              onChanged={() => {
                setNonce(nonce + 1);
              }}
            />
          ) : (
            <Empty>{t('selectContact')}</Empty>
          )}
        </div>
      </div>
    </section>
  );
}

/** Where a link named no contact we can open: says so, and leads back to the list. */
function Missing({ text }: { text: string }) {
  return (
    <div class="card stack" data-testid="contact-missing">
      <ErrorBox error={text} />
      <a href="#/contacts">{t('allContacts')}</a>
    </div>
  );
}

/**
 * The new-contact form. `linked` is the `?new=` value of the hash: a number to pre-fill (a call
 * from someone no CRM knows links here), empty for the toolbar's button, or anything else someone
 * typed into a URL, which is said to be no number. Creation goes through the documented batch
 * upload, which answers counts, not ids: the new contact is then found by its number (or name).
 */
function NewContact({
  linked,
  onDone,
}: {
  linked: string;
  onDone: (id: number | null, shown: string) => void;
}) {
  const linkedPhone = linked ? phoneOf(linked) : null;
  const [first, setFirst] = useState('');
  const [last, setLast] = useState('');
  const [phone, setPhone] = useState(linkedPhone ?? '');
  const [error, setError] = useState<string | null>(null);
  const [known, setKnown] = useState<Contact[]>([]);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    // Someone may have added the number since the call's link was made.
    if (!linkedPhone) return;
    let stale = false;
    get<Contact[]>(`/rest/crm/contacts/v2/searchByOLNum${qs({ otherLegNum: linkedPhone })}`).then(
      (r) => !stale && setKnown(r),
      () => {},
    );
    return () => {
      stale = true;
    };
  }, [linkedPhone]);
  return (
    <form
      class="card stack"
      style="margin-bottom:.75rem"
      aria-label={t('newContact')}
      data-testid="new-contact"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        const num = phone.trim();
        if (num && !phoneOf(num)) return setError(fill(t('notANumber'), num));
        const fields = [
          { enumCode: 'Имя', values: [{ enumValueCode: 'Имя', value: first.trim() }] },
          ...(last.trim()
            ? [{ enumCode: 'Фамилия', values: [{ enumValueCode: 'Фамилия', value: last.trim() }] }]
            : []),
          ...(num ? [{ enumCode: 'Телефон', values: [{ enumValueCode: 'Рабочий', value: num }] }] : []),
        ];
        setBusy(true);
        try {
          const r = await post<{ failed: number; errors: { reason: string }[] }>(
            '/rest/crm/contacts/v2/batch',
            {
              merge: 0,
              contacts: [{ fields }],
            },
          );
          if (r.failed) throw new Error(r.errors.map((x) => x.reason).join('; ') || JSON.stringify(r.errors));
          const found = num
            ? await get<Contact[]>(
                `/rest/crm/contacts/v2/searchByOLNum${qs({ otherLegNum: num, limit: 60 })}`,
              )
            : await get<Contact[]>(`/rest/crm/contacts/v2/${qs({ searchText: first.trim(), limit: 60 })}`);
          const mine = found.filter((c) => c.firstName === first.trim()).sort((a, b) => b.id - a.id)[0];
          onDone(mine?.id ?? null, num || first.trim());
        } catch (err) {
          setError(errText(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>{linkedPhone ? fill(t('newContactFor'), linkedPhone) : t('newContact')}</h2>
      {linked && !linkedPhone ? (
        <p class="error" role="alert" data-testid="not-a-number">
          {fill(t('notANumber'), linked)}
        </p>
      ) : null}
      {known.length ? (
        <p class="muted" role="status">
          {t('alreadyKnown')}{' '}
          {known.map((c, i) => (
            <>
              {i ? ', ' : ''}
              <a href={`#/contacts?id=${c.id}`}>{nameOf(c)}</a>
            </>
          ))}
        </p>
      ) : null}
      <div class="row">
        <label>
          {t('firstName')}
          <input
            name="firstName"
            required
            value={first}
            onInput={(e) => setFirst(e.currentTarget.value)}
            // biome-ignore lint/a11y/noAutofocus: the form opens on the user's click or link; the name is what is missing
            autoFocus
          />
        </label>
        <label>
          {t('lastName')}
          <input name="lastName" value={last} onInput={(e) => setLast(e.currentTarget.value)} />
        </label>
        <label>
          {t('phone')}
          <input name="phone" type="tel" value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
        </label>
      </div>
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          {t('add')}
        </button>
        <a href="#/contacts">{t('cancel')}</a>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}
