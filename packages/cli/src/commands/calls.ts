// `dzvin calls make|active|hangup` (also `dzvin call …`): the documented Phonet call endpoints
// under /rest/, which take a session cookie, so each command signs in first (phonetSession).
import type { ActiveCall, MakeCallResponse } from '@dzvin/protocol';
import { type Command, InvalidArgumentError } from 'commander';
import { type ConnectionFlags, type Env, resolveConnection } from '../connection.ts';
import { type PhonetSession, phonetSession } from '../http-client.ts';
import { type Column, createOutput, type Output, time } from '../output.ts';
import { adminCommand, type JsonFlag } from './shared.ts';

/** The client of /rest/ and the output of a call command, from its flags and the environment. */
export async function openRest(
  flags: ConnectionFlags & JsonFlag,
  env: Env,
): Promise<{ rest: PhonetSession; out: Output }> {
  const conn = resolveConnection(flags, env);
  const rest = await phonetSession({ url: conn.url, apiKey: conn.apiKey, domain: conn.domain });
  return { rest, out: createOutput({ json: !!flags.json }) };
}

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

const DIRECTIONS: Record<number, string> = { 1: 'internal', 2: 'outgoing', 4: 'incoming' };
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

export function registerCalls(program: Command, env: Env) {
  const calls = program
    .command('calls')
    .alias('call')
    .description('calls in progress over the Phonet REST API: click-to-call, list, hang up');
  type Flags = ConnectionFlags & JsonFlag;

  adminCommand(
    calls
      .command('make')
      .description("click-to-call: ring the employee's phone, then dial the number and bridge")
      .argument('<ext>', "the employee's ext, e.g. 001", parseExt)
      .argument('<number>', 'the number to call, e.g. 0671234567 or +380671234567'),
  ).action(async (ext: string, number: string, o: Flags) => {
    const { rest, out } = await openRest(o, env);
    const r = await rest.request<MakeCallResponse>('POST', '/rest/user/makeCall', {
      legExt: ext,
      otherLegNum: number,
    });
    out.result(r, () => out.line(`Call ${r.uuid}: ringing ${ext}, then dialling ${number}.`));
  });

  adminCommand(calls.command('active').description('calls in progress, one row per employee leg')).action(
    async (o: Flags) => {
      const { rest, out } = await openRest(o, env);
      const items = await rest.request<ActiveCall[]>('GET', '/rest/calls/active/v3');
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
    const { rest, out } = await openRest(o, env);
    await rest.request<null>('POST', `/rest/calls/active/${encodeURIComponent(uuid)}/hangup`);
    out.result({ uuid, hungUp: true }, () => out.line(`Hung up ${uuid}.`));
  });
}
