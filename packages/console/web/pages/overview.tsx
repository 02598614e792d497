// Overview: calls per hour by result, answer rate, waiting and talk time, busiest employees for
// a period, computed in the browser from company.api and users.api pages (≤ 50 per page).
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { get, type HistoryCall, qs } from '../api.ts';
import { lang, t } from '../i18n.ts';
import { useSignal } from '../signal.ts';
import { dayStart, Empty, ErrorBox, errText, isoDay, Loading } from '../ui.tsx';

const HOUR = 3_600_000;
const MAX_PAGES = 60;

async function allPages(path: string, timeFrom: number, timeTo: number): Promise<HistoryCall[]> {
  const out: HistoryCall[] = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    const rows = await get<HistoryCall[]>(`${path}${qs({ timeFrom, timeTo, limit: 50, offset: page * 50 })}`);
    out.push(...rows);
    if (rows.length < 50) break;
  }
  return out;
}

interface Stats {
  hours: number[];
  byDisp: { answered: number[]; noAnswer: number[]; busy: number[]; failed: number[] };
  rate: (number | null)[];
  wait: (number | null)[];
  talk: (number | null)[];
  total: number;
  answered: number;
  avgWait: number;
  avgTalk: number;
  busiest: { name: string; calls: number; talk: number }[];
}

function compute(company: HistoryCall[], users: HistoryCall[], from: number, to: number): Stats {
  const first = Math.floor(from / HOUR) * HOUR;
  const n = Math.max(1, Math.ceil((to - first) / HOUR));
  const hours = Array.from({ length: n }, (_, i) => (first + i * HOUR) / 1000);
  const z = () => new Array<number>(n).fill(0);
  const byDisp = { answered: z(), noAnswer: z(), busy: z(), failed: z() };
  const waitSum = z();
  const talkSum = z();
  const all = z();
  let answered = 0;
  let waitTotal = 0;
  let talkTotal = 0;
  for (const c of company) {
    const i = Math.floor((c.endAt - first) / HOUR);
    if (i < 0 || i >= n) continue;
    all[i]++;
    const wait = Math.max(0, c.duration - c.billSecs);
    waitSum[i] += wait;
    waitTotal += wait;
    if (c.disposition === 0) {
      byDisp.answered[i]++;
      answered++;
      talkSum[i] += c.billSecs;
      talkTotal += c.billSecs;
    } else if (c.disposition === 1) byDisp.noAnswer[i]++;
    else if (c.disposition === 4) byDisp.busy[i]++;
    else byDisp.failed[i]++;
  }
  const per = new Map<string, { name: string; calls: number; talk: number }>();
  for (const c of users) {
    if (c.lgDirection > 4 || !c.leg || c.leg.type !== 1) continue;
    const k = c.leg.ext ?? String(c.leg.id);
    const e = per.get(k) ?? { name: `${c.leg.displayName} (${k})`, calls: 0, talk: 0 };
    if (c.disposition === 0) {
      e.calls++;
      e.talk += c.billSecs;
    }
    per.set(k, e);
  }
  return {
    hours,
    byDisp,
    rate: all.map((a, i) => (a ? Math.round((1000 * byDisp.answered[i]) / a) / 10 : null)),
    wait: all.map((a, i) => (a ? Math.round(waitSum[i] / a) : null)),
    talk: byDisp.answered.map((a, i) => (a ? Math.round(talkSum[i] / a) : null)),
    total: company.length,
    answered,
    avgWait: company.length ? Math.round(waitTotal / company.length) : 0,
    avgTalk: answered ? Math.round(talkTotal / answered) : 0,
    busiest: [...per.values()].sort((a, b) => b.calls - a.calls || b.talk - a.talk).slice(0, 10),
  };
}

function Chart({
  title,
  series,
  data,
  testid,
}: {
  title: string;
  series: uPlot.Series[];
  data: uPlot.AlignedData;
  testid: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const node = el.current;
    if (!node) return;
    const plot = new uPlot(
      {
        width: Math.max(280, node.clientWidth),
        height: 240,
        series: [{}, ...series],
        axes: [{}, { size: 44 }],
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
      },
      data,
      node,
    );
    const ro = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(280, node.clientWidth), height: 240 }),
    );
    ro.observe(node);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [data, series]);
  return (
    <figure class="chart" data-testid={testid}>
      <figcaption>
        <h2>{title}</h2>
      </figcaption>
      <div ref={el} />
    </figure>
  );
}

