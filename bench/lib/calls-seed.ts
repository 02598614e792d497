// A month of call history for the company.api part of `npm run bench:calls`: `calls` company
// calls of a busy office (with the employee legs and pause records that come with them), spread
// over working hours of the last `days` days, written straight into the `calls` table.
//
// The rows are what `store.calls.save` writes for the same FinishedCall (`toRow` in
// packages/server/src/store/call-store.ts, mirrored column by column in `rowOf`); `seedHistory`
// returns a sample of the calls it generated so the caller can read them back through the store
// and compare. SQLite only: one prepared insert, each row written as it is generated (nothing
// piles up in memory), 250,000 company calls per transaction. The table's secondary indexes are
// dropped for the load and created again afterwards from their own SQL in sqlite_master (the
// schema ends up byte for byte what the migration made; building an index once is about twice
// as fast as growing it row by row).
import type { OtherLeg } from '@dzvin/protocol';
import Database from 'better-sqlite3';
import type { Direction, FinishedCall, Party } from '../../packages/server/src/domain/calls/call-model.ts';
import { seededRandom } from './calls-harness.ts';

export interface HistoryDirectory {
  employees: Party[];
  groups: Party[];
  ivr: Party;
  trunks: { number: string; name: string }[];
}

export interface HistorySeedOptions {
  /** SQLite file, already migrated, with the account and its directory in it. */
  file: string;
  accountId: number;
  directory: HistoryDirectory;
  /** Company calls to write. */
  calls: number;
  days: number;
  /** The history ends just before this time. */
  now: number;
  seed: number;
  progress?: (companyDone: number) => void;
}

export interface HistorySeedResult {
  company: number;
  user: number;
  pause: number;
  rows: number;
  sec: number;
  /** End times of the company calls, ascending (to pick periods and offsets that give full pages). */
  endAts: Float64Array;
  /** Incoming company calls among them, ascending by end time, as a prefix count (endAts order). */
  incomingBefore: Uint32Array;
  /** Some generated calls (company and legs) to read back through the store. */
  samples: FinishedCall[];
}

const DAY = 86_400_000;
const HOUR = 3_600_000;
const COMPANY_PER_TX = 250_000;
const PROGRESS_EVERY = 50_000;
const SAMPLE_EVERY = 99_991;

/** The calls-table row of a call, as `toRow` in call-store.ts builds it (same columns, same order). */
const COLUMNS = [
  'uuid',
  'account_id',
  'kind',
  'parent_uuid',
  'direction',
  'leg_type',
  'leg_id',
  'leg_ext',
  'leg_display_name',
  'leg2_type',
  'leg2_id',
  'leg2_ext',
  'leg2_display_name',
  'other_leg_num',
  'other_leg_name',
  'other_legs_json',
  'trunk_num',
  'trunk_name',
  'trunk',
  'dial_at',
  'bridge_at',
  'end_at',
  'bill_secs',
  'duration',
  'disposition',
  'transfer_history',
  'recording_uuid',
] as const;

