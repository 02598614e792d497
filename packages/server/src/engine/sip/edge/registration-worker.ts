// The registration worker thread: runs each poll (registration-poll.ts) with its own Kamailio
// RPC client, so the dump's HTTP body, its JSON and the diff never touch the main event loop.
// The main thread (registration-watcher.ts) asks for a poll and gets back only its events and
// the two flags it needs to start a new worker where this one left off.
import { parentPort, workerData } from 'node:worker_threads';
import { createKamailioControl } from './kamailio-control.ts';
import type { KamailioRpcOptions } from './kamailio-rpc.ts';
import { type PollState, pollRegistrations, type RegistrationEvent } from './registration-poll.ts';

/** workerData: where Kamailio's RPC is, and the state the main thread last saw (a restarted worker's). */
export interface RegistrationWorkerData {
  rpc: KamailioRpcOptions;
  state: PollState;
}

/** The main thread asks for one poll; polls are asked one at a time. */
export interface PollRequest {
  id: number;
}

/** An Error does not keep its class across threads: its name and message are sent. */
export type WireEvent =
  | Exclude<RegistrationEvent, { type: 'unavailable' }>
  | { type: 'unavailable'; error: { name: string; message: string } };

export interface PollReply {
  id: number;
  events: WireEvent[];
  synced: boolean | undefined;
  failing: boolean;
}

const toWire = (ev: RegistrationEvent): WireEvent =>
  ev.type === 'unavailable'
    ? {
        type: 'unavailable',
        error: { name: ev.error?.name ?? 'Error', message: String(ev.error?.message ?? ev.error) },
      }
    : ev;

if (parentPort) {
  const port = parentPort;
  const data = workerData as RegistrationWorkerData;
  const control = createKamailioControl(data.rpc);
  const state: PollState = { ...data.state };
  port.on('message', async (req: PollRequest) => {
    const events = await pollRegistrations(control, state);
    const reply: PollReply = {
      id: req.id,
      events: events.map(toWire),
      synced: state.synced,
      failing: state.failing,
    };
    port.postMessage(reply);
  });
}
