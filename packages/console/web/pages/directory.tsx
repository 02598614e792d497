// Directory: employees, ring groups, IVR, trunks (each added, edited inline and deleted), and API
// key rotation (the new key shown once). Every change goes through the admin API, whose
// plain-text refusals (a taken ext, a member still in a group…) are shown as they are.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  type Account,
  api,
  type CarrierRegistration,
  type Employee,
  get,
  type Ivr,
  post,
  type RingGroup,
  setRotatedKey,
  type Target,
  type Trunk,
} from '../api.ts';
import { fmtDateTime, t } from '../i18n.ts';
import { Action, Empty, ErrorBox, errText, Loading, PhoneBadge } from '../ui.tsx';

interface Data {
  employees: Employee[];
  groups: RingGroup[];
  ivr: Ivr[];
  trunks: Trunk[];
}

export function DirectoryPage() {
  const [data, setData] = useState<Data | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [newKey, setNewKey] = useState<string | null>(null);
  /** The row being edited: `groups:3`, or `groups:new` for a new one. */
  const [editing, setEditing] = useState<string | null>(null);
  const load = async () => {
    try {
      const [employees, groups, ivr, trunks] = await Promise.all([
        get<Employee[]>('/api/v1/employees'),
        get<RingGroup[]>('/api/v1/groups'),
        get<Ivr[]>('/api/v1/ivr'),
        get<Trunk[]>('/api/v1/trunks'),
      ]);
      setData({ employees, groups, ivr, trunks });
    } catch (e) {
      setError(errText(e));
    }
  };
  useEffect(() => void load(), []);
  if (!data) return error ? <ErrorBox error={error} /> : <Loading />;
  const empName = (id: number) => data.employees.find((e) => e.id === id)?.displayName ?? `#${id}`;
  const target = (x: Target | null) => {
    if (!x) return t('none');
    if (x.type === 'employee') return `${t('employee')}: ${empName(x.id)}`;
    if (x.type === 'group') return `${t('groups')}: ${data.groups.find((g) => g.id === x.id)?.name ?? x.id}`;
    return `IVR: ${data.ivr.find((i) => i.id === x.id)?.name ?? x.id}`;
  };
  // What every table of the page shares: one row edited at a time, errors, reloading.
  const shared = { editing, setEditing, onError: setError, reload: load };
  return (
    <section aria-labelledby="dir-h" class="stack">
      <h1 id="dir-h">{t('directory')}</h1>
      <ErrorBox error={error} />
      <h2>{t('employees')}</h2>
      <Section
        testid="employees"
        kind="employees"
        rows={data.employees}
        {...shared}
        head={[t('ext'), t('name'), t('email'), t('status'), t('sipPhone')]}
        cells={(e) => [
          e.ext,
          e.displayName,
          e.email ?? t('none'),
          e.paused ? t('paused') : e.presence === 'online' ? t('online') : t('offline'),
          e.phone ? <PhoneBadge phone={e.phone} /> : t('none'),
        ]}
        editor={(e, done) => <EmployeeEditor employee={e} done={done} />}
        addLabel={t('employee')}
      />

      <h2>{t('groups')}</h2>
      <Section
        testid="groups"
        kind="groups"
        rows={data.groups}
        {...shared}
        head={[t('ext'), t('name'), t('strategy'), t('members')]}
        cells={(g) => [
          g.ext,
          g.name,
          `${t(`strategy_${g.strategy}` as 'strategy_sequential')}, ${g.ringTimeoutSec} s`,
          g.members.map(empName).join(', '),
        ]}
        editor={(g, done) => <GroupEditor data={data} group={g} done={done} />}
        addLabel={t('newGroup')}
      />

      <h2>{t('ivr')}</h2>
      <Section
        testid="ivr"
        kind="ivr"
        rows={data.ivr}
        {...shared}
        head={[t('name'), t('options'), t('destination')]}
        cells={(i) => [
          <>
            {i.name}
            <div class="muted small">{i.greeting ?? ''}</div>
          </>,
          i.options.map((o) => (
            <div>
              {o.digit} → {target(o.target)}
            </div>
          )),
          `${target(i.defaultTarget)} (${i.timeoutSec} s)`,
        ]}
        editor={(i, done) => <IvrEditor data={data} ivr={i} done={done} />}
        addLabel={t('newIvr')}
      />

      <h2>{t('trunks')}</h2>
      <Section
        testid="trunks"
        kind="trunks"
        rows={data.trunks}
        {...shared}
        head={[t('number'), t('name'), t('destination'), t('registration')]}
        cells={(tr) => [
          <>
            {tr.number} {tr.isDefault ? <span class="muted small">({t('isDefault')})</span> : null}
          </>,
          <>
            {tr.name}
            {tr.sipPeers?.length ? <span class="muted small"> · SIP {tr.sipPeers.join(', ')}</span> : null}
            {tr.sipCarrier ? (
              <span class="muted small">
                {' '}
                · → {tr.sipCarrier.host}:{tr.sipCarrier.port}
                {tr.sipCarrier.register ? ' (reg)' : ''}
              </span>
            ) : null}
          </>,
          target(tr.destination),
          tr.sipCarrier ? <RegistrationPill registration={tr.sipCarrier.registration} /> : null,
        ]}
        editor={(tr, done) => <TrunkEditor data={data} trunk={tr} done={done} />}
        addLabel={t('newTrunk')}
      />

      <PhonesSetting onError={setError} />

      <h2>{t('apiKeyRotation')}</h2>
      <div class="row">
        <Action
          kind="danger"
          onError={setError}
          onClick={async () => {
            if (!confirm(t('rotateConfirm'))) return;
            const r = await post<{ apiKey: string }>('/api/v1/account/rotate-key');
            setRotatedKey(r.apiKey);
            setNewKey(r.apiKey);
          }}
        >
          {t('rotate')}
        </Action>
      </div>
      {newKey ? (
        <div class="stack" role="status">
          <span>{t('newKey')}</span>
          <code class="key" data-testid="new-key">
            {newKey}
          </code>
        </div>
      ) : null}
    </section>
  );
}

