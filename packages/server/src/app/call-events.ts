import type { Cluster } from '../cluster/cluster.ts';
import type { CallBus } from '../domain/calls/call-engine.ts';
import type { Store } from '../domain/ports.ts';
import { createEventStream } from '../integrations/event-stream.ts';
import { createCallEventCapture } from '../integrations/outbox/capture.ts';
import { createDispatcher } from '../integrations/outbox/dispatcher.ts';
import { createOutbox } from '../integrations/outbox/outbox.ts';
import { DEFAULT_DELIVERY_SETTINGS } from '../integrations/outbox/settings.ts';
import type { Metrics } from '../metrics.ts';
import type { AppContext } from './context.ts';

/**
 * Call events out of this process. spec #18: the durable outbox and this process's dispatcher;
 * the capture that writes the engine's events into the outbox; the live stream (Server-Sent
 * Events, across processes). Built before the call engine, which saves through the capture, so
 * closed after it: the last hangups are written, then the dispatcher finishes the deliveries in
 * flight (whatever was not started stays in the outbox for the next process).
 */
export function openCallEvents(
  ctx: AppContext,
  deps: { store: Store; bus: CallBus; cluster: Cluster; metrics: Metrics },
) {
  const { app, config, clock, timers, logError } = ctx;
  const { store, bus, metrics } = deps;
  const outbox = createOutbox({ clock });
  const dispatcher = createDispatcher({
    store,
    clock,
    timers,
    policy: config.outgoing,
    settings: { ...DEFAULT_DELIVERY_SETTINGS, ...config.webhooks },
    random: ctx.random,
    onError: logError,
    onAttempt: (row, o) => {
      if (o.status === 'delivered') {
        metrics.deliveriesSent.inc({ kind: row.kind });
        metrics.deliveryLag.observe(Math.max(0, o.at - row.createdAt) / 1000, { kind: row.kind });
      } else if (o.status === 'pending') metrics.deliveriesRetried.inc({ kind: row.kind });
      else if (o.status === 'dead') metrics.deliveriesDead.inc({ kind: row.kind });
      else if (o.status === 'failed') metrics.deliveriesFailed.inc({ kind: row.kind });
    },
  });
  outbox.onNotify(() => dispatcher.kick());
  // The call events' rows go to this dispatcher as they commit (no claim for them).
  outbox.attach(dispatcher.writeClaimed);
  dispatcher.start();
  app.addHook('onClose', () => dispatcher.stop());

  const eventCapture = createCallEventCapture({ store, outbox, bus, clock, onError: logError });
  app.addHook('onClose', async () => {
    eventCapture.close();
    await eventCapture.flush();
  });

  const eventStream = createEventStream({ bus, store, clock, cluster: deps.cluster });
  app.addHook('onClose', async () => eventStream.close());

  return { outbox, dispatcher, eventCapture, eventStream };
}
export type CallEvents = ReturnType<typeof openCallEvents>;
