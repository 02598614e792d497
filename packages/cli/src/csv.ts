// CSV as RFC 4180 reads it (quoted cells with "" escapes, commas and line breaks inside quotes,
// CRLF or LF), for `contacts import/export` and `calls history --csv`.

/** One record of a CSV file and the line it starts on (1-based; the header is line 1). */
export interface CsvRecord {
  line: number;
  cells: string[];
}

/**
 * Splits CSV text into records. A leading BOM is dropped; blank lines are skipped.
 * Throws on a quote that never closes (with the line it opened on).
 * @example parseCsv('name,phone\nIvan,"+380 44, ext 1"\n') // [{line:1,…}, {line:2, cells:['Ivan','+380 44, ext 1']}]
 */
export function parseCsv(text: string): CsvRecord[] {
  const s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let cells: string[] = [];
  let cell = '';
  let line = 1;
  let startLine = 1;
  let quoted = false;
  let quoteLine = 0;
  let any = false; // the record has something in it (a blank line is not a record)
  const endRecord = () => {
    cells.push(cell);
    if (any || cells.length > 1) records.push({ line: startLine, cells });
    cells = [];
    cell = '';
    any = false;
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '"') {
        if (s[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
      continue;
    }
    if (c === '"') {
      quoted = true;
      quoteLine = line;
      any = true;
    } else if (c === ',') {
      cells.push(cell);
      cell = '';
      any = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && s[i + 1] === '\n') i++;
      endRecord();
      line++;
      startLine = line;
    } else {
      cell += c;
      any = true;
    }
  }
  if (quoted) throw new Error(`a quote opened on line ${quoteLine} never closes`);
  if (any || cell !== '' || cells.length > 0) endRecord();
  return records;
}

/** One CSV cell: quoted when it holds a comma, quote, line break or leading/trailing space. */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One CSV line (CRLF-free: LF ends it). */
export const csvLine = (cells: unknown[]) => `${cells.map(csvCell).join(',')}\n`;
