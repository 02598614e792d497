// `dzvin crm deliveries|attempts|secret|replay|test`: the webhook delivery log of a CRM connection
// (attempts, status, latency, response excerpt), every attempt of one delivery, replay of one or
// all failed/dead deliveries, a generated signing secret, and a sample event, over the admin API
// (/api/v1/crm-connections/{id}/deliveries…, /api/v1/deliveries/{id}/attempts).
import type { Delivery, DeliveryAttempt, DeliveryStatus } from '@dzvin/protocol';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ConnectionFlags, Env } from '../connection.ts';
import { type Column, time } from '../output.ts';
import { adminCommand, type JsonFlag, open, parseId } from './shared.ts';

const STATUSES = ['pending', 'delivered', 'failed', 'dead'] as const;

function parseStatuses(raw: string): DeliveryStatus[] {
  const list = raw.split(',').map((s) => s.trim());
  for (const s of list)
    if (!STATUSES.includes(s as DeliveryStatus))
      throw new InvalidArgumentError(`expected ${STATUSES.join(', ')} (comma-separated)`);
  return list as DeliveryStatus[];
}

function parseLimit(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n < 1 || n > 500) throw new InvalidArgumentError('expected 1 to 500');
  return n;
}

/** `HTTP 410 — gone`: what went wrong, and what the CRM answered (the start of both). */
const errorAndAnswer = (error: string | null, answer: string | null) =>
  [error, answer]
    .filter((s) => s)
    .join(' — ')
    .slice(0, 60);

const columns: Column<Delivery>[] = [
  { header: 'id', value: (d) => d.id },
  { header: 'event', value: (d) => d.event ?? d.kind },
  { header: 'call', value: (d) => d.orderKey },
  { header: 'status', value: (d) => d.status },
  { header: 'attempts', value: (d) => d.attempts },
  { header: 'HTTP', value: (d) => d.lastStatus },
  { header: 'ms', value: (d) => d.lastLatencyMs },
  { header: 'created', value: (d) => time(d.createdAt) },
  { header: 'next attempt', value: (d) => (d.nextAttemptAt === null ? null : time(d.nextAttemptAt)) },
  { header: 'error / answer', value: (d) => errorAndAnswer(d.lastError, d.responseExcerpt) },
];

const attemptColumns: Column<DeliveryAttempt>[] = [
  { header: '#', value: (a) => a.attempt },
  { header: 'at', value: (a) => time(a.at) },
  { header: 'HTTP', value: (a) => a.status },
  { header: 'ms', value: (a) => a.latencyMs },
  { header: 'error / answer', value: (a) => errorAndAnswer(a.error, a.responseExcerpt) },
];

/** Adds the delivery commands to `dzvin crm`. */
export function registerDeliveries(crm: Command, env: Env) {
  type Flags = ConnectionFlags & JsonFlag;
  adminCommand(
    crm
      .command('deliveries')
      .description('the delivery log of a CRM connection, newest first')
      .argument('<connection>', 'CRM connection id', parseId)
      .addOption(new Option('--status <status>', 'only this status').choices([...STATUSES]))
      .option('--limit <n>', 'at most this many (1–500)', parseLimit, 50),
  ).action(async (id: number, o: Flags & { status?: DeliveryStatus; limit: number }) => {
    const { client, out } = open(o, env);
    const q = new URLSearchParams({ limit: String(o.limit) });
    if (o.status) q.set('status', o.status);
    const items = await client.request<Delivery[]>('GET', `/crm-connections/${id}/deliveries?${q}`);
    out.result(items, () => (items.length === 0 ? out.line('No deliveries.') : out.table(items, columns)));
  });

  adminCommand(
    crm
      .command('attempts')
      .description('every attempt of one delivery, oldest first')
      .argument('<delivery>', 'delivery id (from `dzvin crm deliveries`)', parseId),
  ).action(async (id: number, o: Flags) => {
    const { client, out } = open(o, env);
    const items = await client.request<DeliveryAttempt[]>('GET', `/deliveries/${id}/attempts`);
    out.result(items, () =>
      items.length === 0 ? out.line('Not attempted yet.') : out.table(items, attemptColumns),
    );
  });

  adminCommand(
    crm
      .command('secret')
      .description(
        'generate a new signing secret for a connection, shown once (deliveries are signed with it from now on)',
      )
      .argument('<connection>', 'CRM connection id', parseId),
  ).action(async (id: number, o: Flags) => {
    const { client, out } = open(o, env);
    const r = await client.request<{ secret: string }>('POST', `/crm-connections/${id}/secret`);
    out.result(r, () => {
      out.line(r.secret);
      out.line('Shown only now: give it to the CRM to verify the webhook-signature header.');
    });
  });

  adminCommand(
    crm
      .command('replay')
      .description(
        'send again every failed and dead delivery of a connection (or one delivery with --delivery)',
      )
      .argument('<connection>', 'CRM connection id', parseId)
      .option('--delivery <id>', 'replay only this delivery (whatever its status)', parseId)
      .option('--status <list>', 'statuses to replay (default failed,dead)', parseStatuses),
  ).action(async (id: number, o: Flags & { delivery?: number; status?: DeliveryStatus[] }) => {
    const { client, out } = open(o, env);
    const r = o.delivery
      ? await client.request<{ replayed: number }>('POST', `/deliveries/${o.delivery}/replay`)
      : await client.request<{ replayed: number }>('POST', `/crm-connections/${id}/deliveries/replay`, {
          statuses: o.status ?? ['failed', 'dead'],
        });
    out.result(r, () => out.line(`Replayed ${r.replayed} ${r.replayed === 1 ? 'delivery' : 'deliveries'}.`));
  });

  adminCommand(
    crm
      .command('test')
      .description('send a sample call.dial event to a connection (see it with `dzvin crm deliveries`)')
      .argument('<connection>', 'CRM connection id', parseId),
  ).action(async (id: number, o: Flags) => {
    const { client, out } = open(o, env);
    const r = await client.request<{ enqueued: number; uuid: string }>('POST', `/crm-connections/${id}/test`);
    out.result(r, () => out.line(`Sent a test call.dial (uuid ${r.uuid}).`));
  });
}
