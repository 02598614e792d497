// `dzvin calls make|active|hangup|history` (also `dzvin call …`): the documented Phonet call
// endpoints under /rest/, through @dzvin/sdk's PhonetClient (session cookie, auto-pagination).
import type { ActiveCall, CallHistoryRecord } from '@dzvin/protocol';
import type { CallHistoryOptions } from '@dzvin/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ConnectionFlags, Env } from '../connection.ts';
import { csvLine } from '../csv.ts';
import { CliError } from '../errors.ts';
import { type Column, time } from '../output.ts';
import { openPhonet, sdk } from '../phonet.ts';
import { createProgress } from '../progress.ts';
import { adminCommand, type JsonFlag } from './shared.ts';

/** An employee's internal number: 1 to 10 digits. */
export function parseExt(raw: string): string {
  if (!/^[0-9]{1,10}$/.test(raw)) throw new InvalidArgumentError('expected an ext of 1 to 10 digits');
  return raw;
}

/** A call uuid as the server prints them. */
export function parseUuid(raw: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw))
    throw new InvalidArgumentError('expected a call uuid (letters, digits, - and _)');
  return raw;
}

const DIRECTIONS: Record<number, string> = {
  1: 'internal',
  2: 'outgoing',
  4: 'incoming',
  32: 'pause',
  64: 'unpause',
};
const DISPOSITIONS: Record<number, string> = {
  0: 'answered',
  1: 'no answer',
  2: 'congestion',
  3: 'failure',
  4: 'busy',
};
const DIRECTION_NAMES = ['internal', 'outgoing', 'incoming', 'pause', 'unpause'] as const;
type DirectionName = (typeof DIRECTION_NAMES)[number];
const HISTORY_KINDS = ['company', 'missed', 'users'] as const;

/**
 * A point in time: epoch ms (a number below 1e12 is seconds, as the API reads it), an ISO 8601
 * date or date-time (`2026-11-26`, `2026-11-26T09:00:00Z`), `now`, or `-30m` / `-24h` / `-7d`.
 */
export function parseTime(raw: string, now = Date.now()): number {
  const s = raw.trim();
  if (s === 'now') return now;
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    if (Number.isSafeInteger(n)) return n < 1e12 ? n * 1000 : n;
  }
  const rel = /^-([0-9]+)([smhd])$/.exec(s);
  if (rel) return now - Number(rel[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[rel[2] as 's']!;
  if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9:]+)?)?$/.test(s)) {
    const t = Date.parse(s.replace(' ', 'T'));
    if (!Number.isNaN(t)) return t;
  }
  throw new InvalidArgumentError(
    'expected epoch ms, an ISO date or date-time (2026-11-26, 2026-11-26T09:00:00Z), now, or -30m/-24h/-7d',
  );
}

