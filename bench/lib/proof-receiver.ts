// The loopback CRM of the proof's load and fault parts: an events URL that records every
// (uuid, event) it acknowledges, with the time it first arrived and how many times. Its mode is
// switched by the proof: `ok` answers 200, `503` answers 503 (a CRM that is down), `hang` reads
// the request and never answers (the dispatcher's timeout ends the attempt). Only 2xx answers
// count as received: a request answered 503 or never answered is not a delivery.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceiverMode = 'ok' | '503' | 'hang';

export interface Receipt {
  /** Date.now() of the first 2xx answer for this (uuid, event). */
  first: number;
  /** 2xx answers for it (more than 1: a duplicate delivery). */
  count: number;
}

export interface Receiver {
  url: string;
  mode: ReceiverMode;
  /** `${uuid} ${event}` → receipt. */
  received: Map<string, Receipt>;
  /** Date.now() of every 2xx answer, in order. */
  okTimes: number[];
  /** Requests answered 503, and requests left hanging. */
  refused: number;
  hung: number;
  /** Bodies that were not a call event (should stay 0). */
  malformed: number;
  close(): Promise<void>;
}

export const receiptKey = (uuid: string, event: string) => `${uuid} ${event}`;

export async function startReceiver(): Promise<Receiver> {
  const hanging = new Set<http.ServerResponse>();
  const state: Omit<Receiver, 'url' | 'close'> = {
    mode: 'ok',
    received: new Map(),
    okTimes: [],
    refused: 0,
    hung: 0,
    malformed: 0,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mode = receiver.mode;
      if (mode === '503') {
        state.refused++;
        res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
        return;
      }
      if (mode === 'hang') {
        state.hung++;
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      const now = Date.now();
      let uuid: unknown;
      let event: unknown;
      try {
        ({ uuid, event } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          uuid?: unknown;
          event?: unknown;
        });
      } catch {}
      if (typeof uuid !== 'string' || typeof event !== 'string') {
        state.malformed++;
        res.writeHead(400).end();
        return;
      }
      const key = receiptKey(uuid, event);
      const r = state.received.get(key);
      if (r) r.count++;
      else state.received.set(key, { first: now, count: 1 });
      state.okTimes.push(now);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = Object.assign(state, {
    url: `http://127.0.0.1:${port}/events`,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  });
  // Leaving `hang`: the held requests are dropped (their attempts have timed out by then).
  let mode: ReceiverMode = 'ok';
  Object.defineProperty(receiver, 'mode', {
    get: () => mode,
    set: (m: ReceiverMode) => {
      if (mode === 'hang' && m !== 'hang') for (const res of hanging) res.destroy();
      mode = m;
    },
  });
  return receiver;
}