/** The account's phones (simulated / real / hybrid, or the server's default): PATCH /api/v1/account. */
function PhonesSetting({ onError }: { onError: (e: string | null) => void }) {
  const [account, setAccount] = useState<Account | null>(null);
  useEffect(() => {
    get<Account>('/api/v1/account').then(setAccount, (e) => onError(errText(e)));
  }, []);
  if (!account?.phones) return null;
  const value = account.phonesDefault ? 'default' : account.phones;
  return (
    <>
      <h2>{t('phonesSetting')}</h2>
      <div class="row">
        <select
          aria-label={t('phonesSetting')}
          data-testid="phones-setting"
          value={value}
          onChange={async (ev) => {
            const v = (ev.target as HTMLSelectElement).value;
            try {
              setAccount(
                await api<Account>('PATCH', '/api/v1/account', { phones: v === 'default' ? null : v }),
              );
              onError(null);
            } catch (e) {
              onError(errText(e));
            }
          }}
        >
          <option value="default">
            {account.phonesDefault
              ? `${t('phonesDefault')}: ${t(`phones_${account.phones}`)}`
              : t('phonesDefault')}
          </option>
          {(['hybrid', 'real', 'simulated'] as const).map((m) => (
            <option value={m}>{t(`phones_${m}`)}</option>
          ))}
        </select>
        <span class="muted small">{t('phonesHint')}</span>
      </div>
    </>
  );
}

/** A trunk's registration at its carrier: registered (until when), failed (why, on hover), pending, off. */
function RegistrationPill({ registration: r }: { registration: CarrierRegistration }) {
  if (r.state === 'off') return <span class="muted small">{t('regOff')}</span>;
  const label = { registered: t('regRegistered'), failed: t('regFailed'), pending: t('regPending') }[r.state];
  return (
    <span
      class={`status-pill ${r.state}`}
      data-testid="trunk-registration"
      data-state={r.state}
      title={r.state === 'failed' ? (r.lastError ?? '') : undefined}
    >
      {label}
      {r.state === 'registered' && r.expiresAt ? ` ${t('regUntil')} ${fmtDateTime(r.expiresAt)}` : ''}
      {r.state === 'failed' && r.lastStatus ? ` (${r.lastStatus})` : ''}
    </span>
  );
}

