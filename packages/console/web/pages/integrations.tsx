// Integrations: CRM connections (URLs, priority, secret), "send test", the delivery log with
// status/latency/response, every attempt of a delivery, and replay; the call-tracking number pool.
import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  api,
  type CrmConnection,
  type Delivery,
  type DeliveryAttempt,
  get,
  post,
  qs,
  type TrackingNumber,
} from '../api.ts';
import { fmtDateTime, t } from '../i18n.ts';
import { Action, Empty, ErrorBox, errText, Loading } from '../ui.tsx';

/** Every attempt of one delivery, oldest first; loaded again when the attempt count changes. */
function Attempts({ id, attempts }: { id: number; attempts: number }) {
  const [rows, setRows] = useState<DeliveryAttempt[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stale = false;
    get<DeliveryAttempt[]>(`/api/v1/deliveries/${id}/attempts`).then(
      (r) => !stale && setRows(r),
      (e) => !stale && setError(errText(e)),
    );
    return () => {
      stale = true;
    };
  }, [id, attempts]);
  if (error) return <ErrorBox error={error} />;
  if (rows === null) return <Loading />;
  return (
    <table data-testid="delivery-attempts" class="small">
      <tbody>
        {rows.map((a) => (
          <tr key={a.attempt} data-testid="delivery-attempt">
            <td>{a.attempt}</td>
            <td>{fmtDateTime(a.at)}</td>
            <td>{a.status ?? t('none')}</td>
            <td>{a.latencyMs === null ? t('none') : `${a.latencyMs} ms`}</td>
            <td style="max-width:24rem;word-break:break-word">
              {a.error ? <div>{a.error}</div> : null}
              {a.responseExcerpt ? <code>{a.responseExcerpt}</code> : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DeliveryLog({ conn, nonce }: { conn: CrmConnection; nonce: number }) {
  const [rows, setRows] = useState<Delivery[] | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let stale = false;
    const load = () =>
      get<Delivery[]>(`/api/v1/crm-connections/${conn.id}/deliveries${qs({ limit: 50 })}`).then(
        (r) => {
          if (stale) return;
          setRows(r);
          setError(null);
        },
        (e) => !stale && setError(errText(e)),
      );
    void load();
    const id = setInterval(load, 1000);
    return () => {
      stale = true;
      clearInterval(id);
    };
  }, [conn.id, nonce, n]);
  const refresh = () => setN(n + 1);
  return (
    <div class="stack">
      <div class="row">
        <h2 style="margin:0">
          {t('deliveries')} — {conn.name}
        </h2>
        <button type="button" class="plain" onClick={refresh}>
          {t('refresh')}
        </button>
        <Action
          onError={setError}
          onClick={async () => {
            await post(`/api/v1/crm-connections/${conn.id}/deliveries/replay`);
            refresh();
          }}
        >
          {t('replayFailed')}
        </Action>
      </div>
      <ErrorBox error={error} />
      {rows === null ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>{t('noDeliveries')}</Empty>
      ) : (
        <div class="table-wrap">
          <table data-testid="delivery-log">
            <thead>
              <tr>
                <th>#</th>
                <th>{t('time')}</th>
                <th>Event</th>
                <th>{t('status')}</th>
                <th>{t('attempts')}</th>
                <th>HTTP</th>
                <th>{t('latency')}</th>
                <th>{t('response')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <Fragment key={d.id}>
                  <tr data-testid="delivery-row" data-status={d.status}>
                    <td>{d.id}</td>
                    <td class="small">{fmtDateTime(d.lastAttemptAt ?? d.createdAt)}</td>
                    <td>{d.event ?? d.kind}</td>
                    <td>
                      <span class={`status-pill ${d.status}`}>{d.status}</span>
                    </td>
                    <td>
                      {d.attempts > 0 ? (
                        <button
                          type="button"
                          class="plain"
                          title={t('showAttempts')}
                          aria-label={`${t('showAttempts')}: ${d.attempts}`}
                          aria-expanded={open === d.id}
                          onClick={() => setOpen(open === d.id ? null : d.id)}
                        >
                          {d.attempts} {open === d.id ? '▴' : '▾'}
                        </button>
                      ) : (
                        d.attempts
                      )}
                    </td>
                    <td>{d.lastStatus ?? t('none')}</td>
                    <td>{d.lastLatencyMs === null ? t('none') : `${d.lastLatencyMs} ms`}</td>
                    <td class="small" style="max-width:20rem;word-break:break-word">
                      {d.lastError ? <div>{d.lastError}</div> : null}
                      {d.responseExcerpt ? <code>{d.responseExcerpt}</code> : null}
                    </td>
                    <td>
                      {d.status === 'failed' || d.status === 'dead' ? (
                        <Action
                          onError={setError}
                          onClick={async () => {
                            await post(`/api/v1/deliveries/${d.id}/replay`);
                            refresh();
                          }}
                        >
                          {t('replay')}
                        </Action>
                      ) : null}
                    </td>
                  </tr>
                  {open === d.id ? (
                    <tr>
                      <td colSpan={9}>
                        <Attempts id={d.id} attempts={d.attempts} />
                      </td>
                    </tr>
                  ) : null}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function NewConnection({ onDone }: { onDone: () => void }) {
  const [form, setForm] = useState({
    name: '',
    eventsUrl: '',
    callSettingsUrl: '',
    utmUrl: '',
    priority: '1',
    secret: '',
  });
  const [error, setError] = useState<string | null>(null);
  const input = (k: keyof typeof form, label: string, type = 'text') => (
    <label>
      {label}
      <input
        name={k}
        type={type}
        value={form[k]}
        onInput={(e) => setForm({ ...form, [k]: e.currentTarget.value })}
        required={k === 'name'}
      />
    </label>
  );
  return (
    <form
      class="card row"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        const orNull = (s: string) => (s.trim() ? s.trim() : null);
        try {
          await post('/api/v1/crm-connections', {
            name: form.name.trim(),
            eventsUrl: orNull(form.eventsUrl),
            callSettingsUrl: orNull(form.callSettingsUrl),
            utmUrl: orNull(form.utmUrl),
            priority: Number(form.priority) || 0,
            ...(form.secret ? { secret: form.secret } : {}),
          });
          setForm({ name: '', eventsUrl: '', callSettingsUrl: '', utmUrl: '', priority: '1', secret: '' });
          onDone();
        } catch (err) {
          setError(errText(err));
        }
      }}
    >
      {input('name', t('name'))}
      {input('eventsUrl', t('eventsUrl'), 'url')}
      {input('callSettingsUrl', t('callSettingsUrl'), 'url')}
      {input('utmUrl', t('utmUrl'), 'url')}
      {input('priority', t('priority'), 'number')}
      {input('secret', t('secret'), 'password')}
      <button type="submit" class="primary">
        {t('add')}
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

function Tracking() {
  const [rows, setRows] = useState<TrackingNumber[] | null>(null);
  const [num, setNum] = useState('');
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    get<TrackingNumber[]>('/api/v1/tracking/numbers').then(setRows, (e) => setError(errText(e)));
  useEffect(() => void load(), []);
  return (
    <section class="stack">
      <h2>{t('tracking')}</h2>
      <ErrorBox error={error} />
      {rows?.length === 0 ? <Empty>{t('noTracking')}</Empty> : null}
      <ul class="list">
        {(rows ?? []).map((r) => (
          <li class="row" style="padding:.4rem .75rem;justify-content:space-between">
            <span>{r.number}</span>
            <Action
              kind="danger"
              onError={setError}
              onClick={async () => {
                await api('DELETE', `/api/v1/tracking/numbers/${r.id}`);
                await load();
              }}
            >
              {t('delete')}
            </Action>
          </li>
        ))}
      </ul>
      <form
        class="row"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await post('/api/v1/tracking/numbers', { number: num.trim() });
            setNum('');
            await load();
          } catch (err) {
            setError(errText(err));
          }
        }}
      >
        <input
          aria-label={t('number')}
          placeholder="+380…"
          value={num}
          onInput={(e) => setNum(e.currentTarget.value)}
        />
        <button type="submit" class="plain">
          {t('add')}
        </button>
      </form>
    </section>
  );
}

export function IntegrationsPage() {
  const [conns, setConns] = useState<CrmConnection[] | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [info, setInfo] = useState<string | null>(null);
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [nonce, setNonce] = useState(0);
  const load = () =>
    get<CrmConnection[]>('/api/v1/crm-connections').then(
      (r) => {
        setConns(r);
        if (selected === null && r[0]) setSelected(r[0].id);
      },
      (e) => setError(errText(e)),
    );
  useEffect(() => void load(), []);
  const sel = conns?.find((c) => c.id === selected) ?? null;
  return (
    <section aria-labelledby="int-h" class="stack">
      <h1 id="int-h">{t('integrations')}</h1>
      <h2>{t('crmConnections')}</h2>
      <ErrorBox error={error} />
      {conns === null ? (
        <Loading />
      ) : conns.length === 0 ? (
        <Empty>{t('noConnections')}</Empty>
      ) : (
        <div class="table-wrap">
          <table data-testid="connections">
            <thead>
              <tr>
                <th>{t('name')}</th>
                <th>{t('eventsUrl')}</th>
                <th>{t('callSettingsUrl')}</th>
                <th>{t('priority')}</th>
                <th>{t('secret').split(' ')[0]}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {conns.map((c) => (
                <tr aria-selected={c.id === selected} class={c.id === selected ? 'selected' : ''}>
                  <td>
                    <button type="button" class="plain" onClick={() => setSelected(c.id)}>
                      {c.name}
                    </button>
                  </td>
                  <td class="small">{c.eventsUrl ?? t('none')}</td>
                  <td class="small">{c.callSettingsUrl ?? t('none')}</td>
                  <td>{c.priority}</td>
                  <td>{c.hasSecret ? '✓' : t('none')}</td>
                  <td class="row">
                    <Action
                      onError={setError}
                      onClick={async () => {
                        await post(`/api/v1/crm-connections/${c.id}/test`);
                        setInfo(t('testSent'));
                        setSelected(c.id);
                        setNonce(nonce + 1);
                      }}
                    >
                      {t('sendTest')}
                    </Action>
                    <Action
                      onError={setError}
                      onClick={async () => {
                        if (c.hasSecret && !confirm(t('newSecretConfirm'))) return;
                        const r = await post<{ secret: string }>(`/api/v1/crm-connections/${c.id}/secret`);
                        setSecret({ name: c.name, secret: r.secret });
                        await load();
                      }}
                    >
                      {t('newSecret')}
                    </Action>
                    <Action
                      kind="danger"
                      onError={setError}
                      onClick={async () => {
                        if (!confirm(t('confirm'))) return;
                        await api('DELETE', `/api/v1/crm-connections/${c.id}`);
                        if (selected === c.id) setSelected(null);
                        await load();
                      }}
                    >
                      {t('delete')}
                    </Action>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {info ? (
        <p class="ok-note" role="status">
          {info}
        </p>
      ) : null}
      {secret ? (
        <div class="stack" role="status">
          <span>
            {t('newSecretShown')} — {secret.name}
          </span>
          <code class="key" data-testid="new-secret">
            {secret.secret}
          </code>
        </div>
      ) : null}
      <NewConnection onDone={() => void load()} />
      {sel ? <DeliveryLog conn={sel} nonce={nonce} /> : null}
      <Tracking />
    </section>
  );
}
