// `dzvin ivr greeting <id> --file greeting.wav | --remove`: an IVR's recorded greeting, played to
// real callers (over SIP) until they press a digit (PUT/DELETE /api/v1/ivr/{id}/greeting-audio).
// The file goes as it is: the server says what it accepts (8 kHz mono 16-bit PCM WAV).
import fs from 'node:fs';
import type { Command } from 'commander';
import type { ConnectionFlags, Env } from '../connection.ts';
import { CliError, EXIT } from '../errors.ts';
import { adminCommand, type JsonFlag, open, parseId } from './shared.ts';

type Flags = ConnectionFlags & JsonFlag & { file?: string; remove?: boolean };

export function registerIvrGreeting(ivr: Command, env: Env) {
  adminCommand(
    ivr
      .command('greeting')
      .description(
        "set an IVR scenario's recorded greeting (what real callers hear until they press a digit): --file an 8 kHz mono 16-bit WAV (e.g. `sox in.mp3 -r 8000 -c 1 -b 16 greeting.wav`), or --remove for the built-in prompt",
      )
      .argument('<id>', 'the IVR scenario id', parseId)
      .option('--file <wav>', 'the greeting, a WAV file (up to 2 minutes)')
      .option('--remove', 'remove the greeting'),
  ).action(async (id: number, o: Flags) => {
    if ((o.file === undefined) === !o.remove) throw new CliError('pass exactly one of --file or --remove');
    const { client, out } = open(o, env);
    const path = `/ivr/${id}/greeting-audio`;
    if (o.remove) {
      await client.request('DELETE', path);
      out.result({ id, greeting: false }, () => out.line(`Removed the greeting of IVR ${id}.`));
      return;
    }
    let data: Buffer;
    try {
      data = fs.readFileSync(o.file!);
    } catch (e) {
      throw new CliError(`cannot read ${o.file}: ${(e as Error).message}`, EXIT.USAGE);
    }
    const { seconds } = await client.upload<{ seconds: number }>('PUT', path, data, 'audio/wav');
    out.result({ id, greeting: true, seconds }, () =>
      out.line(`Set the greeting of IVR ${id}: ${seconds.toFixed(1)} s.`),
    );
  });
}
