// `dzvin employees|groups|ivr|trunks|crm list|get|add|update|remove`: one table of resources,
// one way to turn friendly flags into the admin API's bodies.
import type {
  CarrierRegistration,
  CrmConnection,
  Employee,
  Ivr,
  RingGroup,
  Target,
  TrunkView,
} from '@dzvin/protocol';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ConnectionFlags, Env } from '../connection.ts';
import { CliError } from '../errors.ts';
import { type Column, time } from '../output.ts';
import { registerDeliveries } from './deliveries.ts';
import { registerIvrGreeting } from './ivr-greeting.ts';
import {
  adminCommand,
  type JsonFlag,
  open,
  orNull,
  parseData,
  parseId,
  parseInteger,
  parseNullableTarget,
  parseTarget,
  showTarget,
} from './shared.ts';
import { registerSipPassword } from './sip-password.ts';

/** A friendly flag and the body key it sets. Two flags may set one key (`--monitored`, `--no-monitored`). */
interface Field {
  flags: string;
  key: string;
  description: string;
  parse?: (raw: string, previous: unknown) => unknown;
  choices?: readonly string[];
}

interface Resource<T> {
  /** The command name, and the noun in messages. */
  name: string;
  aliases?: string[];
  /** For help. */
  title: string;
  singular: string;
  /** Under /api/v1. */
  path: string;
  columns: Column<T>[];
  /** Shown by get/add/update, after the list columns. */
  details?: Column<T>[];
  fields: Field[];
  /** Body keys `add` needs, and the flag that sets each. */
  required: [key: string, flag: string][];
}

const yesNoPair = (name: string, key: string, what: string): Field[] => [
  { flags: `--${name}`, key, description: what },
  { flags: `--no-${name}`, key, description: `the opposite of --${name}` },
];

/** `--members 1,2,3` (or '' for none). */
function parseIdList(raw: string): number[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((s) => parseId(s.trim()));
}