/** `--direction incoming,outgoing` (repeatable): the names, checked. */
function collectDirections(raw: string, prev: DirectionName[] = []): DirectionName[] {
  const out = [...prev];
  for (const part of raw.split(',')) {
    const d = part.trim().toLowerCase();
    const name = DIRECTION_NAMES.find((n) => n === d);
    if (!name) throw new InvalidArgumentError(`expected ${DIRECTION_NAMES.join(', ')} (comma-separated)`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}
const STATES: Record<string, string> = { 'call.dial': 'ringing', 'call.bridge': 'talking' };

const person = (p: { ext: string | null; displayName: string } | null) =>
  p ? [p.ext, p.displayName].filter(Boolean).join(' ') : '';

/** The external party as the CRMs know it (active/v3 has no plain number), or the second employee. */
function otherParty(c: ActiveCall): string {
  const crm = c.otherLegs?.find((o) => o.num || o.name);
  if (crm) return [crm.num, crm.name].filter(Boolean).join(' ');
  return person(c.leg2);
}

const ACTIVE_COLUMNS: Column<ActiveCall>[] = [
  { header: 'uuid', value: (c) => c.uuid },
  { header: 'direction', value: (c) => DIRECTIONS[c.lgDirection] ?? c.lgDirection },
  { header: 'employee', value: (c) => person(c.leg) },
  { header: 'other party', value: otherParty },
  { header: 'state', value: (c) => STATES[c.lastEvent] ?? c.lastEvent },
  { header: 'since', value: (c) => time(c.bridgeAt ?? c.dialAt) },
];

const HISTORY_COLUMNS: Column<CallHistoryRecord>[] = [
  { header: 'ended', value: (c) => time(c.endAt) },
  { header: 'direction', value: (c) => DIRECTIONS[c.lgDirection] ?? c.lgDirection },
  { header: 'result', value: (c) => DISPOSITIONS[c.disposition] ?? c.disposition },
  { header: 'employee', value: (c) => person(c.leg) },
  {
    header: 'other party',
    value: (c) => [c.otherLegNum, c.otherLegName].filter(Boolean).join(' ') || person(c.leg2),
  },
  { header: 'duration', value: (c) => c.duration },
  { header: 'talk', value: (c) => c.billSecs },
  { header: 'uuid', value: (c) => c.uuid },
];

/** The CSV of `calls history --csv`: one flat row per record, times in ISO 8601 UTC. */
const CSV_COLUMNS: [string, (c: CallHistoryRecord) => unknown][] = [
  ['uuid', (c) => c.uuid],
  ['parentUuid', (c) => c.parentUuid],
  ['endAt', (c) => time(c.endAt)],
  ['direction', (c) => DIRECTIONS[c.lgDirection] ?? c.lgDirection],
  ['disposition', (c) => DISPOSITIONS[c.disposition] ?? c.disposition],
  ['employeeExt', (c) => c.leg?.ext],
  ['employeeName', (c) => c.leg?.displayName],
  ['employee2Ext', (c) => c.leg2?.ext],
  ['employee2Name', (c) => c.leg2?.displayName],
  ['otherLegNum', (c) => c.otherLegNum],
  ['otherLegName', (c) => c.otherLegName],
  ['trunk', (c) => c.trunk],
  ['duration', (c) => c.duration],
  ['billSecs', (c) => c.billSecs],
  ['transferHistory', (c) => c.transferHistory],
  ['audioRecUrl', (c) => c.audioRecUrl],
];

export function registerCalls(program: Command, env: Env) {
  const calls = program
    .command('calls')
    .alias('call')
    .description('calls over the Phonet REST API: click-to-call, list, hang up, history');
  type Flags = ConnectionFlags & JsonFlag;

  adminCommand(
    calls
      .command('make')
      .description("click-to-call: ring the employee's phone, then dial the number and bridge")
      .argument('<ext>', "the employee's ext, e.g. 001", parseExt)
      .argument('<number>', 'the number to call, e.g. 0671234567 or +380671234567'),
  ).action(async (ext: string, number: string, o: Flags) => {
    const { client, out, url } = await openPhonet(o, env);
    const r = await sdk(url, () => client.calls.make({ legExt: ext, otherLegNum: number }));
    out.result(r, () => out.line(`Call ${r.uuid}: ringing ${ext}, then dialling ${number}.`));
  });

  adminCommand(calls.command('active').description('calls in progress, one row per employee leg')).action(
    async (o: Flags) => {
      const { client, out, url } = await openPhonet(o, env);
      const items = await sdk(url, () => client.calls.active());
      out.result(items, () =>
        items.length === 0 ? out.line('No calls in progress.') : out.table(items, ACTIVE_COLUMNS),
      );
    },
  );

  adminCommand(
    calls
      .command('hangup')
      .description('end a call (a company call or one employee leg of it) in any state')
      .argument('<uuid>', 'the call uuid', parseUuid),
  ).action(async (uuid: string, o: Flags) => {
    const { client, out, url } = await openPhonet(o, env);
    await sdk(url, () => client.calls.hangup(uuid));
    out.result({ uuid, hungUp: true }, () => out.line(`Hung up ${uuid}.`));
  });

  type HistoryFlags = Flags & {
    from: number;
    to?: number;
    direction?: DirectionName[];
    kind: (typeof HISTORY_KINDS)[number];
    csv?: boolean;
    pageSize?: number;
  };
  adminCommand(
    calls
      .command('history')
      .description(
        'finished calls between two times, every page of them (company.api, missed.api or users.api)',
      )
      .requiredOption('--from <time>', 'start: epoch ms, ISO date/date-time, now, or -24h / -7d', (r) =>
        parseTime(r),
      )
      .option('--to <time>', 'end, the same forms (default now)', (r) => parseTime(r))
      .option(
        '--direction <names>',
        `only these directions: ${DIRECTION_NAMES.join(', ')} (comma-separated or repeated; pause/unpause with --kind users)`,
        collectDirections,
      )
      .addOption(
        new Option('--kind <kind>', 'company calls, missed calls, or per-employee legs')
          .choices(HISTORY_KINDS)
          .default('company'),
      )
      .option('--csv', 'print CSV (a header row, then one row per call) instead of a table')
      .option('--page-size <n>', 'records per request, 1 to 50 (default 50)', (r) => {
        const n = Number(r);
        if (!/^[0-9]+$/.test(r) || n < 1 || n > 50) throw new InvalidArgumentError('expected 1 to 50');
        return n;
      }),
  ).action(async (o: HistoryFlags) => {
    if (o.json && o.csv) throw new CliError('--json and --csv: choose one');
    const to = o.to ?? Date.now();
    if (o.from > to) throw new CliError('--from is after --to');
    if (o.kind !== 'users' && o.direction?.some((d) => d === 'pause' || d === 'unpause'))
      throw new CliError('pause/unpause directions exist only with --kind users');
    const { client, out, url } = await openPhonet(o, env);
    const query: CallHistoryOptions<DirectionName> = {
      from: o.from,
      to,
      directions: o.direction,
      pageSize: o.pageSize,
    };
    const pages =
      o.kind === 'users'
        ? client.calls.users(query)
        : client.calls[o.kind](query as CallHistoryOptions<Exclude<DirectionName, 'pause' | 'unpause'>>);
    const progress = createProgress(`calls history (${o.kind})`, process.stderr);
    const write = (t: string) => process.stdout.write(t);
    const records: CallHistoryRecord[] = [];
    let count = 0;
    try {
      if (o.csv) write(csvLine(CSV_COLUMNS.map(([h]) => h)));
      await sdk(url, async () => {
        for await (const page of pages.pages()) {
          // CSV streams page by page; JSON and tables need every record first.
          if (o.csv) write(page.map((c) => csvLine(CSV_COLUMNS.map(([, v]) => v(c)))).join(''));
          else records.push(...page);
          count += page.length;
          progress.update(count);
        }
      });
    } finally {
      progress.stop();
    }
    if (o.csv) return;
    out.result(records, () => {
      if (records.length === 0) return out.line('No calls in that time.');
      out.table(records, HISTORY_COLUMNS);
      out.line(`${records.length} calls.`);
    });
  });
}
