// `dzvin contacts import|export`: the contacts book over the Phonet REST API. Import uploads a
// CSV (header row) or JSON file through the batch endpoint, in chunks, and reports every row the
// server (or the file) refused; export pages through every contact.
import fs from 'node:fs';
import path from 'node:path';
import type { Contact, ContactInput } from '@dzvin/protocol';
import { type Command, InvalidArgumentError } from 'commander';
import type { ConnectionFlags, Env } from '../connection.ts';
import {
  type ColumnMeaning,
  columnMeaning,
  contactFromApiShape,
  contactFromCells,
  type FlatContact,
  flattenContact,
} from '../contact-columns.ts';
import { csvLine, parseCsv } from '../csv.ts';
import { CliError, EXIT } from '../errors.ts';
import type { Column } from '../output.ts';
import { openPhonet, sdk } from '../phonet.ts';
import { createProgress } from '../progress.ts';
import { adminCommand, type JsonFlag } from './shared.ts';

/** One contact read from the file, with where it came from (the row reported on failure). */
interface SourceContact {
  row: number;
  contact?: ContactInput;
  /** Refused before sending (a malformed row). */
  error?: string;
}

export interface ImportFailure {
  row: number;
  reason: string;
}

/** Rows of a CSV file: the header (line 1) names each column; `row` is the line a record starts on. */
export function contactsFromCsv(text: string, keepId: boolean): SourceContact[] {
  let records: ReturnType<typeof parseCsv>;
  try {
    records = parseCsv(text);
  } catch (e) {
    throw new CliError(`not valid CSV: ${(e as Error).message}`);
  }
  const [header, ...rows] = records;
  if (!header)
    throw new CliError('the CSV file is empty; it needs a header row, e.g. firstName,lastName,phone,email');
  const columns: ColumnMeaning[] = header.cells.map((h, i) => {
    if (!h.trim()) throw new CliError(`column ${i + 1} of the header row has no name`);
    return columnMeaning(h);
  });
  return rows
    .filter((r) => r.cells.some((c) => c.trim() !== ''))
    .map((r) => {
      if (r.cells.length !== columns.length)
        return {
          row: r.line,
          error: `has ${r.cells.length} cells, the header has ${columns.length}`,
        };
      try {
        return {
          row: r.line,
          contact: contactFromCells(
            columns.map((m, i) => [m, r.cells[i]]),
            keepId,
          ),
        };
      } catch (e) {
        return { row: r.line, error: (e as Error).message };
      }
    });
}

/**
 * Items of a JSON file: an array (or `{ "contacts": [...] }`) of contacts in the API's shape
 * (`fields: [{ enumCode, values }]`, as `export --json` writes them) or flat objects whose keys
 * read like CSV headers (`{ "firstName": "Ivan", "phones": ["+380…"] }`); `row` is the 1-based item.
 */
export function contactsFromJson(text: string, keepId: boolean): SourceContact[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`not valid JSON: ${(e as Error).message}`);
  }
  const items =
    parsed &&
    typeof parsed === 'object' &&
    !Array.isArray(parsed) &&
    Array.isArray((parsed as { contacts?: unknown }).contacts)
      ? (parsed as { contacts: unknown[] }).contacts
      : parsed;
  if (!Array.isArray(items))
    throw new CliError('expected a JSON array of contacts (or { "contacts": [...] })');
  return items.map((item, i) => {
    const row = i + 1;
    if (!item || typeof item !== 'object' || Array.isArray(item)) return { row, error: 'is not an object' };
    const o = item as Record<string, unknown>;
    if (Array.isArray(o.fields)) return { row, contact: contactFromApiShape(o, keepId) };
    try {
      return {
        row,
        contact: contactFromCells(
          Object.entries(o).map(([k, v]) => [columnMeaning(k), v]),
          keepId,
        ),
      };
    } catch (e) {
      return { row, error: (e as Error).message };
    }
  });
}

const TABLE_COLUMNS: Column<FlatContact>[] = [
  { header: 'id', value: (c) => c.id },
  { header: 'name', value: (c) => [c.firstName, c.lastName].filter(Boolean).join(' ') },
  { header: 'company', value: (c) => c.company },
  { header: 'phones', value: (c) => c.phones },
  { header: 'emails', value: (c) => c.emails },
];

function parseChunk(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n < 1 || n > 1000) throw new InvalidArgumentError('expected 1 to 1000');
  return n;
}