type Kind = 'employees' | 'groups' | 'ivr' | 'trunks';

/**
 * A directory table whose rows are edited in place: "Edit" opens the row's editor below it,
 * "+ …" opens an empty one, "Delete" asks first. `done(body)` saves (POST for a new row, PATCH
 * otherwise) and closes the editor; `done(null)` only closes it.
 */
function Section<T extends { id: number }>(props: {
  testid: string;
  kind: Kind;
  rows: T[];
  editing: string | null;
  setEditing: (k: string | null) => void;
  onError: (e: string | null) => void;
  reload: () => Promise<void>;
  head: string[];
  cells: (row: T) => ComponentChildren[];
  editor: (row: T | null, done: (body: unknown | null) => Promise<void>) => ComponentChildren;
  addLabel: string;
}) {
  const { kind, editing, setEditing } = props;
  const done = (row: T | null) => async (body: unknown | null) => {
    if (body !== null) {
      if (row) await api('PATCH', `/api/v1/${kind}/${row.id}`, body);
      else await post(`/api/v1/${kind}`, body);
      await props.reload();
    }
    setEditing(null);
  };
  const cols = props.head.length + 1;
  return (
    <div class="stack">
      {props.rows.length === 0 ? <Empty>{t('none')}</Empty> : null}
      <div class="table-wrap" hidden={props.rows.length === 0}>
        <table data-testid={props.testid}>
          <thead>
            <tr>
              {props.head.map((h) => (
                <th>{h}</th>
              ))}
              <th />
            </tr>
          </thead>
          <tbody>
            {props.rows.map((row) =>
              editing === `${kind}:${row.id}` ? (
                <tr key={row.id}>
                  <td colSpan={cols}>{props.editor(row, done(row))}</td>
                </tr>
              ) : (
                <tr key={row.id}>
                  {props.cells(row).map((c) => (
                    <td>{c}</td>
                  ))}
                  <td class="row">
                    <button type="button" class="plain" onClick={() => setEditing(`${kind}:${row.id}`)}>
                      {t('edit')}
                    </button>
                    <Action
                      kind="danger"
                      onError={props.onError}
                      onClick={async () => {
                        if (!confirm(t('confirm'))) return;
                        await api('DELETE', `/api/v1/${kind}/${row.id}`);
                        await props.reload();
                      }}
                    >
                      {t('delete')}
                    </Action>
                  </td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      </div>
      {editing === `${kind}:new` ? (
        props.editor(null, done(null))
      ) : (
        <div class="row">
          <button type="button" class="plain" onClick={() => setEditing(`${kind}:new`)}>
            + {props.addLabel}
          </button>
        </div>
      )}
    </div>
  );
}

/** The editor's frame: its fields, Save and Cancel, and the server's refusal if any. */
function EditorForm(props: {
  testid: string;
  children: ComponentChildren;
  save: () => unknown;
  done: (body: unknown | null) => Promise<void>;
}) {
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      class="card stack"
      data-testid={props.testid}
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        try {
          await props.done(props.save());
        } catch (err) {
          setError(errText(err));
        }
      }}
    >
      <div class="row" style="align-items:flex-start">
        {props.children}
      </div>
      <div class="row">
        <button type="submit" class="primary">
          {t('save')}
        </button>
        <button type="button" class="plain" onClick={() => void props.done(null)}>
          {t('cancel')}
        </button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}

/** A labelled control: the control comes as the child, inside the label. */
function Field(props: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is the child (inside the label)
    <label>
      {props.label}
      {props.children}
    </label>
  );
}

/** Where calls go: an employee, a ring group or an IVR scenario (or nowhere). */
function TargetSelect(props: {
  data: Data;
  label: string;
  value: Target | null;
  onChange: (v: Target | null) => void;
}) {
  const { data } = props;
  return (
    <Field label={props.label}>
      <select
        value={props.value ? `${props.value.type}:${props.value.id}` : ''}
        onChange={(e) => {
          const [type, id] = e.currentTarget.value.split(':');
          props.onChange(type ? { type: type as Target['type'], id: Number(id) } : null);
        }}
      >
        <option value="">{t('none')}</option>
        <optgroup label={t('employees')}>
          {data.employees.map((e) => (
            <option value={`employee:${e.id}`}>
              {e.ext} {e.displayName}
            </option>
          ))}
        </optgroup>
        <optgroup label={t('groups')}>
          {data.groups.map((g) => (
            <option value={`group:${g.id}`}>
              {g.ext} {g.name}
            </option>
          ))}
        </optgroup>
        <optgroup label={t('ivr')}>
          {data.ivr.map((i) => (
            <option value={`ivr:${i.id}`}>{i.name}</option>
          ))}
        </optgroup>
      </select>
    </Field>
  );
}

