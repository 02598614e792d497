// History: company / missed / per-employee calls with the documented filters (timeFrom, timeTo,
// directions, limit ≤ 50, offset), dispositions, transfer history and the recordings.
import { useEffect, useState } from 'preact/hooks';
import { type Employee, employeeSession, get, type HistoryCall, qs } from '../api.ts';
import { directionLabel, dispositionLabel, fmtDateTime, fmtDuration, t } from '../i18n.ts';
import { live } from '../live-store.ts';
import * as phone from '../phone/phone-store.ts';
import { go } from '../route.ts';
import { useSignal } from '../signal.ts';
import { dayStart, Empty, ErrorBox, errText, isoDay, Loading, Tabs } from '../ui.tsx';

type View = 'company' | 'missed' | 'users';
const LIMIT = 50;

function Recording({ url }: { url: string }) {
  const [track, setTrack] = useState<'' | '-rx' | '-tx'>('');
  const [open, setOpen] = useState(false);
  if (!open)
    return (
      <button type="button" class="plain" onClick={() => setOpen(true)}>
        ▶ {t('play')}
      </button>
    );
  // audioRecUrl is …/calls/{uuid}/audio; the rx/tx tracks are …/calls/{uuid}-rx/audio (spec #15).
  const src = url.replace(/\/audio$/, `${track}/audio`);
  return (
    <div class="rec">
      <select
        aria-label={t('recording')}
        value={track}
        onChange={(e) => setTrack(e.currentTarget.value as typeof track)}
      >
        <option value="">{t('mixed')}</option>
        <option value="-rx">{t('rx')}</option>
        <option value="-tx">{t('tx')}</option>
      </select>
      {/* biome-ignore lint/a11y/useMediaCaption: a phone call recording has no captions */}
      <audio controls preload="metadata" src={src} />
    </div>
  );
}

/** A "call back" button of a history row: the employee's browser phone dials the number. */
function CallBack({ num }: { num: string }) {
  const s = useSignal(phone.status);
  if (s.kind !== 'registered') return null;
  return (
    <button
      type="button"
      class="plain"
      data-testid="call-back"
      onClick={() => {
        void phone.dial(num);
        go('#/phone');
      }}
    >
      📞 {t('call')}
    </button>
  );
}

