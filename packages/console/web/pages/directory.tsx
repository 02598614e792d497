// Directory: employees, ring groups, IVR, trunks, and API key rotation (the new key shown once).
import { useEffect, useState } from 'preact/hooks';
import {
  type Employee,
  get,
  type Ivr,
  post,
  type RingGroup,
  setRotatedKey,
  type Target,
  type Trunk,
} from '../api.ts';
import { t } from '../i18n.ts';
import { Action, Empty, ErrorBox, errText, Loading } from '../ui.tsx';

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
  const [emp, setEmp] = useState({ displayName: '', ext: '', email: '' });
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
  return (
    <section aria-labelledby="dir-h" class="stack">
      <h1 id="dir-h">{t('directory')}</h1>
      <ErrorBox error={error} />
      <h2>{t('employees')}</h2>
      <div class="table-wrap">
        <table data-testid="employees">
          <thead>
            <tr>
              <th>{t('ext')}</th>
              <th>{t('name')}</th>
              <th>{t('email')}</th>
              <th>{t('status')}</th>
            </tr>
          </thead>
          <tbody>
            {data.employees.map((e) => (
              <tr>
                <td>{e.ext}</td>
                <td>{e.displayName}</td>
                <td>{e.email ?? t('none')}</td>
                <td>{e.paused ? t('paused') : e.presence === 'online' ? t('online') : t('offline')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form
        class="row"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await post('/api/v1/employees', {
              displayName: emp.displayName.trim(),
              ext: emp.ext.trim(),
              ...(emp.email.trim() ? { email: emp.email.trim() } : {}),
            });
            setEmp({ displayName: '', ext: '', email: '' });
            await load();
          } catch (err) {
            setError(errText(err));
          }
        }}
      >
        <label>
          {t('name')}
          <input
            required
            value={emp.displayName}
            onInput={(e) => setEmp({ ...emp, displayName: e.currentTarget.value })}
          />
        </label>
        <label>
          {t('ext')}
          <input
            required
            size={6}
            value={emp.ext}
            onInput={(e) => setEmp({ ...emp, ext: e.currentTarget.value })}
          />
        </label>
        <label>
          {t('email')}
          <input
            type="email"
            value={emp.email}
            onInput={(e) => setEmp({ ...emp, email: e.currentTarget.value })}
          />
        </label>
        <button type="submit" class="plain">
          + {t('add')}
        </button>
      </form>

      <h2>{t('groups')}</h2>
      {data.groups.length === 0 ? (
        <Empty>{t('none')}</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>{t('ext')}</th>
                <th>{t('name')}</th>
                <th>{t('strategy')}</th>
                <th>{t('members')}</th>
              </tr>
            </thead>
            <tbody>
              {data.groups.map((g) => (
                <tr>
                  <td>{g.ext}</td>
                  <td>{g.name}</td>
                  <td>
                    {g.strategy}, {g.ringTimeoutSec} s
                  </td>
                  <td>{g.members.map(empName).join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>{t('ivr')}</h2>
      {data.ivr.length === 0 ? (
        <Empty>{t('none')}</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>{t('name')}</th>
                <th>{t('options')}</th>
                <th>{t('destination')}</th>
              </tr>
            </thead>
            <tbody>
              {data.ivr.map((i) => (
                <tr>
                  <td>
                    {i.name}
                    <div class="muted small">{i.greeting ?? ''}</div>
                  </td>
                  <td>
                    {i.options.map((o) => (
                      <div>
                        {o.digit} → {target(o.target)}
                      </div>
                    ))}
                  </td>
                  <td>
                    {target(i.defaultTarget)} ({i.timeoutSec} s)
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>{t('trunks')}</h2>
      {data.trunks.length === 0 ? (
        <Empty>{t('none')}</Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>{t('number')}</th>
                <th>{t('name')}</th>
                <th>{t('destination')}</th>
              </tr>
            </thead>
            <tbody>
              {data.trunks.map((tr) => (
                <tr>
                  <td>
                    {tr.number} {tr.isDefault ? <span class="muted small">({t('isDefault')})</span> : null}
                  </td>
                  <td>{tr.name}</td>
                  <td>{target(tr.destination)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

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