const text = (set: (v: string) => void) => (e: { currentTarget: { value: string } }) =>
  set(e.currentTarget.value);

function EmployeeEditor(props: { employee: Employee | null; done: (b: unknown | null) => Promise<void> }) {
  const e = props.employee;
  const [displayName, setName] = useState(e?.displayName ?? '');
  const [ext, setExt] = useState(e?.ext ?? '');
  const [email, setEmail] = useState(e?.email ?? '');
  return (
    <EditorForm
      testid="employee-editor"
      done={props.done}
      save={() => ({ displayName: displayName.trim(), ext: ext.trim(), email: email.trim() || null })}
    >
      <Field label={t('name')}>
        <input required value={displayName} onInput={text(setName)} />
      </Field>
      <Field label={t('ext')}>
        <input required size={6} value={ext} onInput={text(setExt)} />
      </Field>
      <Field label={t('email')}>
        <input type="email" value={email} onInput={text(setEmail)} />
      </Field>
    </EditorForm>
  );
}

const STRATEGIES = ['simultaneous', 'sequential', 'round-robin'] as const;

function GroupEditor(props: {
  data: Data;
  group: RingGroup | null;
  done: (b: unknown | null) => Promise<void>;
}) {
  const g = props.group;
  const [name, setName] = useState(g?.name ?? '');
  const [ext, setExt] = useState(g?.ext ?? '');
  const [strategy, setStrategy] = useState(g?.strategy ?? 'simultaneous');
  const [ring, setRing] = useState(String(g?.ringTimeoutSec ?? 20));
  const [members, setMembers] = useState<number[]>(g?.members ?? []);
  return (
    <EditorForm
      testid="group-editor"
      done={props.done}
      save={() => ({ name: name.trim(), ext: ext.trim(), strategy, ringTimeoutSec: Number(ring), members })}
    >
      <Field label={t('name')}>
        <input required value={name} onInput={text(setName)} />
      </Field>
      <Field label={t('ext')}>
        <input required size={6} value={ext} onInput={text(setExt)} />
      </Field>
      <Field label={t('strategy')}>
        <select value={strategy} onChange={text(setStrategy)}>
          {STRATEGIES.map((s) => (
            <option value={s}>{t(`strategy_${s}`)}</option>
          ))}
        </select>
      </Field>
      <Field label={t('ringTimeoutSec')}>
        <input type="number" min={5} max={600} size={4} value={ring} onInput={text(setRing)} />
      </Field>
      <fieldset>
        <legend>
          {t('members')} <span class="muted small">({t('membersHint')})</span>
        </legend>
        {props.data.employees.map((e) => (
          <label class="check">
            <input
              type="checkbox"
              checked={members.includes(e.id)}
              onChange={(ev) =>
                setMembers(ev.currentTarget.checked ? [...members, e.id] : members.filter((m) => m !== e.id))
              }
            />
            {e.ext} {e.displayName}
            {members.includes(e.id) ? <span class="muted small"> #{members.indexOf(e.id) + 1}</span> : null}
          </label>
        ))}
      </fieldset>
    </EditorForm>
  );
}

const DIGITS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '*', '#'];

/**
 * An IVR's recorded greeting (what real callers hear): uploaded as soon as it is chosen, played
 * back here, removed. Apart from the form's Save: the file is not part of the scenario's JSON.
 */
