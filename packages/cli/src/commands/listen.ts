// `dzvin listen`: a local receiver of what a Phonet-compatible PBX POSTs to a CRM — call.settings
// lookups, call events, UTM batches — printed as they arrive, for integrators checking their
// PBX setup. Lookups are answered from a JSON file of numbers. Built on @dzvin/sdk's receiver.
import fs from 'node:fs';
import http from 'node:http';
import {
  type CallSettingsAnswer,
  type CallSettingsRequest,
  createWebhookHandler,
  type DeliveryContext,
  type UtmItem,
} from '@dzvin/sdk';
import { type Command, InvalidArgumentError } from 'commander';
import type { Env } from '../connection.ts';
import { clockTime, describeCallEvent } from '../describe-event.ts';
import { CliError } from '../errors.ts';

/** What `--answers` holds: number → answer (a name, or the whole otherLeg object); `*` is the fallback. */
export type Answers = Record<string, CallSettingsAnswer | string | null>;

const digits = (s: string) => s.replace(/[^0-9]/g, '');

/** Reads and checks an answers file; a CliError (exit 2) says what is wrong with it. */
export function readAnswers(file: string): Answers {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CliError(
      `${file} must be a JSON object of numbers, like { "+380442246595": { "name": "Acme", "url": "https://crm/…" }, "*": null }`,
    );
  for (const [num, answer] of Object.entries(parsed))
    if (
      answer !== null &&
      typeof answer !== 'string' &&
      (typeof answer !== 'object' || Array.isArray(answer))
    )
      throw new CliError(`${file}: the answer for '${num}' must be a name, an object or null`);
  return parsed as Answers;
}

/**
 * The answer for a number: the exact key, else the same digits, else the same last 9 digits
 * (`0442246595` finds `+380442246595`), else `*`, else nothing.
 */
export function findAnswer(answers: Answers, number: string): CallSettingsAnswer | null {
  const pick = (a: Answers[string] | undefined): CallSettingsAnswer | null =>
    a === undefined || a === null ? null : typeof a === 'string' ? { name: a } : a;
  if (Object.hasOwn(answers, number)) return pick(answers[number]);
  const d = digits(number);
  const keys = Object.keys(answers).filter((k) => k !== '*');
  const same = keys.find((k) => digits(k) === d && d !== '');
  if (same !== undefined) return pick(answers[same]);
  if (d.length >= 9) {
    const tail = d.slice(-9);
    const near = keys.find((k) => digits(k).length >= 9 && digits(k).slice(-9) === tail);
    if (near !== undefined) return pick(answers[near]);
  }
  return pick(answers['*']);
}

function describeUtm(items: UtmItem[]): string {
  return `utm         ${items.length} item${items.length === 1 ? '' : 's'}: ${items
    .map((i) =>
      [i.otherLegNum, [i.utmSource, i.utmMedium, i.utmCampaign].filter(Boolean).join('/')]
        .filter(Boolean)
        .join(' '),
    )
    .join('; ')}`;
}

function parsePort(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n > 65535)
    throw new InvalidArgumentError('expected a port, 0 to 65535 (0: any free one)');
  return n;
}

const collect = (v: string, prev: string[] = []) => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

export function registerListen(program: Command, _env: Env) {
  program
    .command('listen')
    .description(
      'a local webhook receiver: prints call.settings lookups, call events and UTM batches as they arrive, answers lookups from a file',
    )
    .option('--port <n>', 'port to listen on (0: any free one, printed at start)', parsePort, 3000)
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option(
      '--answers <file.json>',
      'answers to call.settings: { "<number>": "Name" | { "name", "url", "urlText", "responsibleEmployeeExt", … } | null, "*": fallback }; re-read when it changes',
    )
    .option('--secret <secret>', 'require Standard Webhooks signatures made with this secret (whsec_…)')
    .option(
      '--allow-ip <addresses>',
      'accept deliveries only from these addresses/CIDRs (comma-separated, repeatable)',
      collect,
    )
    .option('--json', 'print one JSON object per delivery (JSON lines) instead of text')
    .action(
      async (o: {
        port: number;
        host: string;
        answers?: string;
        secret?: string;
        allowIp?: string[];
        json?: boolean;
      }) => {
        let answers: Answers = o.answers ? readAnswers(o.answers) : {};
        let answersMtime = o.answers ? fs.statSync(o.answers).mtimeMs : 0;
        /** The answers file as it is now: edited files apply to the next lookup; a broken edit keeps the last good one. */
        const currentAnswers = (): Answers => {
          if (!o.answers) return answers;
          try {
            const m = fs.statSync(o.answers).mtimeMs;
            if (m !== answersMtime) {
              answers = readAnswers(o.answers);
              answersMtime = m;
            }
          } catch (e) {
            process.stderr.write(`dzvin: keeping the previous answers: ${(e as Error).message}\n`);
          }
          return answers;
        };
        const print = (
          type: string,
          now: number,
          pretty: string,
          data: Record<string, unknown>,
          ctx: DeliveryContext,
        ) => {
          if (o.json)
            process.stdout.write(
              `${JSON.stringify({ at: new Date(now).toISOString(), type, ip: ctx.ip, ...data })}\n`,
            );
          else process.stdout.write(`${clockTime(now)} ${pretty}\n`);
        };

        const handler = createWebhookHandler({
          // Every delivery is shown, repeats too: seeing the PBX retry is part of debugging it.
          dedupe: false,
          secret: o.secret,
          allowIps: o.allowIp?.length ? o.allowIp : undefined,
          onCallSettings(r: CallSettingsRequest, ctx) {
            const answer = findAnswer(currentAnswers(), r.otherLegNum);
            const to = answer ? (answer.name ?? JSON.stringify(answer)) : 'nothing (otherLeg: null)';
            print(
              'call.settings',
              Date.now(),
              `call.settings ${r.otherLegNum}${r.trunkNum ? ` via ${r.trunkNum}` : ''} → ${to}`,
              { request: r, answer },
              ctx,
            );
            return answer;
          },
          onCallEvent(e, ctx) {
            print('call.event', Date.now(), describeCallEvent(e), { event: e }, ctx);
          },
          onUtm(items, ctx) {
            print('utm', Date.now(), describeUtm(items), { items }, ctx);
          },
          onError(error) {
            process.stderr.write(`dzvin: ${(error as Error)?.message ?? error}\n`);
          },
        });

        const server = http.createServer((req, res) => {
          if (req.method === 'GET') {
            res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
            res.end('dzvin listen: POST call.settings lookups, call events and UTM batches here.\n');
            return;
          }
          handler.node(req, res);
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e: NodeJS.ErrnoException) =>
            reject(new CliError(`cannot listen on ${o.host}:${o.port}: ${e.code ?? e.message}`)),
          );
          server.listen(o.port, o.host, () => resolve());
        });
        const addr = server.address();
        const port = typeof addr === 'object' && addr ? addr.port : o.port;
        const shown = o.host.includes(':') ? `[${o.host}]` : o.host;
        process.stderr.write(
          `Listening on http://${shown}:${port}/ — use it as the lookup, events and UTM URL of a CRM connection. Ctrl-C stops.\n`,
        );
        const stop = () => {
          server.close();
          server.closeAllConnections();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );
}
