// Simulator: an external number calls a trunk, click-to-call (makeCall), the traffic generator.
import { useEffect, useState } from 'preact/hooks';
import { api, type Employee, get, post, type Trunk } from '../api.ts';
import { t } from '../i18n.ts';
import { Action, ErrorBox, errText } from '../ui.tsx';

interface Traffic {
  running: boolean;
  placed?: number;
  dropped?: number;
  [k: string]: unknown;
}

export function SimulatorPage() {
  const [trunks, setTrunks] = useState<Trunk[]>([]);
  const [employees, setEmployees] = useState<Employee[]>([]);
  const [from, setFrom] = useState('+380501234567');
  const [trunk, setTrunk] = useState('');
  const [ext, setExt] = useState('');
  const [number, setNumber] = useState('+380671112233');
  const [rate, setRate] = useState('0.5');
  const [duration, setDuration] = useState('60');
  const [traffic, setTraffic] = useState<Traffic | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [info, setInfo] = useState<string | null>(null);

  const loadTraffic = () => get<Traffic>('/api/v1/sim/traffic').then(setTraffic, () => setTraffic(null));
  useEffect(() => {
    Promise.all([get<Trunk[]>('/api/v1/trunks'), get<Employee[]>('/api/v1/employees')]).then(
      ([tr, em]) => {
        setTrunks(tr);
        setEmployees(em);
        setTrunk(tr.find((x) => x.isDefault)?.number ?? tr[0]?.number ?? '');
        setExt(em[0]?.ext ?? '');
      },
      (e) => setError(errText(e)),
    );
    void loadTraffic();
    const id = setInterval(loadTraffic, 2000);
    return () => clearInterval(id);
  }, []);

  const submit = (fn: () => Promise<unknown>) => async (e: Event) => {
    e.preventDefault();
    setError(null);
    setInfo(null);
    try {
      const r = (await fn()) as { uuid?: string } | undefined;
      setInfo(r?.uuid ? `uuid ${r.uuid} — ${t('live')} →` : 'OK');
    } catch (err) {
      setError(errText(err));
    }
  };

  return (
    <section aria-labelledby="sim-h" class="stack">
      <h1 id="sim-h">{t('simulator')}</h1>
      <ErrorBox error={error} />
      {info ? (
        <p class="ok-note" role="status">
          {info.endsWith('→') ? <a href="#/live">{info}</a> : info}
        </p>
      ) : null}
      <div class="charts">
        <form
          class="card stack"
          onSubmit={submit(() => post('/api/v1/sim/calls', { from: from.trim(), trunk }))}
        >
          <h2>{t('placeIncoming')}</h2>
          <label>
            {t('callerNumber')}
            <input
              name="from"
              type="tel"
              value={from}
              onInput={(e) => setFrom(e.currentTarget.value)}
              required
            />
          </label>
          <label>
            {t('trunk')}
            <select name="trunk" value={trunk} onChange={(e) => setTrunk(e.currentTarget.value)}>
              {trunks.map((x) => (
                <option value={x.number}>
                  {x.name} ({x.number})
                </option>
              ))}
            </select>
          </label>
          <button type="submit" class="primary">
            {t('place')}
          </button>
        </form>
        <form
          class="card stack"
          onSubmit={submit(() => post('/rest/user/makeCall', { legExt: ext, otherLegNum: number.trim() }))}
        >
          <h2>{t('clickToCall')}</h2>
          <label>
            {t('employee')}
            <select name="legExt" value={ext} onChange={(e) => setExt(e.currentTarget.value)}>
              {employees.map((x) => (
                <option value={x.ext}>
                  {x.displayName} ({x.ext})
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('number')}
            <input
              name="otherLegNum"
              type="tel"
              value={number}
              onInput={(e) => setNumber(e.currentTarget.value)}
              required
            />
          </label>
          <button type="submit" class="primary">
            {t('call')}
          </button>
        </form>
        <form
          class="card stack"
          onSubmit={submit(async () => {
            await post('/api/v1/sim/traffic', { ratePerSec: Number(rate), durationSec: Number(duration) });
            await loadTraffic();
          })}
        >
          <h2>{t('traffic')}</h2>
          <p class="muted" role="status" data-testid="traffic-status">
            {traffic?.running ? t('running') : t('stopped')}
            {traffic?.placed !== undefined ? ` · ${t('placed')}: ${traffic.placed}` : ''}
            {traffic?.dropped !== undefined ? ` · ${t('dropped')}: ${traffic.dropped}` : ''}
          </p>
          <label>
            {t('ratePerSec')}
            <input
              name="ratePerSec"
              type="number"
              step="0.1"
              min="0.1"
              value={rate}
              onInput={(e) => setRate(e.currentTarget.value)}
            />
          </label>
          <label>
            {t('durationSec')}
            <input
              name="durationSec"
              type="number"
              min="1"
              value={duration}
              onInput={(e) => setDuration(e.currentTarget.value)}
            />
          </label>
          <div class="row">
            <button type="submit" class="primary">
              {t('start')}
            </button>
            <Action
              kind="danger"
              onError={setError}
              onClick={async () => {
                await api('DELETE', '/api/v1/sim/traffic');
                await loadTraffic();
              }}
            >
              {t('stop')}
            </Action>
          </div>
        </form>
      </div>
    </section>
  );
}
