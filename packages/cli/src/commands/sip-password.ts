// `dzvin employees sip-password <ext> --password … | --generate | --remove`: an employee's SIP
// password over the admin API (PUT/DELETE /api/v1/employees/{id}/sip-password). The server keeps
// only the digest HA1, so a generated password is printed this once and never again.
import { randomInt } from 'node:crypto';
import type { Employee } from '@dzvin/protocol';
import type { Command } from 'commander';
import type { ConnectionFlags, Env } from '../connection.ts';
import { CliError, EXIT } from '../errors.ts';
import { parseExt } from './calls.ts';
import { adminCommand, type JsonFlag, open } from './shared.ts';

// No 0/O, 1/l/I: a password read off a screen into a phone's keypad.
const ALPHABET = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** 20 characters of the alphabet above (about 115 bits), from the OS's CSPRNG. */
export function generateSipPassword(length = 20): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

type Flags = ConnectionFlags & JsonFlag & { password?: string; generate?: boolean; remove?: boolean };

export function registerSipPassword(employees: Command, env: Env) {
  adminCommand(
    employees
      .command('sip-password')
      .description(
        "set an employee's SIP password (the softphone's user is the ext, its domain the account's): --password, or --generate to print a new one once; --remove takes it away",
      )
      .argument('<ext>', "the employee's ext, e.g. 001", parseExt)
      .option('--password <password>', '8 to 128 printable ASCII characters, no spaces')
      .option('--generate', 'generate a random password and print it once')
      .option('--remove', 'remove the password: the phone is dropped and cannot register again'),
  ).action(async (ext: string, o: Flags) => {
    const chosen = [o.password !== undefined, !!o.generate, !!o.remove].filter(Boolean).length;
    if (chosen !== 1) throw new CliError('pass exactly one of --password, --generate or --remove');
    const { client, out } = open(o, env);
    const employee = (await client.employees.list()).find((e: Employee) => e.ext === ext);
    if (!employee) throw new CliError(`no employee has ext ${ext}`, EXIT.REFUSED);
    const path = `/employees/${employee.id}/sip-password`;
    if (o.remove) {
      await client.request('DELETE', path);
      out.result({ ext, id: employee.id, sipPassword: false }, () =>
        out.line(`Removed the SIP password of ${ext}: its phones are dropped.`),
      );
      return;
    }
    const password = o.password ?? generateSipPassword();
    await client.request('PUT', path, { password });
    out.result({ ext, id: employee.id, sipPassword: true, ...(o.generate ? { password } : {}) }, () => {
      if (o.generate) {
        out.line(password);
        out.line(`Shown only now: the SIP password of ${ext} (user ${ext}). Dzvin keeps only its digest.`);
      } else out.line(`Set the SIP password of ${ext} (user ${ext}).`);
    });
  });
}
