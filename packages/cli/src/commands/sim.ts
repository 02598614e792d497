// `dzvin sim …`: drive the simulated office over Dzvin's simulation API (/api/v1/sim): place
// incoming calls, act as an employee or the caller, set how phones behave, run the traffic generator.
import type { PhoneBehaviour, TalkTime, TrafficStart, TrafficStatus } from '@dzvin/protocol';
import { type Command, InvalidArgumentError } from 'commander';
import type { ConnectionFlags, Env } from '../connection.ts';
import { CliError } from '../errors.ts';
import { type Column, time } from '../output.ts';
import { parseExt, parseUuid } from './calls.ts';
import { adminCommand, type JsonFlag, open, parseInteger } from './shared.ts';

// protocol's SIM_PREFIX without loading TypeBox at run time (see http-client.ts); below /api/v1.
const SIM: typeof import('@dzvin/protocol').SIM_PREFIX extends `/api/v1${infer P}` ? P : never = '/sim';

type Flags = ConnectionFlags & JsonFlag;

/** A non-negative number of seconds (fractions allowed). */
function parseSeconds(raw: string, max = 36_000): number {
  const n = Number(raw);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(raw) || n > max)
    throw new InvalidArgumentError(`expected seconds, 0 to ${max}`);
  return n;
}

/** 0 to 1. */
function parseProbability(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]*\.?[0-9]+$/.test(raw) || n > 1)
    throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
}

const EMPLOYEE_MODES = ['manual', 'busy', 'dnd', 'unreachable'] as const;

/**
 * `answer[:AFTER_SEC[:PROBABILITY]]`, `manual`, `busy`, `dnd`, `unreachable` (and `congestion` for
 * external numbers), or `default` (null: the simulator's default phone).
 */
function behaviourParser(external: boolean) {
  const modes: readonly string[] = external ? [...EMPLOYEE_MODES, 'congestion'] : EMPLOYEE_MODES;
  const usage = `expected answer[:SEC[:PROBABILITY]] (e.g. answer:3:0.8), ${modes.join(', ')} or default`;
  return (raw: string): PhoneBehaviour | null => {
    const v = raw.trim().toLowerCase();
    if (v === 'default') return null;
    if (modes.includes(v)) return { mode: v } as PhoneBehaviour;
    const m = /^answer(?::([^:]+))?(?::([^:]+))?$/.exec(v);
    if (!m) throw new InvalidArgumentError(usage);
    try {
      return {
        mode: 'answer',
        answerAfterSec: m[1] === undefined ? (external ? 4 : 3) : parseSeconds(m[1], 600),
        probability: m[2] === undefined ? 1 : parseProbability(m[2]),
      };
    } catch (e) {
      throw new InvalidArgumentError(`${usage}: ${(e as Error).message}`);
    }
  };
}

const MODE_TEXT: Record<string, string> = {
  manual: 'ring until told (sim answer / sim reject)',
  busy: 'be busy',
  dnd: 'refuse calls (do not disturb)',
  unreachable: 'be unreachable',
  congestion: 'answer with congestion',
};

/** What a phone will do, to end "… will ". */
const showBehaviour = (b: PhoneBehaviour | null) =>
  !b
    ? 'behave as by default'
    : b.mode === 'answer'
      ? `answer after ${b.answerAfterSec} s with probability ${b.probability}`
      : MODE_TEXT[b.mode];

/** `20-90` (or `30` for exactly 30 s). */
function parseTalk(raw: string): TalkTime {
  const m = /^([0-9.]+)(?:-([0-9.]+))?$/.exec(raw.trim());
  if (!m) throw new InvalidArgumentError('expected MIN-MAX seconds, e.g. 20-90');
  const minSec = parseSeconds(m[1]);
  const maxSec = m[2] === undefined ? minSec : parseSeconds(m[2]);
  if (maxSec < minSec) throw new InvalidArgumentError('the maximum must not be below the minimum');
  return { minSec, maxSec };
}

function parseRate(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]*\.?[0-9]+$/.test(raw) || !(n > 0) || n > 200)
    throw new InvalidArgumentError('expected calls per second, above 0 and at most 200');
  return n;
}

function parsePositive(max: number) {
  return (raw: string): number => {
    const n = parseInteger(raw);
    if (n < 1 || n > max) throw new InvalidArgumentError(`expected an integer from 1 to ${max}`);
    return n;
  };
}

function parseDuration(raw: string): number {
  const n = parseSeconds(raw, 86_400);
  if (n === 0) throw new InvalidArgumentError('expected seconds, above 0 and at most 86400');
  return n;
}

