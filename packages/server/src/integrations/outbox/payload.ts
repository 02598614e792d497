import type { CallEventName } from '@dzvin/protocol';
import type { FinishedCall, LiveCall } from '../../domain/calls/call-model.ts';
import { callEventPayload } from '../../domain/calls/projection.ts';
import type { Clock } from '../../domain/clock.ts';
import type { DeliveryRecord, Store } from '../../domain/ports.ts';
import type { OutboxEntry } from './outbox.ts';

/** What a call event's delivery carries: built when it is enqueued, stamped when it is sent. */

export { callEventPayload } from '../../domain/calls/projection.ts';

/**
 * One outbox entry per event and per enabled CRM connection with an events URL of the account,
 * read through `tx`; none when the account has no such connection.
 */
export async function callEventEntries(
  tx: Store,
  clock: Clock,
  accountId: number,
  events: { type: CallEventName; call: LiveCall | FinishedCall }[],
): Promise<OutboxEntry[]> {
  const connections = (await tx.directory.crm.list(accountId)).filter((c) => c.enabled && c.eventsUrl);
  if (!connections.length) return [];
  const account = await tx.accounts.byId(accountId);
  if (!account) return [];
  const now = clock.now();
  const out: OutboxEntry[] = [];
  for (const e of events) {
    const payload = callEventPayload(e.type, e.call, account.domain, now);
    for (const c of connections)
      out.push({
        accountId,
        connectionId: c.id,
        kind: 'event',
        // One order per company call: its legs' events too (spec #18 "in order per call").
        orderKey: e.call.parentUuid ?? e.call.uuid,
        payload,
      });
  }
  return out;
}

/** The body as sent: events carry the time of this attempt in `serverTime`. */
export function bodyOf(d: DeliveryRecord, now: number): string {
  if (d.kind !== 'event') return d.payload;
  // serverTime is "when the event was sent" (spec): replace it in place, key order kept.
  return d.payload.replace(/"serverTime":\d+/, `"serverTime":${now}`);
}
