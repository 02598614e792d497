// `dzvin events tail`: the account's live event stream (`GET /api/v1/events/stream`,
// text/event-stream), printed as it comes, pretty or as JSON lines. Reconnects with
// Last-Event-ID when the stream drops, as a browser's EventSource would.
import type { CallEvent } from '@dzvin/sdk';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { type ConnectionFlags, connectionOptions, type Env, resolveConnection } from '../connection.ts';
import { clockTime, describeCallEvent } from '../describe-event.ts';
import { CliError } from '../errors.ts';
import { ApiError, ConnectionError } from '../http-client.ts';
import { createSseParser, type SseEvent } from '../sse.ts';
import type { JsonFlag } from './shared.ts';

const isCallEvent = (d: unknown): d is CallEvent =>
  !!d &&
  typeof d === 'object' &&
  typeof (d as CallEvent).event === 'string' &&
  (d as CallEvent).event.startsWith('call.') &&
  typeof (d as CallEvent).uuid === 'string' &&
  Array.isArray((d as CallEvent).otherLegs);

const ADMIN_PREFIX: typeof import('@dzvin/protocol').ADMIN_PREFIX = '/api/v1';
export const EVENTS_STREAM_PATH = `${ADMIN_PREFIX}/events/stream`;

/** How an event reads for people: a call event as `dzvin listen` shows it, else name and fields. */
function describe(e: SseEvent, data: unknown): string {
  if (isCallEvent(data)) return describeCallEvent(data);
  if (data && typeof data === 'object' && !Array.isArray(data)) {
    const d = data as Record<string, unknown>;
    const parts = Object.entries(d)
      .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
      .slice(0, 8)
      .map(([k, v]) => `${k}=${v}`);
    return `${e.event} ${parts.join(' ')}`.trim();
  }
  return `${e.event} ${e.data}`;
}

function parseCount(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function registerEvents(program: Command, env: Env) {
  const events = program.command('events').description("the account's live events (server-sent events)");
  connectionOptions(
    events
      .command('tail')
      .description(`print events as they happen (GET ${EVENTS_STREAM_PATH}); Ctrl-C stops`)
      .option('--limit <n>', 'stop after n events', parseCount)
      .option('--no-reconnect', 'stop when the stream ends instead of reconnecting')
      .option('--json', 'print one JSON object per event ({ id, event, data }) instead of text'),
  ).action(async (o: ConnectionFlags & JsonFlag & { limit?: number; reconnect: boolean }) => {
    const conn = resolveConnection(o, env);
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let lastId: string | undefined;
    let retryMs = 2000;
    let seen = 0;
    let connectedOnce = false;
    try {
      while (!controller.signal.aborted) {
        let res: Response;
        try {
          res = await fetch(`${conn.url}${EVENTS_STREAM_PATH}`, {
            headers: {
              authorization: `Bearer ${conn.apiKey}`,
              accept: 'text/event-stream',
              ...(lastId !== undefined ? { 'last-event-id': lastId } : {}),
            },
            signal: controller.signal,
          });
        } catch (e) {
          if (controller.signal.aborted) return;
          const detail = String((e as { cause?: { code?: string } })?.cause?.code ?? (e as Error).message);
          if (!connectedOnce || !o.reconnect) throw new ConnectionError(conn.url, detail);
          process.stderr.write(`dzvin: stream lost (${detail}); reconnecting in ${retryMs / 1000} s\n`);
          await sleep(retryMs, controller.signal);
          continue;
        }
        if (!res.ok) {
          const text = (await res.text()).trim();
          if (res.status === 404)
            throw new ApiError(
              404,
              `this server has no event stream (GET ${EVENTS_STREAM_PATH}): ${text || 'Not Found'}`,
            );
          throw new ApiError(res.status, text || res.statusText);
        }
        const type = res.headers.get('content-type') ?? '';
        if (!type.startsWith('text/event-stream'))
          throw new CliError(
            `the server answered ${type || 'without a content type'}, not text/event-stream`,
            1,
          );
        if (!connectedOnce || lastId !== undefined)
          process.stderr.write(
            `${connectedOnce ? 'Reconnected' : 'Connected'} to ${conn.url}${EVENTS_STREAM_PATH}; Ctrl-C stops.\n`,
          );
        connectedOnce = true;
        const parse = createSseParser(
          (e) => {
            if (o.limit !== undefined && seen >= o.limit) return;
            seen++;
            if (e.id !== undefined) lastId = e.id;
            let data: unknown = e.data;
            try {
              data = JSON.parse(e.data);
            } catch {
              // not JSON: printed as text
            }
            if (o.json)
              process.stdout.write(`${JSON.stringify({ id: e.id ?? null, event: e.event, data })}\n`);
            else process.stdout.write(`${clockTime(Date.now())} ${describe(e, data)}\n`);
            if (o.limit !== undefined && seen >= o.limit) controller.abort();
          },
          (ms) => {
            retryMs = ms;
          },
        );
        const decoder = new TextDecoder();
        try {
          for await (const chunk of res.body ?? [])
            parse(decoder.decode(chunk as Uint8Array, { stream: true }));
        } catch (e) {
          if (controller.signal.aborted) return;
          process.stderr.write(`dzvin: stream lost (${(e as Error).message})\n`);
        }
        if (controller.signal.aborted || !o.reconnect) return;
        process.stderr.write(`dzvin: the stream ended; reconnecting in ${retryMs / 1000} s\n`);
        await sleep(retryMs, controller.signal);
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