export function HistoryPage() {
  // An employee's own session: their legs (users.api) only, no tabs, no employee filter.
  const own = useSignal(employeeSession) !== null;
  const [chosen, setView] = useState<View>('company');
  const view: View = own ? 'users' : chosen;
  const [from, setFrom] = useState(isoDay(new Date()));
  const [to, setTo] = useState(isoDay(new Date()));
  const [dirs, setDirs] = useState<number[]>([1, 2, 4]);
  const [ext, setExt] = useState('');
  const [offset, setOffset] = useState(0);
  const [rows, setRows] = useState<HistoryCall[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [nonce, setNonce] = useState(0);
  const employees: Employee[] = useSignal(live.employees);
  const version = useSignal(live.version);

  useEffect(() => {
    let stale = false;
    const path = view === 'company' ? 'company.api' : view === 'missed' ? 'missed.api' : 'users.api';
    get<HistoryCall[]>(
      `/rest/calls/${path}${qs({
        timeFrom: dayStart(from),
        timeTo: dayStart(to) + 86_400_000 - 1,
        directions: dirs.length ? dirs.reduce((a, b) => a + b, 0) : undefined,
        limit: LIMIT,
        offset,
      })}`,
    ).then(
      (r) => {
        if (stale) return;
        setRows(r);
        setError(null);
      },
      (e) => !stale && setError(errText(e)),
    );
    return () => {
      stale = true;
    };
  }, [view, from, to, dirs.join(), offset, nonce]);

  // A call that just ended appears without a click: refetch the first page on live changes.
  useEffect(() => {
    if (offset !== 0) return;
    const id = setTimeout(() => setNonce((n) => n + 1), 400);
    return () => clearTimeout(id);
  }, [version]);

  const shown = (rows ?? []).filter(
    (r) => view !== 'users' || !ext || r.leg?.ext === ext || r.leg2?.ext === ext,
  );
  const toggleDir = (d: number) => {
    setOffset(0);
    setDirs(dirs.includes(d) ? dirs.filter((x) => x !== d) : [...dirs, d].sort());
  };

  return (
    <section aria-labelledby="history-h">
      <div class="page-head">
        <h1 id="history-h">{t('history')}</h1>
      </div>
      {own ? null : (
        <Tabs
          label={t('history')}
          value={view}
          onChange={(v) => {
            setView(v);
            setOffset(0);
          }}
          options={[
            ['company', t('company')],
            ['missed', t('missed')],
            ['users', t('perEmployee')],
          ]}
        />
      )}
      <div class="filters">
        <label>
          {t('from')}
          <input
            type="date"
            value={from}
            onChange={(e) => {
              setFrom(e.currentTarget.value);
              setOffset(0);
            }}
          />
        </label>
        <label>
          {t('to')}
          <input
            type="date"
            value={to}
            onChange={(e) => {
              setTo(e.currentTarget.value);
              setOffset(0);
            }}
          />
        </label>
        <fieldset>
          <legend>{t('directions')}</legend>
          {[4, 2, 1].map((d) => (
            <label class="check">
              <input type="checkbox" checked={dirs.includes(d)} onChange={() => toggleDir(d)} />
              {directionLabel(d)}
            </label>
          ))}
        </fieldset>
        {view === 'users' && !own ? (
          <label>
            {t('employee')}
            <select value={ext} onChange={(e) => setExt(e.currentTarget.value)}>
              <option value="">{t('allEmployees')}</option>
              {employees.map((e) => (
                <option value={e.ext}>
                  {e.displayName} ({e.ext})
                </option>
              ))}
            </select>
          </label>
        ) : null}
      </div>
      <ErrorBox error={error} />
      {rows === null ? (
        <Loading />
      ) : shown.length === 0 ? (
        <Empty>{t('noHistory')}</Empty>
      ) : (
        <div class="table-wrap">
          <table class="history">
            <thead>
              <tr>
                <th>{t('time')}</th>
                <th>{t('direction')}</th>
                <th>{t('external')}</th>
                <th>{t('employee')}</th>
                <th>{t('disposition')}</th>
                <th>{t('duration')}</th>
                <th>{t('talk')}</th>
                <th>{t('transfers')}</th>
                <th>{t('recording')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr key={r.uuid} data-uuid={r.uuid} data-testid="history-row">
                  <td>{fmtDateTime(r.endAt)}</td>
                  <td>{directionLabel(r.lgDirection)}</td>
                  <td>
                    {r.otherLegName ? <div>{r.otherLegName}</div> : null}
                    <div class="muted">{r.otherLegNum ?? t('none')}</div>
                    {own && r.otherLegNum ? <CallBack num={r.otherLegNum} /> : null}
                  </td>
                  <td>
                    {r.leg ? `${r.leg.displayName}${r.leg.ext ? ` (${r.leg.ext})` : ''}` : t('none')}
                    {r.leg2 ? <div class="muted">→ {r.leg2.displayName}</div> : null}
                  </td>
                  <td>
                    <span class={`disp d${r.disposition}`}>{dispositionLabel(r.disposition)}</span>
                  </td>
                  <td>{fmtDuration(r.duration)}</td>
                  <td>{fmtDuration(r.billSecs)}</td>
                  <td class="small">{r.transferHistory ?? ''}</td>
                  <td>{r.audioRecUrl ? <Recording url={r.audioRecUrl} /> : t('none')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="pager">
        <button
          type="button"
          class="plain"
          disabled={offset === 0}
          onClick={() => setOffset(Math.max(0, offset - LIMIT))}
        >
          {t('prev')}
        </button>
        <span class="muted">
          {t('page')} {offset / LIMIT + 1}
        </span>
        <button
          type="button"
          class="plain"
          disabled={(rows?.length ?? 0) < LIMIT}
          onClick={() => setOffset(offset + LIMIT)}
        >
          {t('next')}
        </button>
      </div>
    </section>
  );
}