function rowOf(c: FinishedCall): unknown[] {
  return [
    c.uuid,
    c.accountId,
    c.kind,
    c.parentUuid,
    c.direction,
    c.leg?.type ?? null,
    c.leg?.id ?? null,
    c.leg?.ext ?? null,
    c.leg?.displayName ?? null,
    c.leg2?.type ?? null,
    c.leg2?.id ?? null,
    c.leg2?.ext ?? null,
    c.leg2?.displayName ?? null,
    c.otherLegNum,
    c.otherLegName,
    JSON.stringify(c.otherLegs ?? []),
    c.trunkNum,
    c.trunkName,
    c.trunk,
    c.dialAt,
    c.bridgeAt,
    c.endAt,
    c.billSecs,
    c.duration,
    c.disposition,
    c.transferHistory,
    c.recordingUuid,
  ];
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
const OPERATORS = ['50', '63', '66', '67', '68', '73', '93', '95', '96', '97', '98', '99'];
const NAMES = [
  'Олена Коваль',
  'ТОВ «Агроспецбуд»',
  'Андрій Шевчук',
  'ФОП Мельник',
  'Ірина Бондар',
  'Нова пошта',
];

export function seedHistory(o: HistorySeedOptions): HistorySeedResult {
  const t0 = performance.now();
  const r = seededRandom(o.seed);
  const hex8 = () => {
    const x = Math.floor(r() * 4294967296);
    return HEX[x >>> 24] + HEX[(x >>> 16) & 255] + HEX[(x >>> 8) & 255] + HEX[x & 255];
  };
  /** 32 hex digits, as the simulator's `randomUUID()` without dashes. */
  const uuid = () => hex8() + hex8() + hex8() + hex8();
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const normal = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  /** Talk time: log-normal around 1.5 min, at most an hour. */
  const talkSecs = () => Math.max(3, Math.min(3600, Math.round(Math.exp(Math.log(90) + 0.9 * normal()))));
  const ringSecs = () => 2 + Math.floor(r() * 20);
  const customer = () => {
    const k = Math.floor(r() * 150_000);
    const num = `+380${OPERATORS[k % OPERATORS.length]}${String((k * 7919) % 10_000_000).padStart(7, '0')}`;
    return { num, name: k % 10 < 3 ? NAMES[k % NAMES.length] : num };
  };

  // When calls end: working days (weekends at 30%), 85% within 08:00–20:00 Kyiv time (UTC+2),
  // busiest mid-day; the rest at any hour.
  const start = o.now - o.days * DAY;
  const firstMidnight = Math.floor(start / DAY) * DAY;
  const endAts = new Float64Array(o.calls);
  /** A time in the period, or -1 to draw again (a weekend day left out, or outside the period). */
  const draw = () => {
    const day = firstMidnight + Math.floor(r() * (o.days + 1)) * DAY;
    const weekday = new Date(day).getUTCDay();
    if ((weekday === 0 || weekday === 6) && r() > 0.3) return -1;
    const inDay = r() < 0.85 ? (8 - 2) * HOUR + ((r() + r() + r()) / 3) * 12 * HOUR : Math.floor(r() * DAY);
    const t = Math.floor(day + inDay);
    return t >= start && t < o.now ? t : -1;
  };
  for (let i = 0; i < o.calls; i++) {
    let t = draw();
    while (t < 0) t = draw();
    endAts[i] = t;
  }
  endAts.sort();

  const db = new Database(o.file);
  for (const p of [
    'synchronous = OFF',
    'wal_autocheckpoint = 0',
    'cache_size = -1048576',
    'temp_store = MEMORY',
  ])
    db.pragma(p);
  const indexes = db
    .prepare(
      `select name, sql from sqlite_master where type = 'index' and tbl_name = 'calls' and sql is not null`,
    )
    .all() as { name: string; sql: string }[];
  for (const ix of indexes) db.exec(`drop index "${ix.name.replaceAll('"', '""')}"`);
  const insert = db.prepare(
    `insert into calls (${COLUMNS.join(', ')}) values (${COLUMNS.map(() => '?').join(', ')})`,
  );

  const { employees, groups, ivr, trunks } = o.directory;
  const accountId = o.accountId;
  // Every record is an object literal with all of FinishedCall's properties in one order: one
  // hidden class (spreading a base object into 2.4M literals is several times slower).
  const noLegs: OtherLeg[] = [];
  type LegFields = Pick<
    FinishedCall,
    | 'dialAt'
    | 'bridgeAt'
    | 'endAt'
    | 'billSecs'
    | 'duration'
    | 'disposition'
    | 'transferHistory'
    | 'recordingUuid'
  >;
  /** An employee's leg of a company call (users.api), as the simulator's `record(c, leg, …)` makes it. */
  const leg = (p: FinishedCall, e: Party, f: LegFields): FinishedCall => ({
    uuid: uuid(),
    accountId,
    kind: 'user',
    parentUuid: p.uuid,
    direction: p.direction,
    leg: e,
    leg2: null,
    otherLegNum: p.otherLegNum,
    otherLegName: p.otherLegName,
    otherLegs: noLegs,
    trunkNum: p.trunkNum,
    trunkName: p.trunkName,
    trunk: p.trunk,
    dialAt: f.dialAt,
    bridgeAt: f.bridgeAt,
    endAt: f.endAt,
    billSecs: f.billSecs,
    duration: f.duration,
    disposition: f.disposition,
    transferHistory: f.transferHistory,
    recordingUuid: f.recordingUuid,
  });
  /** A direct call's employee record: the call's own uuid, no parent. */
  const primary = (p: FinishedCall, e: Party, f: LegFields): FinishedCall => ({
    ...leg(p, e, f),
    uuid: p.uuid,
    parentUuid: null,
  });
  const samples: FinishedCall[] = [];
  const incomingBefore = new Uint32Array(o.calls + 1);
  let users = 0;
  db.exec('begin');

  for (let i = 0; i < o.calls; i++) {
    const endAt = endAts[i];
    const id = uuid();
    const out: FinishedCall[] = [];
    const roll = r();
    const direction: Direction = roll < 0.68 ? 4 : roll < 0.95 ? 2 : 1;
    incomingBefore[i + 1] = incomingBefore[i] + (direction === 4 ? 1 : 0);

    if (direction === 1) {
      // Internal: one employee calls another; no trunk, no external party, no legs of its own.
      const a = pick(employees);
      let b = pick(employees);
      if (b === a) b = employees[(employees.indexOf(a) + 1) % employees.length];
      const answered = r() < 0.85;
      const ring = ringSecs();
      const talk = answered ? talkSecs() : 0;
      const dialAt = endAt - (ring + talk) * 1000;
      out.push({
        uuid: id,
        accountId,
        kind: 'company',
        parentUuid: null,
        direction,
        leg: a,
        leg2: b,
        otherLegNum: null,
        otherLegName: null,
        otherLegs: noLegs,
        trunkNum: null,
        trunkName: null,
        trunk: null,
        dialAt,
        bridgeAt: answered ? dialAt + ring * 1000 : null,
        endAt,
        billSecs: talk,
        duration: ring + talk,
        disposition: answered ? 0 : 1,
        transferHistory: answered ? a.ext : null,
        recordingUuid: answered ? id : null,
      });
    } else {
      const trunk = direction === 2 ? trunks[0] : pick(trunks);
      const who = customer();
      const d = r();
      const disposition =
        direction === 4
          ? d < 0.78
            ? 0
            : d < 0.94
              ? 1
              : d < 0.97
                ? 4
                : d < 0.99
                  ? 3
                  : 2
          : d < 0.7
            ? 0
            : d < 0.9
              ? 1
              : d < 0.97
                ? 4
                : 3;
      const answered = disposition === 0;
      const ring = ringSecs();
      const talk = answered ? talkSecs() : 0;
      const dialAt = endAt - (ring + talk) * 1000;
      const bridgeAt = answered ? dialAt + ring * 1000 : null;
      const company: FinishedCall = {
        uuid: id,
        accountId,
        kind: 'company',
        parentUuid: null,
        direction,
        leg: null,
        leg2: null,
        otherLegNum: who.num,
        otherLegName: who.name,
        otherLegs: noLegs,
        trunkNum: trunk.number,
        trunkName: trunk.name,
        trunk: `${direction === 2 ? 'o' : 'i'}=${trunk.number.slice(1)};`,
        dialAt,
        bridgeAt,
        endAt,
        billSecs: talk,
        duration: ring + talk,
        disposition,
        transferHistory: null,
        recordingUuid: answered ? id : null,
      };
      out.push(company);
      if (direction === 2 || r() < 0.25) {
        // Click-to-call, or a personal line: one employee, one call — the employee's record has
        // the call's uuid (the primary leg: README "What a CRM receives").
        const e = pick(employees);
        company.leg = e;
        company.transferHistory = answered ? e.ext : null;
        out.push(
          primary(company, e, {
            dialAt,
            bridgeAt,
            endAt,
            billSecs: talk,
            duration: ring + talk,
            disposition: answered ? 0 : disposition === 4 && direction === 4 ? 4 : 1,
            transferHistory: answered ? e.ext : null,
            recordingUuid: answered ? id : null,
          }),
        );
      } else if (!answered && r() < 0.15) {
        // The caller hung up in the IVR.
        company.leg = ivr;
      } else {
        // A ring group: one to three phones rang; the last one rung answered, if anyone did.
        const g = pick(groups);
        const rung = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(employees));
        company.leg = g;
        if (answered) {
          const a = rung[rung.length - 1];
          company.leg = a;
          company.transferHistory = a.ext;
          if (r() < 0.05) {
            // Transferred once: the second employee finishes the call.
            const b = pick(employees);
            company.leg = b;
            company.transferHistory = `${a.ext} > ${b.ext}`;
          }
        }
        rung.forEach((e, k) => {
          const winner = answered && k === rung.length - 1;
          const legRing = Math.min(ring, 1 + k * 5);
          out.push(
            leg(company, e, {
              dialAt: dialAt + Math.max(0, ring - legRing) * 1000,
              bridgeAt: winner ? bridgeAt : null,
              endAt: winner || !answered ? endAt : (bridgeAt ?? endAt),
              billSecs: winner ? talk : 0,
              duration: winner ? legRing + talk : legRing,
              disposition: winner ? 0 : disposition === 4 ? 4 : 1,
              transferHistory: winner ? e.ext : null,
              recordingUuid: winner ? id : null,
            }),
          );
        });
      }
    }
    users += out.length - 1;
    if (i % SAMPLE_EVERY === 0) samples.push(...out);
    for (const c of out) insert.run(rowOf(c));
    if ((i + 1) % COMPANY_PER_TX === 0) {
      db.exec('commit');
      db.exec('begin');
    }
    if ((i + 1) % PROGRESS_EVERY === 0) o.progress?.(i + 1);
  }

  // Lunch breaks: every employee pauses around 13:00 and unpauses an hour later, on working days.
  const pauses: FinishedCall[] = [];
  for (let day = firstMidnight; day < o.now; day += DAY) {
    const weekday = new Date(day).getUTCDay();
    if (weekday === 0 || weekday === 6) continue;
    for (const e of employees)
      for (const paused of [true, false]) {
        const at = day + (11 + (paused ? 0 : 1)) * HOUR + Math.floor(r() * 20 * 60_000);
        if (at < start || at >= o.now) continue;
        pauses.push({
          uuid: uuid(),
          accountId,
          kind: paused ? 'pause' : 'unpause',
          parentUuid: null,
          direction: paused ? 32 : 64,
          leg: e,
          leg2: null,
          otherLegNum: null,
          otherLegName: null,
          otherLegs: noLegs,
          trunkNum: null,
          trunkName: null,
          trunk: null,
          dialAt: at,
          bridgeAt: null,
          endAt: at,
          billSecs: 0,
          duration: 0,
          disposition: 0,
          transferHistory: null,
          recordingUuid: null,
        });
      }
  }
  for (const c of pauses) insert.run(rowOf(c));
  db.exec('commit');
  db.transaction(() => {
    for (const ix of indexes) db.exec(ix.sql);
  })();
  samples.push(...pauses.slice(0, 2));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return {
    company: o.calls,
    user: users,
    pause: pauses.length,
    rows: o.calls + users + pauses.length,
    sec: Math.round((performance.now() - t0) / 100) / 10,
    endAts,
    incomingBefore,
    samples,
  };
}