/** `0-9`, `*` or `#`. */
function parseDigit(raw: string): string {
  if (!/^[0-9*#]$/.test(raw)) throw new InvalidArgumentError('expected one digit: 0-9, * or #');
  return raw;
}

const collect = (raw: string, previous: string[] | undefined) => [...(previous ?? []), raw];

const TRAFFIC_COLUMNS: Column<TrafficStatus>[] = [
  { header: 'running', value: (s) => s.running },
  { header: 'started', value: (s) => time(s.startedAt) },
  { header: 'stopped', value: (s) => time(s.stoppedAt) },
  { header: 'calls/s', value: (s) => s.ratePerSec },
  { header: 'duration s', value: (s) => s.durationSec },
  { header: 'max concurrent', value: (s) => s.maxConcurrent },
  { header: 'placed', value: (s) => s.placed },
  { header: 'dropped', value: (s) => s.dropped },
  { header: 'failed', value: (s) => s.failed },
  { header: 'last error', value: (s) => s.lastError },
];

export function registerSim(program: Command, env: Env) {
  const sim = program
    .command('sim')
    .description('the office simulator: place calls, act as employees and callers, generate traffic');

  adminCommand(
    sim
      .command('call')
      .description('an external number calls a trunk of the account (an incoming call)')
      .argument('<from>', 'the caller, e.g. 0505826633 or +380505826633')
      .argument('<trunk>', "the account's trunk number, e.g. +380442246595"),
  ).action(async (from: string, trunk: string, o: Flags) => {
    const { client, out } = open(o, env);
    const r = await client.request<{ uuid: string }>('POST', `${SIM}/calls`, { from, trunk });
    out.result(r, () => out.line(`Call ${r.uuid}: ${from} is calling ${trunk}.`));
  });

  for (const [name, done, description] of [
    ['answer', 'answered', 'an employee answers a ringing phone of the call'],
    ['reject', 'rejected', 'an employee rejects a ringing phone of the call (busy)'],
  ] as const)
    adminCommand(
      sim
        .command(name)
        .description(description)
        .argument('<uuid>', 'the company call uuid, or one ringing leg of it', parseUuid)
        .option('--ext <ext>', 'which employee, when several phones ring', parseExt),
    ).action(async (uuid: string, o: Flags & { ext?: string }) => {
      const { client, out } = open(o, env);
      await client.request('POST', `${SIM}/calls/${encodeURIComponent(uuid)}/${name}`, {
        ...(o.ext ? { ext: o.ext } : {}),
      });
      out.result({ uuid, [done]: true, ext: o.ext ?? null }, () =>
        out.line(`${done === 'answered' ? 'Answered' : 'Rejected'} ${uuid}${o.ext ? ` at ${o.ext}` : ''}.`),
      );
    });

  adminCommand(
    sim.command('hangup').description('end the call').argument('<uuid>', 'the call uuid', parseUuid),
  ).action(async (uuid: string, o: Flags) => {
    const { client, out } = open(o, env);
    await client.request('POST', `${SIM}/calls/${encodeURIComponent(uuid)}/hangup`);
    out.result({ uuid, hungUp: true }, () => out.line(`Hung up ${uuid}.`));
  });

  adminCommand(
    sim
      .command('digit')
      .description('the caller presses a digit in the IVR')
      .argument('<uuid>', 'the call uuid', parseUuid)
      .argument('<digit>', '0-9, * or #', parseDigit),
  ).action(async (uuid: string, digit: string, o: Flags) => {
    const { client, out } = open(o, env);
    await client.request('POST', `${SIM}/calls/${encodeURIComponent(uuid)}/digit`, { digit });
    out.result({ uuid, digit }, () => out.line(`Pressed ${digit} on ${uuid}.`));
  });

  adminCommand(
    sim
      .command('transfer')
      .description('blind-transfer an answered call to another employee')
      .argument('<uuid>', 'the call uuid', parseUuid)
      .argument('<toExt>', "the other employee's ext", parseExt),
  ).action(async (uuid: string, toExt: string, o: Flags) => {
    const { client, out } = open(o, env);
    await client.request('POST', `${SIM}/calls/${encodeURIComponent(uuid)}/transfer`, { toExt });
    out.result({ uuid, transferredTo: toExt }, () => out.line(`Transferring ${uuid} to ${toExt}.`));
  });

  for (const [name, paused] of [
    ['pause', true],
    ['unpause', false],
  ] as const)
    adminCommand(
      sim
        .command(name)
        .description(
          paused ? 'pause an employee (takes no calls; a 32 record)' : 'unpause an employee (a 64 record)',
        )
        .argument('<ext>', "the employee's ext", parseExt),
    ).action(async (ext: string, o: Flags) => {
      const { client, out } = open(o, env);
      await client.request('POST', `${SIM}/employees/${ext}/${name}`);
      out.result({ ext, paused }, () => out.line(`${paused ? 'Paused' : 'Unpaused'} ${ext}.`));
    });

  adminCommand(
    sim
      .command('behaviour')
      .alias('behavior')
      .description("how an employee's phone behaves when it rings")
      .argument('<ext>', "the employee's ext", parseExt)
      .argument(
        '<behaviour>',
        'answer[:SEC[:PROBABILITY]] (e.g. answer:3:0.8), manual, busy, dnd, unreachable, or default',
        behaviourParser(false),
      ),
  ).action(async (ext: string, behaviour: PhoneBehaviour | null, o: Flags) => {
    const { client, out } = open(o, env);
    await client.request('PUT', `${SIM}/behaviours/employees/${ext}`, behaviour);
    out.result({ ext, behaviour }, () => out.line(`${ext} will ${showBehaviour(behaviour)}.`));
  });

  adminCommand(
    sim
      .command('external')
      .description('how an external number behaves when an employee dials it')
      .argument('<number>', "the number, or '*' for every number")
      .argument(
        '<behaviour>',
        'answer[:SEC[:PROBABILITY]], manual, busy, dnd, unreachable, congestion, or default',
        behaviourParser(true),
      ),
  ).action(async (number: string, behaviour: PhoneBehaviour | null, o: Flags) => {
    const { client, out } = open(o, env);
    await client.request('PUT', `${SIM}/behaviours/external/${encodeURIComponent(number)}`, behaviour);
    out.result({ number, behaviour }, () =>
      out.line(`${number === '*' ? 'Every number' : number} will ${showBehaviour(behaviour)}.`),
    );
  });

  adminCommand(
    sim
      .command('talk')
      .description("how long answered calls last, drawn uniformly ('default': 20-90 s)")
      .argument('<min>', "seconds, or 'default'")
      .argument('[max]', 'seconds (default: the minimum)'),
  ).action(async (min: string, max: string | undefined, o: Flags) => {
    let talk: TalkTime | null;
    if (min === 'default') {
      if (max !== undefined) throw new CliError("'default' takes no maximum");
      talk = null;
    } else {
      try {
        talk = parseTalk(max === undefined ? min : `${min}-${max}`);
      } catch (e) {
        throw new CliError(`talk time: ${(e as Error).message}`);
      }
    }
    const { client, out } = open(o, env);
    await client.request('PUT', `${SIM}/talk-time`, talk);
    out.result({ talk }, () =>
      out.line(
        !talk
          ? 'Calls will last 20 to 90 s (the default).'
          : talk.minSec === talk.maxSec
            ? `Calls will last ${talk.minSec} s.`
            : `Calls will last ${talk.minSec} to ${talk.maxSec} s.`,
      ),
    );
  });

  const traffic = sim
    .command('traffic')
    .description('the traffic generator: Poisson arrivals of incoming calls, for demos and load');

  const start = traffic
    .command('start')
    .description(
      'start (or restart) generating incoming calls; answer rate and talk time stay set after it stops',
    )
    .requiredOption('--rate <perSec>', 'mean calls per second, above 0 and at most 200', parseRate)
    .option('--duration <sec>', 'stop by itself after this many seconds', parseDuration)
    .option('--answer-rate <p>', 'employees answer with this probability, 0 to 1', parseProbability)
    .option('--answer-after <sec>', 'employees answer after about this many seconds (±50 %)', (v) =>
      parseSeconds(v, 600),
    )
    .option('--talk <min-max>', 'talk time in seconds, e.g. 20-90', parseTalk)
    .option(
      '--max-concurrent <n>',
      'drop arrivals while this many calls are in progress',
      parsePositive(100_000),
    )
    .option('--trunk <number>', 'call this trunk (repeat for more; default: every trunk)', collect)
    .option('--callers <n>', 'size of the pool of caller numbers (default 500)', parsePositive(100_000));
  adminCommand(start).action(
    async (
      o: Flags & {
        rate: number;
        duration?: number;
        answerRate?: number;
        answerAfter?: number;
        talk?: TalkTime;
        maxConcurrent?: number;
        trunk?: string[];
        callers?: number;
      },
    ) => {
      const body: TrafficStart = { ratePerSec: o.rate };
      if (o.duration !== undefined) body.durationSec = o.duration;
      if (o.answerRate !== undefined) body.answerRate = o.answerRate;
      if (o.answerAfter !== undefined) body.answerAfterSec = o.answerAfter;
      if (o.talk) body.talk = o.talk;
      if (o.maxConcurrent !== undefined) body.maxConcurrent = o.maxConcurrent;
      if (o.trunk) body.trunks = o.trunk;
      if (o.callers !== undefined) body.callers = o.callers;
      const { client, out } = open(o, env);
      const s = await client.request<TrafficStatus>('POST', `${SIM}/traffic`, body);
      out.result(s, () => {
        out.line(
          `Generating ${s.ratePerSec} calls/s${s.durationSec ? ` for ${s.durationSec} s` : ' until stopped'}.`,
        );
        out.record(s, TRAFFIC_COLUMNS);
      });
    },
  );

  adminCommand(traffic.command('status').description("the generator's counts")).action(async (o: Flags) => {
    const { client, out } = open(o, env);
    const s = await client.request<TrafficStatus>('GET', `${SIM}/traffic`);
    out.result(s, () => out.record(s, TRAFFIC_COLUMNS));
  });

  adminCommand(
    traffic
      .command('stop')
      .description('stop generating calls (calls in progress go on); prints the final counts'),
  ).action(async (o: Flags) => {
    const { client, out } = open(o, env);
    const s = await client.request<TrafficStatus>('DELETE', `${SIM}/traffic`);
    out.result(s, () => {
      out.line('Stopped.');
      out.record(s, TRAFFIC_COLUMNS);
    });
  });
}