const bars = uPlot.paths.bars?.({ size: [0.7, 40] });

export function OverviewPage() {
  useSignal(lang);
  const today = isoDay(new Date());
  const [from, setFrom] = useState(today);
  const [to, setTo] = useState(today);
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    let stale = false;
    const f = dayStart(from);
    const tt = dayStart(to) + 86_400_000 - 1;
    setLoading(true);
    Promise.all([allPages('/rest/calls/company.api', f, tt), allPages('/rest/calls/users.api', f, tt)]).then(
      ([c, u]) => {
        if (stale) return;
        setStats(compute(c, u, f, Math.min(tt, Date.now() + HOUR)));
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (stale) return;
        setError(errText(e));
        setLoading(false);
      },
    );
    return () => {
      stale = true;
    };
  }, [from, to]);

  const s = stats;
  return (
    <section aria-labelledby="ov-h" class="stack">
      <div class="page-head">
        <h1 id="ov-h">{t('overview')}</h1>
      </div>
      <div class="filters">
        <label>
          {t('from')}
          <input type="date" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          {t('to')}
          <input type="date" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
        </label>
        {loading ? <span class="muted">{t('loading')}</span> : null}
      </div>
      <ErrorBox error={error} />
      {!s ? (
        <Loading />
      ) : s.total === 0 ? (
        <Empty>{t('noOverview')}</Empty>
      ) : (
        <>
          <div class="stats">
            <div class="stat">
              {t('totalCalls')}
              <b data-testid="stat-total">{s.total}</b>
            </div>
            <div class="stat">
              {t('answered')}
              <b>{s.answered}</b>
            </div>
            <div class="stat">
              {t('answerRate')}
              <b>{Math.round((100 * s.answered) / s.total)}</b>
            </div>
            <div class="stat">
              {t('waiting')}, s<b>{s.avgWait}</b>
            </div>
            <div class="stat">
              {t('talk')}, s<b>{s.avgTalk}</b>
            </div>
          </div>
          <div class="charts">
            <Chart
              testid="chart-calls"
              title={t('callsPerHour')}
              data={[s.hours, s.byDisp.answered, s.byDisp.noAnswer, s.byDisp.busy, s.byDisp.failed]}
              series={[
                { label: t('d0'), stroke: '#1e7f3b', fill: 'rgba(30,127,59,.25)', paths: bars },
                { label: t('d1'), stroke: '#a15c00', fill: 'rgba(161,92,0,.2)', paths: bars },
                { label: t('d4'), stroke: '#6a4bc4', fill: 'rgba(106,75,196,.2)', paths: bars },
                { label: t('d3'), stroke: '#b3261e', fill: 'rgba(179,38,30,.2)', paths: bars },
              ]}
            />
            <Chart
              testid="chart-rate"
              title={t('answerRate')}
              data={[s.hours, s.rate as number[]]}
              series={[{ label: '%', stroke: '#0b57d0', width: 2, spanGaps: true }]}
            />
            <Chart
              testid="chart-times"
              title={t('waitTalk')}
              data={[s.hours, s.wait as number[], s.talk as number[]]}
              series={[
                { label: t('waiting'), stroke: '#a15c00', width: 2, spanGaps: true },
                { label: t('talk'), stroke: '#1e7f3b', width: 2, spanGaps: true },
              ]}
            />
            <figure class="chart" data-testid="busiest">
              <figcaption>
                <h2>{t('busiest')}</h2>
              </figcaption>
              {s.busiest.length === 0 ? (
                <p class="muted">{t('none')}</p>
              ) : (
                <ul class="bars">
                  {s.busiest.map((b) => (
                    <li>
                      <span class="ellipsis">{b.name}</span>
                      <span
                        class="bar"
                        style={{ width: `${(100 * b.calls) / Math.max(1, s.busiest[0].calls)}%` }}
                      />
                      <span>{b.calls}</span>
                    </li>
                  ))}
                </ul>
              )}
            </figure>
          </div>
        </>
      )}
    </section>
  );
}
