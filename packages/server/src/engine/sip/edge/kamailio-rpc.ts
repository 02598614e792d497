// JSON-RPC 2.0 to Kamailio's jsonrpcs module, served over HTTP by xhttp (POST /RPC on the
// loopback RPC port of deploy/kamailio/dzvin.cfg).
//
// Why these choices:
// - HTTP, not the FIFO or datagram transports: nothing to place on disk with the right owner
//   (Kamailio runs as `nobody`), and undici is already how the server talks HTTP.
// - One request per call, no batching: calls are rare (a credential change, a poll every few
//   seconds) and a batch would make one bad entry fail the others.
// - Every call has a deadline: a Kamailio that accepts the connection but never answers must
//   surface as an error to the caller, not as a request hanging forever.
import { request } from 'undici';

export interface KamailioRpcOptions {
  /** e.g. `http://127.0.0.1:5071/RPC` */
  url: string;
  /** Deadline of one call, connection included (default 2000 ms). */
  timeoutMs?: number;
}

/** Kamailio answered with a JSON-RPC error object (its `code` is HTTP-like: 404, 500…). */
export class KamailioRpcError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
  ) {
    super(`Kamailio RPC ${method} failed: ${code} ${message}`);
    this.name = 'KamailioRpcError';
  }
}

/** Kamailio could not be reached, timed out, or answered something that is not JSON-RPC. */
export class KamailioUnavailableError extends Error {
  constructor(
    readonly method: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`Kamailio RPC ${method}: ${message}`, options);
    this.name = 'KamailioUnavailableError';
  }
}

export type RpcParam = string | number;

export interface KamailioRpc {
  /** Calls `method` and resolves to its `result`; rejects with one of the two errors above. */
  call(method: string, params?: readonly RpcParam[]): Promise<unknown>;
}

export function createKamailioRpc(opts: KamailioRpcOptions): KamailioRpc {
  const timeoutMs = opts.timeoutMs ?? 2000;
  let nextId = 1;

  return {
    async call(method, params = []) {
      const id = nextId++;
      let status: number;
      let text: string;
      try {
        const res = await request(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', method, params, id }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = res.statusCode;
        text = await res.body.text();
      } catch (e) {
        throw new KamailioUnavailableError(method, (e as Error).message, { cause: e });
      }

      // jsonrpcs answers an RPC error with the error's code as HTTP status too (404 for a missing
      // htable key), so the body decides; only a body that is not JSON-RPC means trouble.
      let reply: { result?: unknown; error?: { code?: unknown; message?: unknown }; id?: unknown };
      try {
        reply = JSON.parse(text);
      } catch (e) {
        throw new KamailioUnavailableError(method, `HTTP ${status}, not JSON-RPC: ${text.slice(0, 200)}`, {
          cause: e,
        });
      }
      if (reply.error) {
        const code = typeof reply.error.code === 'number' ? reply.error.code : 500;
        throw new KamailioRpcError(method, code, String(reply.error.message ?? 'unknown error'));
      }
      if (status !== 200 || !('result' in reply)) {
        throw new KamailioUnavailableError(method, `HTTP ${status} without a result`);
      }
      return reply.result;
    },
  };
}
