// What the commands have in common: the --json flag, an admin client from the connection flags,
// and argument parsers that turn bad input into commander's usage errors (exit 2).
import fs from 'node:fs';
import type { Target } from '@dzvin/protocol';
import { type Command, InvalidArgumentError } from 'commander';
import { type ConnectionFlags, connectionOptions, type Env, resolveConnection } from '../connection.ts';
import { type AdminClient, createAdminClient } from '../http-client.ts';
import { createOutput, type Output } from '../output.ts';

export interface JsonFlag {
  json?: boolean;
}

export const jsonOption = (cmd: Command) => cmd.option('--json', 'print JSON for scripts instead of a table');

/** A command of the admin API: connection flags and --json. */
export const adminCommand = (cmd: Command) => jsonOption(connectionOptions(cmd));

/** The client and the output of an admin-API command, from its flags and the environment. */
export function open(flags: ConnectionFlags & JsonFlag, env: Env): { client: AdminClient; out: Output } {
  const conn = resolveConnection(flags, env);
  return {
    client: createAdminClient({ url: conn.url, apiKey: conn.apiKey }),
    out: createOutput({ json: !!flags.json }),
  };
}

export function parseId(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a positive integer id');
  return n;
}

export function parseInteger(raw: string): number {
  const n = Number(raw);
  if (!/^-?[0-9]+$/.test(raw) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected an integer');
  return n;
}

/** '' clears a nullable field. */
export const orNull = (raw: string): string | null => (raw === '' ? null : raw);

const TARGET_TYPES = ['employee', 'group', 'ivr'] as const;

/** `group:5` → `{ type: 'group', id: 5 }`. */
export function parseTarget(raw: string): Target {
  const m = /^([a-z]+):([0-9]+)$/.exec(raw.trim());
  const type = TARGET_TYPES.find((t) => t === m?.[1]);
  if (!m || !type)
    throw new InvalidArgumentError(
      `expected ${TARGET_TYPES.map((t) => `${t}:ID`).join(', ')} (e.g. group:5)`,
    );
  return { type, id: parseId(m[2]) };
}

/** A target, or `none` to clear it. */
export const parseNullableTarget = (raw: string): Target | null => (raw === 'none' ? null : parseTarget(raw));

export const showTarget = (t: Target | null | undefined) => (t ? `${t.type}:${t.id}` : '');

/** `--data '<json>'`, `--data @file.json` or `--data @-` (stdin): a JSON object. */
export function parseData(raw: string): Record<string, unknown> {
  let text = raw;
  if (raw.startsWith('@')) {
    const file = raw.slice(1);
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (e) {
      throw new InvalidArgumentError(`cannot read ${file}: ${(e as Error).message}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`not valid JSON: ${(e as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidArgumentError('expected a JSON object');
  return value as Record<string, unknown>;
}