/** `--option 1=group:5`, repeatable; collects into IVR options. */
function parseIvrOption(raw: string, previous: unknown): { digit: string; target: Target }[] {
  const m = /^([0-9*#])=(.+)$/.exec(raw.trim());
  if (!m) throw new InvalidArgumentError('expected DIGIT=TYPE:ID, e.g. 1=group:5 (digits 0-9, * or #)');
  const list = Array.isArray(previous) ? previous : [];
  return [...list, { digit: m[1], target: parseTarget(m[2]) }];
}

const int = (raw: string) => parseInteger(raw);

// protocol's RING_STRATEGIES, without loading TypeBox at run time (see http-client.ts).
const RING_STRATEGIES: typeof import('@dzvin/protocol').RING_STRATEGIES = [
  'simultaneous',
  'sequential',
  'round-robin',
];

const employees: Resource<Employee> = {
  name: 'employees',
  title: 'employees (PBX users)',
  aliases: ['users'],
  singular: 'employee',
  path: 'employees',
  columns: [
    { header: 'id', value: (e) => e.id },
    { header: 'ext', value: (e) => e.ext },
    { header: 'name', value: (e) => e.displayName },
    { header: 'email', value: (e) => e.email },
    { header: 'monitored', value: (e) => e.monitored },
    { header: 'presence', value: (e) => e.presence },
    { header: 'paused', value: (e) => e.paused },
    { header: 'sip password', value: (e) => e.hasSipPassword },
  ],
  details: [{ header: 'created', value: (e) => new Date(e.createdAt).toISOString() }],
  fields: [
    { flags: '--name <name>', key: 'displayName', description: 'display name' },
    { flags: '--ext <digits>', key: 'ext', description: 'internal number, 1 to 10 digits' },
    { flags: '--email <email>', key: 'email', description: "email address ('' to clear)", parse: orNull },
    ...yesNoPair('monitored', 'monitored', 'presence is monitored'),
    { flags: '--presence <state>', key: 'presence', description: 'presence', choices: ['online', 'offline'] },
    ...yesNoPair('paused', 'paused', 'paused: takes no calls'),
  ],
  required: [
    ['displayName', '--name'],
    ['ext', '--ext'],
  ],
};

const groups: Resource<RingGroup> = {
  name: 'groups',
  title: 'ring groups (departments)',
  singular: 'group',
  path: 'groups',
  columns: [
    { header: 'id', value: (g) => g.id },
    { header: 'ext', value: (g) => g.ext },
    { header: 'name', value: (g) => g.name },
    { header: 'strategy', value: (g) => g.strategy },
    { header: 'timeout s', value: (g) => g.ringTimeoutSec },
    { header: 'members', value: (g) => g.members },
  ],
  fields: [
    { flags: '--name <name>', key: 'name', description: 'group name' },
    { flags: '--ext <digits>', key: 'ext', description: 'internal number, 1 to 10 digits' },
    {
      flags: '--strategy <strategy>',
      key: 'strategy',
      description: 'how members ring',
      choices: RING_STRATEGIES,
    },
    {
      flags: '--timeout <seconds>',
      key: 'ringTimeoutSec',
      description: 'ring timeout, 5 to 600 s',
      parse: int,
    },
    {
      flags: '--members <ids>',
      key: 'members',
      description: "employee ids in ring order, e.g. 1,2,3 ('' for none)",
      parse: parseIdList,
    },
  ],
  required: [
    ['name', '--name'],
    ['ext', '--ext'],
  ],
};

const ivr: Resource<Ivr> = {
  name: 'ivr',
  title: 'IVR scenarios (voice menus)',
  singular: 'IVR scenario',
  path: 'ivr',
  columns: [
    { header: 'id', value: (i) => i.id },
    { header: 'name', value: (i) => i.name },
    { header: 'timeout s', value: (i) => i.timeoutSec },
    { header: 'options', value: (i) => i.options.map((o) => `${o.digit}=${showTarget(o.target)}`) },
    { header: 'default', value: (i) => showTarget(i.defaultTarget) },
  ],
  details: [{ header: 'greeting', value: (i) => i.greeting }],
  fields: [
    { flags: '--name <name>', key: 'name', description: 'scenario name' },
    {
      flags: '--greeting <text>',
      key: 'greeting',
      description: "greeting text ('' to clear)",
      parse: orNull,
    },
    {
      flags: '--timeout <seconds>',
      key: 'timeoutSec',
      description: 'wait for a digit, 1 to 120 s',
      parse: int,
    },
    {
      flags: '--option <digit=target>',
      key: 'options',
      description: 'a choice, e.g. 1=group:5; repeat for more (replaces all options)',
      parse: parseIvrOption,
    },
    {
      flags: '--default <target>',
      key: 'defaultTarget',
      description: "where the call goes without a digit, e.g. group:5, or 'none'",
      parse: parseNullableTarget,
    },
  ],
  required: [['name', '--name']],
};

/**
 * A trunk's registration at its carrier in one cell: `registered until <ISO time>`,
 * `failed: 403 Forbidden (retry <ISO time>)`, `pending`, `off`.
 */
export function showRegistration(r: CarrierRegistration | undefined): string {
  if (!r) return '';
  switch (r.state) {
    case 'registered':
      return `registered until ${time(r.expiresAt)}`;
    case 'failed':
      return `failed: ${r.lastError ?? r.lastStatus ?? '?'}${r.nextAttemptAt ? ` (retry ${time(r.nextAttemptAt)})` : ''}`;
    default:
      return r.state;
  }
}

const trunks: Resource<TrunkView> = {
  name: 'trunks',
  title: 'trunks (external numbers)',
  singular: 'trunk',
  path: 'trunks',
  columns: [
    { header: 'id', value: (t) => t.id },
    { header: 'number', value: (t) => t.number },
    { header: 'name', value: (t) => t.name },
    { header: 'destination', value: (t) => showTarget(t.destination) },
    { header: 'default', value: (t) => t.isDefault },
    { header: 'SIP peers', value: (t) => t.sipPeers ?? [] },
    { header: 'DID from', value: (t) => t.sipDidFrom ?? 'either' },
    {
      header: 'SIP carrier',
      value: (t) =>
        t.sipCarrier
          ? `${t.sipCarrier.username ? `${t.sipCarrier.username}@` : ''}${t.sipCarrier.host}:${t.sipCarrier.port};transport=${t.sipCarrier.transport}${t.sipCarrier.register ? ';register' : ''}`
          : '',
    },
    { header: 'registration', value: (t) => showRegistration(t.sipCarrier?.registration) },
  ],
  fields: [
    { flags: '--number <e164>', key: 'number', description: 'external number, e.g. +380442246595' },
    { flags: '--name <name>', key: 'name', description: 'trunk name' },
    {
      flags: '--destination <target>',
      key: 'destination',
      description: "where incoming calls go, e.g. ivr:1, or 'none'",
      parse: parseNullableTarget,
    },
    ...yesNoPair('default', 'isDefault', 'the trunk for outgoing calls'),
    {
      flags: '--sip-peers <addresses>',
      key: 'sipPeers',
      description:
        "the carrier's IP addresses allowed to deliver this number's calls over SIP, comma-separated ('none' to clear)",
      parse: (v: string) =>
        v.trim() === '' || v.trim() === 'none'
          ? []
          : v
              .split(',')
              .map((a) => a.trim())
              .filter(Boolean),
    },
    {
      flags: '--sip-did-from <where>',
      key: 'sipDidFrom',
      description:
        "where a carrier's INVITE carries this number: request-uri, to, or either (the request URI's, else To's)",
      parse: (v: string) => {
        const w = v.trim();
        if (w !== 'either' && w !== 'request-uri' && w !== 'to')
          throw new InvalidArgumentError(`'${v}' is not request-uri, to or either`);
        return w;
      },
    },
    {
      flags: '--sip-carrier <carrier>',
      key: 'sipCarrier',
      description:
        "where calls out on this trunk go: [user[:password]@]host[:port][;transport=tcp][;register] ('none': simulated). A password left out stays as stored",
      parse: parseSipCarrier,
    },
  ],
  required: [
    ['number', '--number'],
    ['name', '--name'],
  ],
};

/**
 * `--sip-carrier user:secret@sip.carrier.example:5080;transport=tcp;register` → the API's
 * sipCarrier; 'none' → null. The server checks the host and the rest.
 */
export function parseSipCarrier(v: string): Record<string, unknown> | null {
  const text = v.trim().replace(/^sips?:/i, '');
  if (text === '' || text === 'none') return null;
  const [address, ...params] = text.split(';');
  const at = address.lastIndexOf('@');
  const userinfo = at >= 0 ? address.slice(0, at) : '';
  const hostport = at >= 0 ? address.slice(at + 1) : address;
  const colon = userinfo.indexOf(':');
  const out: Record<string, unknown> = {};
  if (userinfo) out.username = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  if (colon >= 0) out.password = userinfo.slice(colon + 1);
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostport);
  if (!m) throw new InvalidArgumentError(`'${hostport}' is not host[:port]`);
  out.host = m[1];
  if (m[2]) out.port = Number(m[2]);
  for (const p of params) {
    const [k, val] = p.split('=');
    if (k === 'transport' && (val === 'udp' || val === 'tcp')) out.transport = val;
    else if (k === 'register' && val === undefined) out.register = true;
    else throw new InvalidArgumentError(`unknown parameter '${p}' (transport=udp|tcp, register)`);
  }
  return out;
}

const crm: Resource<CrmConnection> = {
  name: 'crm',
  title: 'CRM connections (where call events go)',
  singular: 'CRM connection',
  path: 'crm-connections',
  columns: [
    { header: 'id', value: (c) => c.id },
    { header: 'name', value: (c) => c.name },
    { header: 'priority', value: (c) => c.priority },
    { header: 'enabled', value: (c) => c.enabled },
    { header: 'signed', value: (c) => c.hasSecret },
    { header: 'lookup url', value: (c) => c.callSettingsUrl },
    { header: 'events url', value: (c) => c.eventsUrl },
    { header: 'utm url', value: (c) => c.utmUrl },
  ],
  fields: [
    { flags: '--name <name>', key: 'name', description: 'connection name' },
    {
      flags: '--lookup-url <url>',
      key: 'callSettingsUrl',
      description: "call.settings lookup URL ('' to clear)",
      parse: orNull,
    },
    {
      flags: '--events-url <url>',
      key: 'eventsUrl',
      description: "call events URL ('' to clear)",
      parse: orNull,
    },
    { flags: '--utm-url <url>', key: 'utmUrl', description: "UTM batches URL ('' to clear)", parse: orNull },
    {
      flags: '--priority <n>',
      key: 'priority',
      description: 'order among connections, 0 to 1000',
      parse: int,
    },
    {
      flags: '--secret <secret>',
      key: 'secret',
      description: "signing secret, 16+ characters ('' to stop signing)",
      parse: orNull,
    },
    ...yesNoPair('enabled', 'enabled', 'deliveries are made'),
  ],
  required: [['name', '--name']],
};

/** Adds the friendly flags and --data; returns how to read them back into a body. */
function bodyOptions(
  cmd: Command,
  r: Resource<unknown>,
): (opts: Record<string, unknown>) => Record<string, unknown> {
  const fieldOf = new Map<string, Resource<unknown>['fields'][number]>();
  for (const f of r.fields) {
    const opt = new Option(f.flags, f.description);
    if (f.choices) opt.choices(f.choices);
    if (f.parse) opt.argParser(f.parse);
    cmd.addOption(opt);
    fieldOf.set(opt.attributeName(), f);
  }
  cmd.option(
    '--data <json>',
    'more fields as a JSON object, or @file.json (@- for stdin); the flags above win',
    parseData,
  );
  return (opts) => {
    const body: Record<string, unknown> = { ...(opts.data as Record<string, unknown> | undefined) };
    for (const [attr, f] of fieldOf) {
      const v = opts[attr];
      if (v === undefined) continue;
      // commander does not run an option's parser on an empty value ('' means "clear").
      body[f.key] = v === '' && f.parse ? f.parse('', undefined) : v;
    }
    return body;
  };
}

function registerResource<T extends { id: number }>(program: Command, env: Env, r: Resource<T>) {
  const group = program.command(r.name).description(`${r.title} of the account, over the admin API`);
  for (const a of r.aliases ?? []) group.alias(a);
  const all = [...r.columns, ...(r.details ?? [])];
  type Flags = ConnectionFlags & JsonFlag & Record<string, unknown>;

  adminCommand(group.command('list').description(`list ${r.name}`)).action(async (o: Flags) => {
    const { client, out } = open(o, env);
    const items = await client.resource<T>(r.path).list();
    out.result(items, () =>
      items.length === 0 ? out.line(`No ${r.name} yet.`) : out.table(items, r.columns),
    );
  });

  adminCommand(
    group.command('get').description(`show one ${r.singular}`).argument('<id>', `${r.singular} id`, parseId),
  ).action(async (id: number, o: Flags) => {
    const { client, out } = open(o, env);
    const item = await client.resource<T>(r.path).get(id);
    out.result(item, () => out.record(item, all));
  });

  // The resource's own flags first in --help, the connection flags after them.
  const add = group
    .command('add')
    .description(`create ${/^[aeiou]/i.test(r.singular) ? 'an' : 'a'} ${r.singular}`);
  const addBody = bodyOptions(add, r);
  adminCommand(add).action(async (o: Flags) => {
    const body = addBody(o);
    const missing = r.required.filter(([key]) => body[key] === undefined).map(([, flag]) => flag);
    if (missing.length > 0) throw new CliError(`missing ${missing.join(' and ')} (or the same in --data)`);
    const { client, out } = open(o, env);
    const item = await client.resource<T>(r.path).create(body);
    out.result(item, () => {
      out.line(`Created ${r.singular} ${item.id}.`);
      out.record(item, all);
    });
  });

  const update = group
    .command('update')
    .description(`change one ${r.singular} (only the fields given)`)
    .argument('<id>', `${r.singular} id`, parseId);
  const patchBody = bodyOptions(update, r);
  adminCommand(update).action(async (id: number, o: Flags) => {
    const patch = patchBody(o);
    if (Object.keys(patch).length === 0) throw new CliError('nothing to change: pass a field flag or --data');
    const { client, out } = open(o, env);
    const item = await client.resource<T>(r.path).update(id, patch);
    out.result(item, () => {
      out.line(`Updated ${r.singular} ${item.id}.`);
      out.record(item, all);
    });
  });

  adminCommand(
    group
      .command('remove')
      .alias('rm')
      .description(`delete one ${r.singular}`)
      .argument('<id>', `${r.singular} id`, parseId),
  ).action(async (id: number, o: Flags) => {
    const { client, out } = open(o, env);
    await client.resource<T>(r.path).remove(id);
    out.result({ id, deleted: true }, () => out.line(`Removed ${r.singular} ${id}.`));
  });
}

export function registerDirectory(program: Command, env: Env) {
  registerResource(program, env, employees);
  const employeesCommand = program.commands.find((c) => c.name() === employees.name);
  if (employeesCommand) registerSipPassword(employeesCommand, env);
  registerResource(program, env, groups);
  registerResource(program, env, ivr);
  const ivrCommand = program.commands.find((c) => c.name() === ivr.name);
  if (ivrCommand) registerIvrGreeting(ivrCommand, env);
  registerResource(program, env, trunks);
  registerResource(program, env, crm);
  const crmCommand = program.commands.find((c) => c.name() === crm.name);
  if (crmCommand) registerDeliveries(crmCommand, env);
}