export function registerContacts(program: Command, env: Env) {
  const contacts = program
    .command('contacts')
    .description('the contacts book over the Phonet REST API: import from CSV/JSON, export');
  type Flags = ConnectionFlags & JsonFlag;

  adminCommand(
    contacts
      .command('import')
      .description(
        'upload contacts from a CSV file (a header row: firstName, lastName, phone, email, company, category, id, any other column a custom field) or a JSON array',
      )
      .argument('<file>', 'a .csv or .json file (- reads CSV from stdin)')
      .option('--format <format>', 'csv or json (default: from the file name)')
      .option('--merge', 'merge into an existing contact sharing a phone number instead of creating one')
      .option(
        '--update',
        'an id column/key updates that contact (ignored otherwise, so exports import as new)',
      )
      .option('--chunk <n>', 'contacts per batch request, 1 to 1000', parseChunk, 500),
  ).action(
    async (
      file: string,
      o: Flags & { format?: string; merge?: boolean; update?: boolean; chunk: number },
    ) => {
      const format = (
        o.format ?? (path.extname(file).toLowerCase() === '.json' ? 'json' : 'csv')
      ).toLowerCase();
      if (format !== 'csv' && format !== 'json')
        throw new CliError(`--format must be csv or json, not '${o.format}'`);
      let text: string;
      try {
        text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
      } catch (e) {
        throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
      }
      const source =
        format === 'json' ? contactsFromJson(text, !!o.update) : contactsFromCsv(text, !!o.update);
      const { client, out, url } = await openPhonet(o, env);

      const failures: ImportFailure[] = source
        .filter((s) => s.error !== undefined)
        .map((s) => ({ row: s.row, reason: s.error as string }));
      const sendable = source.filter((s) => s.contact !== undefined);
      let succeeded = 0;
      const progress = createProgress('importing', process.stderr, source.length);
      try {
        for (let start = 0; start < sendable.length; start += o.chunk) {
          const chunk = sendable.slice(start, start + o.chunk);
          const r = await sdk(url, () =>
            client.contacts.batch(
              chunk.map((s) => s.contact as ContactInput),
              { merge: !!o.merge },
            ),
          ).catch((e) => {
            progress.stop();
            process.stderr.write(
              `dzvin: stopped at ${path.basename(file)} row ${chunk[0].row}; ${succeeded} contacts were imported before\n`,
            );
            throw e;
          });
          succeeded += r.succeeded;
          for (const err of r.errors) failures.push({ row: chunk[err.index]?.row ?? -1, reason: err.reason });
          progress.update(failures.length + succeeded);
        }
      } finally {
        progress.stop();
      }
      failures.sort((a, b) => a.row - b.row);
      const summary = { file, total: source.length, succeeded, failed: failures.length, errors: failures };
      out.result(summary, () => {
        out.line(`Imported ${succeeded} of ${source.length} contacts from ${file}.`);
        if (failures.length > 0) {
          out.line(`${failures.length} failed:`);
          const unit = format === 'json' ? 'item' : 'row';
          for (const f of failures) out.line(`  ${unit} ${f.row}: ${f.reason}`);
        }
      });
      if (failures.length > 0)
        throw new CliError(`${failures.length} of ${source.length} contacts were not imported`, EXIT.REFUSED);
    },
  );

  adminCommand(
    contacts
      .command('export')
      .description('every contact: a table, --json (the API shape, importable again) or --csv')
      .option('--csv', 'CSV: id, firstName, lastName, company, category, phones, emails, then custom fields'),
  ).action(async (o: Flags & { csv?: boolean }) => {
    if (o.json && o.csv) throw new CliError('--json and --csv: choose one');
    const { client, out, url } = await openPhonet(o, env);
    const all: Contact[] = [];
    const progress = createProgress('exporting', process.stderr);
    try {
      await sdk(url, async () => {
        for await (const page of client.contacts.list({ pageSize: 60 }).pages()) {
          all.push(...page);
          progress.update(all.length);
        }
      });
    } finally {
      progress.stop();
    }
    if (o.csv) {
      const flat = all.map(flattenContact);
      const custom = [...new Set(flat.flatMap((c) => [...c.custom.keys()]))];
      const join = (vs: string[] | undefined) => (vs ?? []).join('; ');
      let text = csvLine([
        'id',
        'firstName',
        'lastName',
        'company',
        'category',
        'phones',
        'emails',
        ...custom,
      ]);
      for (const c of flat)
        text += csvLine([
          c.id,
          c.firstName,
          c.lastName,
          c.company,
          c.category,
          join(c.phones),
          join(c.emails),
          ...custom.map((k) => join(c.custom.get(k))),
        ]);
      process.stdout.write(text);
      return;
    }
    out.result(all, () => {
      if (all.length === 0) return out.line('No contacts.');
      out.table(all.map(flattenContact), TABLE_COLUMNS);
      out.line(`${all.length} contacts.`);
    });
  });
}
