// A real CRM on 127.0.0.1 (node:http): records every request and answers with whatever the test
// sets, including never (a CRM that sleeps past the PBX's timeout).
import http from 'node:http';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience
  json: any;
}

/** What to answer: a status and a body, or 'hang' to never answer. */
export type Answer = { status: number; body: string } | 'hang';

export interface CrmReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** Decides the answer per request (default 200 `{"otherLeg":null}`). */
  answer: (req: ReceivedRequest) => Answer;
  close(): Promise<void>;
}

export async function startCrmReceiver(path = '/phonet'): Promise<CrmReceiver> {
  const receiver: CrmReceiver = {
    url: '',
    requests: [],
    answer: () => ({ status: 200, body: '{"otherLeg":null}' }),
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        /* kept as text */
      }
      const r: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        text,
        json,
      };
      receiver.requests.push(r);
      const a = receiver.answer(r);
      if (a === 'hang') return;
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  receiver.url = `http://127.0.0.1:${port}${path}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