function GreetingAudio(props: { ivrId: number }) {
  const path = `/api/v1/ivr/${props.ivrId}/greeting-audio`;
  const [version, setVersion] = useState(0);
  const [present, setPresent] = useState<boolean | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    fetch(path, { method: 'HEAD', credentials: 'same-origin' }).then(
      (r) => setPresent(r.ok),
      () => setPresent(false),
    );
  }, [path, version]);
  const run = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      setVersion(version + 1);
    } catch (err) {
      setError(errText(err));
    }
  };
  return (
    <fieldset class="stack" data-testid="ivr-greeting-audio">
      <legend>{t('greetingAudio')}</legend>
      {present ? (
        <div class="row">
          <span>{t('greetingAudioSet')}</span>
          {/* biome-ignore lint/a11y/useMediaCaption: a greeting without words to caption */}
          <audio controls preload="none" src={`${path}?v=${version}`} />
          <button type="button" class="plain" onClick={() => run(() => api('DELETE', path))}>
            {t('removeGreeting')}
          </button>
        </div>
      ) : present === false ? (
        <span class="muted small">{t('greetingAudioNone')}</span>
      ) : null}
      <label>
        {t('uploadGreeting')}
        <input
          type="file"
          accept="audio/wav,.wav"
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            e.currentTarget.value = '';
            if (file) void run(() => api('PUT', path, undefined, new Blob([file], { type: 'audio/wav' })));
          }}
        />
      </label>
      <ErrorBox error={error} />
    </fieldset>
  );
}

function IvrEditor(props: { data: Data; ivr: Ivr | null; done: (b: unknown | null) => Promise<void> }) {
  const i = props.ivr;
  const [name, setName] = useState(i?.name ?? '');
  const [greeting, setGreeting] = useState(i?.greeting ?? '');
  const [timeout, setTimeoutSec] = useState(String(i?.timeoutSec ?? 8));
  const [options, setOptions] = useState<{ digit: string; target: Target | null }[]>(i?.options ?? []);
  const [fallback, setFallback] = useState<Target | null>(i?.defaultTarget ?? null);
  const setOption = (n: number, o: { digit: string; target: Target | null }) =>
    setOptions(options.map((x, k) => (k === n ? o : x)));
  return (
    <EditorForm
      testid="ivr-editor"
      done={props.done}
      save={() => ({
        name: name.trim(),
        greeting: greeting.trim() || null,
        timeoutSec: Number(timeout),
        // A choice without a destination is left out rather than refused.
        options: options.filter((o) => o.target).map((o) => ({ digit: o.digit, target: o.target })),
        defaultTarget: fallback,
      })}
    >
      <Field label={t('name')}>
        <input required value={name} onInput={text(setName)} />
      </Field>
      <Field label={t('greeting')}>
        <input value={greeting} onInput={text(setGreeting)} />
      </Field>
      <Field label={t('timeoutSec')}>
        <input type="number" min={1} max={120} size={4} value={timeout} onInput={text(setTimeoutSec)} />
      </Field>
      <TargetSelect data={props.data} label={t('ifNoDigit')} value={fallback} onChange={setFallback} />
      {i ? <GreetingAudio ivrId={i.id} /> : null}
      <fieldset class="stack">
        <legend>{t('options')}</legend>
        {options.map((o, n) => (
          <div class="row" data-testid="ivr-option">
            <Field label={t('digit')}>
              <select value={o.digit} onChange={(e) => setOption(n, { ...o, digit: e.currentTarget.value })}>
                {DIGITS.map((d) => (
                  <option value={d}>{d}</option>
                ))}
              </select>
            </Field>
            <TargetSelect
              data={props.data}
              label={t('destination')}
              value={o.target}
              onChange={(target) => setOption(n, { ...o, target })}
            />
            <button
              type="button"
              class="plain"
              aria-label={`${t('removeOption')} ${o.digit}`}
              onClick={() => setOptions(options.filter((_, k) => k !== n))}
            >
              ✕
            </button>
          </div>
        ))}
        <div>
          <button
            type="button"
            class="plain"
            onClick={() =>
              setOptions([
                ...options,
                { digit: DIGITS.find((d) => !options.some((o) => o.digit === d)) ?? '1', target: null },
              ])
            }
          >
            + {t('addOption')}
          </button>
        </div>
      </fieldset>
    </EditorForm>
  );
}

