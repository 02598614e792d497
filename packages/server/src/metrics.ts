// Prometheus text-format metrics (exposition format 0.0.4) without a dependency: counters,
// gauges read at scrape time, and histograms, each with labels. One registry per process; with
// several processes each is scraped on its own (the usual Prometheus model).
import { monitorEventLoopDelay } from 'node:perf_hooks';

type Labels = Record<string, string | number>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (l: Labels) => {
  const keys = Object.keys(l);
  return keys.length ? `{${keys.map((k) => `${k}="${escapeLabel(String(l[k]))}"`).join(',')}}` : '';
};
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

interface Metric {
  render(): string[];
}

/** A monotonically increasing count per label set. */
export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1) {
    this.entry(labels).value += by;
  }
  /** The series of one label set, to count into without building its key again (hot paths). */
  handle(labels: Labels): { inc(by?: number): void } {
    const e = this.entry(labels);
    return {
      inc: (by = 1) => {
        e.value += by;
      },
    };
  }
  private entry(labels: Labels) {
    const key = labelText(labels);
    let v = this.values.get(key);
    if (!v) {
      v = { labels, value: 0 };
      this.values.set(key, v);
    }
    return v;
  }
  render() {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const v of this.values.values()) out.push(`${this.name}${labelText(v.labels)} ${num(v.value)}`);
    return out;
  }
}

/** A value read when scraped (calls in progress, event-loop delay…). */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | { labels: Labels; value: number }[],
  ) {}
  render() {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    const v = this.read();
    if (typeof v === 'number') out.push(`${this.name} ${num(v)}`);
    else for (const x of v) out.push(`${this.name}${labelText(x.labels)} ${num(x.value)}`);
    return out;
  }
}

/** Observations in cumulative buckets (seconds), per label set. */
export class Histogram implements Metric {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}
  observe(value: number, labels: Labels = {}) {
    this.observeInto(this.entry(labels), value);
  }
  /** The series of one label set, to observe into without building its key again (hot paths). */
  handle(labels: Labels): { observe(value: number): void } {
    const e = this.entry(labels);
    return { observe: (value) => this.observeInto(e, value) };
  }
  private entry(labels: Labels) {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    return s;
  }
  private observeInto(s: { counts: number[]; sum: number; count: number }, value: number) {
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }
  render() {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      for (let i = 0; i < this.buckets.length; i++)
        out.push(`${this.name}_bucket${labelText({ ...s.labels, le: num(this.buckets[i]) })} ${s.counts[i]}`);
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];
const LAG_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** Dzvin's metrics; `activeCalls` is read at scrape time. */
export function createMetrics(deps: { activeCalls: () => number }) {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const m = {
    httpRequests: new Counter(
      'dzvin_http_requests_total',
      'HTTP requests answered, by method, route pattern and status',
    ),
    httpDuration: new Histogram(
      'dzvin_http_request_duration_seconds',
      'HTTP request durations by route pattern',
      LATENCY_BUCKETS,
    ),
    deliveriesSent: new Counter(
      'dzvin_deliveries_sent_total',
      'Deliveries (events, UTM batches) a CRM accepted',
    ),
    deliveriesRetried: new Counter(
      'dzvin_deliveries_retried_total',
      'Delivery attempts that failed and were scheduled again (timeout, network, 5xx, 408, 429)',
    ),
    deliveriesFailed: new Counter(
      'dzvin_deliveries_failed_total',
      'Deliveries that failed for good (a 4xx other than 408/429, a refused address, a disabled connection)',
    ),
    deliveriesDead: new Counter(
      'dzvin_deliveries_dead_total',
      'Deliveries dead-lettered after DZVIN_WEBHOOK_RETRY_FOR_SECONDS',
    ),
    deliveryLag: new Histogram(
      'dzvin_delivery_lag_seconds',
      'From enqueue to delivered (includes retries)',
      LAG_BUCKETS,
    ),
    callsClosedAfterCrash: new Counter(
      'dzvin_calls_closed_after_crash_total',
      'Calls in progress of a process that died, closed by this one (hangup events and history written)',
    ),
    lookupLatency: new Histogram(
      'dzvin_lookup_duration_seconds',
      'call.settings requests to CRMs, by outcome (ok, error)',
      LATENCY_BUCKETS,
    ),
  };
  const gauges = [
    new Gauge('dzvin_active_calls', 'Calls in progress in this process', deps.activeCalls),
    new Gauge('dzvin_event_loop_lag_seconds', 'Event-loop delay since the last scrape', () => [
      { labels: { quantile: '0.5' }, value: loop.percentile(50) / 1e9 },
      { labels: { quantile: '0.99' }, value: loop.percentile(99) / 1e9 },
      { labels: { quantile: '1' }, value: loop.max / 1e9 },
    ]),
    new Gauge('process_resident_memory_bytes', 'Resident set size', () => process.memoryUsage.rss()),
    new Gauge('process_uptime_seconds', 'Seconds since the process started', () => process.uptime()),
  ];
  return {
    ...m,
    /** The whole exposition, text format 0.0.4. */
    render(): string {
      const lines = [...Object.values(m), ...gauges].flatMap((x) => x.render());
      loop.reset();
      return `${lines.join('\n')}\n`;
    },
    close() {
      loop.disable();
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
