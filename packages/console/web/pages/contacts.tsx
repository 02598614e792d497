// Contacts: search by name or number, view and edit fields, notes, import/export (JSON).
import { useEffect, useState } from 'preact/hooks';
import { api, type Contact, type ContactField, get, type Note, post, qs } from '../api.ts';
import { fmtDateTime, t } from '../i18n.ts';
import { Action, Empty, ErrorBox, errText, Loading } from '../ui.tsx';

const looksLikeNumber = (s: string) => /^[+\d][\d\s()-]{3,}$/.test(s.trim());
const nameOf = (c: Contact) =>
  [c.firstName, c.lastName].filter(Boolean).join(' ') || c.companyTitle || `#${c.id}`;
const phonesOf = (c: Contact) =>
  c.fields
    .filter((f) => /^(телефон|phone)$/i.test(f.enumCode))
    .flatMap((f) => f.values.map((v) => v.value))
    .filter(Boolean)
    .join(', ');

function Editor({ id, onChanged }: { id: number; onChanged: () => void }) {
  const [contact, setContact] = useState<Contact | null>(null);
  const [fields, setFields] = useState<ContactField[]>([]);
  const [notes, setNotes] = useState<Note[]>([]);
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);

  const load = async () => {
    try {
      const c = await get<Contact>(`/rest/crm/contacts/v2/${id}`);
      setContact(c);
      setFields(structuredClone(c.fields));
      setNotes(await get<Note[]>(`/rest/crm/contacts/v2/${id}/notes`));
      setError(null);
    } catch (e) {
      setError(errText(e));
    }
  };
  useEffect(() => {
    setContact(null);
    setSaved(false);
    void load();
  }, [id]);

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
            type="button"
            class="plain"
            onClick={() =>
              setFields([...fields, { enumCode: '', values: [{ enumValueCode: null, value: '' }] }])
            }
          >
            + {t('addField')}
          </button>
          <button type="submit" class="primary">
            {t('save')}
          </button>
          {saved ? (
            <span class="ok-note" role="status">
              {t('saved')}
            </span>
          ) : null}
          <Action
            kind="danger"
            onError={setError}
            onClick={async () => {
              if (!confirm(t('confirm'))) return;
              await api('DELETE', `/rest/crm/contacts/v2/${contact.id}`);
              onChanged();
            }}
          >
            {t('delete')}
          </Action>
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
  const [selected, setSelected] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [nonce, setNonce] = useState(0);
  const [creating, setCreating] = useState(false);
  const [info, setInfo] = useState<string | null>(null);

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
        <button type="button" class="plain" onClick={() => setCreating(!creating)}>
          + {t('newContact')}
        </button>
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
        <label class="plain">
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
          onDone={(name) => {
            setCreating(false);
            setQ(name);
            setQuery(name);
            setNonce(nonce + 1);
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
                    onClick={() => setSelected(c.id)}
                  >
                    <div>{nameOf(c)}</div>
                    <div class="muted small">
                      {phonesOf(c)} {c.companyTitle ? `· ${c.companyTitle}` : ''}
                    </div>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
        <div>
          {selected ? (
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

function NewContact({ onDone }: { onDone: (name: string) => void }) {
  const [first, setFirst] = useState('');
  const [last, setLast] = useState('');
  const [phone, setPhone] = useState('');
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      class="card row"
      style="margin-bottom:.75rem"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        const fields = [
          { enumCode: 'Имя', values: [{ enumValueCode: 'Имя', value: first }] },
          ...(last ? [{ enumCode: 'Фамилия', values: [{ enumValueCode: 'Фамилия', value: last }] }] : []),
          ...(phone ? [{ enumCode: 'Телефон', values: [{ enumValueCode: 'Рабочий', value: phone }] }] : []),
        ];
        try {
          const r = await post<{ failed: number; errors: unknown }>('/rest/crm/contacts/v2/batch', {
            merge: 0,
            contacts: [{ fields }],
          });
          if (r.failed) throw new Error(JSON.stringify(r.errors));
          onDone(first);
        } catch (err) {
          setError(errText(err));
        }
      }}
    >
      <label>
        {t('name')}
        <input required value={first} onInput={(e) => setFirst(e.currentTarget.value)} />
      </label>
      <label>
        Прізвище / Last name
        <input value={last} onInput={(e) => setLast(e.currentTarget.value)} />
      </label>
      <label>
        {t('number')}
        <input type="tel" value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
      </label>
      <button type="submit" class="primary">
        {t('add')}
      </button>
      <ErrorBox error={error} />
    </form>
  );
}
