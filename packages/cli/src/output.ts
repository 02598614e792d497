import Table from 'cli-table3';

/** One column of a human table: its header and how to show an item's value. */
export interface Column<T> {
  header: string;
  value(item: T): unknown;
}

/** Where commands write: stdout for results, stderr for notes and errors. */
export interface Output {
  /** `--json`: results are printed as JSON only, for scripts. */
  readonly json: boolean;
  /** A result: JSON when `--json`, otherwise `human()` is called to print it for people. */
  result(value: unknown, human: () => void): void;
  line(text?: string): void;
  table<T>(items: T[], columns: Column<T>[]): void;
  record<T>(item: T, columns: Column<T>[]): void;
}

/** How a value reads in a table cell: nothing for null, yes/no for booleans, lists joined. */
export function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map(cell).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** An epoch-ms timestamp as ISO 8601 (UTC). */
export const time = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? '' : new Date(ms).toISOString();

// Plain, compact tables: no colours, so piped output and tests see the same text as a terminal.
const style = { head: [], border: [], compact: true };

export function createOutput(
  opts: { json: boolean },
  write: (text: string) => void = (t) => process.stdout.write(t),
): Output {
  return {
    json: opts.json,
    result(value, human) {
      if (opts.json) write(`${JSON.stringify(value, null, 2)}\n`);
      else human();
    },
    line(text = '') {
      write(`${text}\n`);
    },
    table(items, columns) {
      const t = new Table({ head: columns.map((c) => c.header), style });
      for (const item of items) t.push(columns.map((c) => cell(c.value(item))));
      write(`${t.toString()}\n`);
    },
    record(item, columns) {
      const t = new Table({ style });
      for (const c of columns) t.push({ [c.header]: cell(c.value(item)) });
      write(`${t.toString()}\n`);
    },
  };
}