function TrunkEditor(props: { data: Data; trunk: Trunk | null; done: (b: unknown | null) => Promise<void> }) {
  const tr = props.trunk;
  const [number, setNumber] = useState(tr?.number ?? '');
  const [name, setName] = useState(tr?.name ?? '');
  const [destination, setDestination] = useState<Target | null>(tr?.destination ?? null);
  const [isDefault, setDefault] = useState(tr?.isDefault ?? false);
  const [peers, setPeers] = useState((tr?.sipPeers ?? []).join(', '));
  const [didFrom, setDidFrom] = useState<Trunk['sipDidFrom']>(tr?.sipDidFrom ?? 'either');
  const sipPeers = () =>
    peers
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
  const carrier = tr?.sipCarrier ?? null;
  const [host, setHost] = useState(carrier?.host ?? '');
  const [port, setPort] = useState(String(carrier?.port ?? 5060));
  const [transport, setTransport] = useState<'udp' | 'tcp'>(carrier?.transport ?? 'udp');
  const [user, setUser] = useState(carrier?.username ?? '');
  const [password, setPassword] = useState('');
  const [register, setRegister] = useState(carrier?.register ?? false);
  // Empty host: no carrier (calls out simulated). A password left empty stays as stored.
  const sipCarrier = () =>
    host.trim()
      ? {
          host: host.trim(),
          port: Number(port) || 5060,
          transport,
          username: user.trim() || null,
          ...(password ? { password } : {}),
          register,
        }
      : null;
  return (
    <EditorForm
      testid="trunk-editor"
      done={props.done}
      save={() => ({
        number: number.trim(),
        name: name.trim(),
        destination,
        isDefault,
        sipPeers: sipPeers(),
        sipDidFrom: didFrom,
        sipCarrier: sipCarrier(),
      })}
    >
      <Field label={t('number')}>
        <input required placeholder="+380…" value={number} onInput={text(setNumber)} />
      </Field>
      <Field label={t('name')}>
        <input required value={name} onInput={text(setName)} />
      </Field>
      <TargetSelect
        data={props.data}
        label={t('destination')}
        value={destination}
        onChange={setDestination}
      />
      <label class="check">
        <input type="checkbox" checked={isDefault} onChange={(e) => setDefault(e.currentTarget.checked)} />
        {t('isDefault')}
      </label>
      <Field label={t('sipPeers')}>
        <input
          data-testid="trunk-sip-peers"
          placeholder="203.0.113.7"
          value={peers}
          onInput={text(setPeers)}
        />
      </Field>
      <Field label={t('sipDidFrom')}>
        <select
          data-testid="trunk-did-from"
          value={didFrom}
          onChange={(e) => setDidFrom(e.currentTarget.value as Trunk['sipDidFrom'])}
        >
          <option value="either">{t('didEither')}</option>
          <option value="request-uri">{t('didRequestUri')}</option>
          <option value="to">{t('didTo')}</option>
        </select>
      </Field>
      <fieldset>
        <legend>{t('sipCarrier')}</legend>
        <Field label={t('carrierHost')}>
          <input placeholder="sip.carrier.example" value={host} onInput={text(setHost)} />
        </Field>
        <Field label={t('carrierPort')}>
          <input type="number" min={1} max={65535} value={port} onInput={text(setPort)} />
        </Field>
        <Field label={t('carrierTransport')}>
          <select
            data-testid="trunk-carrier-transport"
            value={transport}
            onChange={(e) => setTransport(e.currentTarget.value as 'udp' | 'tcp')}
          >
            <option value="udp">UDP</option>
            <option value="tcp">TCP</option>
          </select>
        </Field>
        <Field label={t('carrierUser')}>
          <input autocomplete="off" value={user} onInput={text(setUser)} />
        </Field>
        <Field label={t('carrierPassword')}>
          <input
            type="password"
            autocomplete="new-password"
            placeholder={carrier?.hasPassword ? t('carrierPasswordKept') : ''}
            value={password}
            onInput={text(setPassword)}
          />
        </Field>
        <label class="check">
          <input type="checkbox" checked={register} onChange={(e) => setRegister(e.currentTarget.checked)} />
          {t('carrierRegister')}
        </label>
      </fieldset>
    </EditorForm>
  );
}
