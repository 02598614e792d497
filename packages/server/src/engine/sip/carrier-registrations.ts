// Registrations of trunks at their SIP carriers (issue 16): a trunk whose `sipCarrier.register`
// is on is kept registered — REGISTER through Kamailio (dzvin.cfg's TO_CARRIER: the Contact it
// sends is the edge's public socket with the trunk's number, so the carrier's calls come in
// through Kamailio like any other), the digest challenge answered once per request, refreshed
// before it expires, retried with backoff while the carrier refuses or is away, and removed
// (Expires: 0) when the trunk stops registering or goes. The trunks are read from the directory
// on start and every `syncMs` (and on `sync()`): the store is the truth, as for SIP passwords.
import type { Trunk } from '@dzvin/protocol';
import { newCallId, newTag } from './build.ts';
import { digestAnswer } from './carrier-calls.ts';
import { getHeader, getHeaders, type SipRequest, type SipResponse } from './message.ts';
import type { TransactionLayer } from './transaction.ts';
import type { Remote } from './transport.ts';

export interface CarrierRegistrationsDeps {
  layer: TransactionLayer;
  edge: Remote;
  /** Every trunk with a SIP carrier, with its account. */
  trunks(): Promise<{ accountId: number; trunk: Trunk }[]>;
  secret(accountId: number, trunkId: number): Promise<string | null>;
  /** Expires asked for, seconds (the carrier may grant less). Default 600. */
  expiresSec?: number;
  /** How often the directory is read again. Default 15 s. */
  syncMs?: number;
  /** The first retry after a failure; doubled up to `maxRetryMs`. Defaults 2 s / 5 min. */
  retryMs?: number;
  maxRetryMs?: number;
  onError(err: unknown): void;
  onTrace(what: string, detail?: unknown): void;
}

export interface CarrierRegistrationState {
  accountId: number;
  trunkId: number;
  number: string;
  registrar: string;
  state: 'registering' | 'registered' | 'failed';
  /** The carrier's last final answer (or 408 for none at all). */
  lastStatus: number | null;
  /** When the registration runs out (ms since the epoch), while registered. */
  expiresAt: number | null;
  /** Failed attempts in a row (the backoff). */
  failures: number;
}

interface Registration extends CarrierRegistrationState {
  key: string;
  trunk: Trunk;
  callId: string;
  fromTag: string;
  cseq: number;
  timer: NodeJS.Timeout | null;
  stopped: boolean;
}

const digits = (n: string) => n.replace(/[^0-9]/g, '');

/** What makes a registration a new one (a change of any of these re-registers). */
function keyOf(accountId: number, t: Trunk): string {
  const c = t.sipCarrier!;
  return [accountId, t.id, t.number, c.host, c.port, c.transport, c.username, c.hasPassword].join('|');
}

export function createCarrierRegistrations(deps: CarrierRegistrationsDeps) {
  const { layer, onError } = deps;
  const trace = deps.onTrace;
  const expiresSec = deps.expiresSec ?? 600;
  const retryMs = deps.retryMs ?? 2000;
  const maxRetryMs = deps.maxRetryMs ?? 300_000;
  const regs = new Map<string, Registration>();
  let closed = false;

  function request(r: Registration, expires: number): SipRequest {
    const c = r.trunk.sipCarrier!;
    const host = c.port === 5060 ? c.host : `${c.host}:${c.port}`;
    const aor = `<sip:${c.username}@${c.host}>`;
    return {
      type: 'request',
      method: 'REGISTER',
      uri: `sip:${host}${c.transport === 'tcp' ? ';transport=tcp' : ''}`,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `${aor};tag=${r.fromTag}` },
        { name: 'To', value: aor },
        { name: 'Call-ID', value: r.callId },
        { name: 'CSeq', value: `${++r.cseq} REGISTER` },
        // Kamailio replaces this Contact with its public socket (TO_CARRIER); the user part is the
        // trunk's number, which the carrier's INVITEs then carry in their request URI.
        { name: 'Contact', value: `<sip:${digits(r.trunk.number)}@dzvin.invalid>` },
        { name: 'Expires', value: String(expires) },
        { name: 'X-Dzvin-Carrier', value: r.trunk.number },
      ],
      body: Buffer.alloc(0),
    };
  }

  function schedule(r: Registration, ms: number, fn: () => void) {
    if (r.timer) clearTimeout(r.timer);
    r.timer = setTimeout(fn, ms);
    r.timer.unref();
  }

  /** How long the carrier granted: the Contact's `expires`, else the Expires header, else what we asked. */
  function granted(ok: SipResponse, asked: number): number {
    for (const contact of getHeaders(ok, 'Contact')) {
      const m = /;\s*expires\s*=\s*(\d+)/i.exec(contact);
      if (m) return Number(m[1]);
    }
    const e = Number(getHeader(ok, 'Expires'));
    return Number.isFinite(e) && e > 0 ? e : asked;
  }

  function failed(r: Registration, status: number) {
    r.state = 'failed';
    r.lastStatus = status;
    r.expiresAt = null;
    r.failures += 1;
    const wait = Math.min(maxRetryMs, retryMs * 2 ** (r.failures - 1));
    trace('carrier.register-failed', { trunk: r.number, status, retryInMs: wait });
    if (!r.stopped) schedule(r, wait, () => send(r, expiresSec));
  }

  /** Sends a REGISTER (expires 0: removes it), answering one challenge. */
  function send(r: Registration, expires: number, password?: string | null, challenge?: SipResponse) {
    if (closed) return;
    const req = request(r, expires);
    if (challenge && password && r.trunk.sipCarrier?.username) {
      const header = challenge.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate';
      const answer = getHeaders(challenge, header)
        .map((c) => digestAnswer(c, 'REGISTER', req.uri, r.trunk.sipCarrier!.username!, password))
        .find((a) => a !== null);
      if (answer)
        req.headers.push({
          name: challenge.status === 401 ? 'Authorization' : 'Proxy-Authorization',
          value: answer,
        });
    }
    if (expires > 0) r.state = r.state === 'registered' ? 'registered' : 'registering';
    layer.request(req, deps.edge, {
      onResponse: (res) => {
        if (res.status < 200) return;
        if ((res.status === 401 || res.status === 407) && !challenge) {
          deps
            .secret(r.accountId, r.trunkId)
            .then((pw) => {
              if (!pw) return expires > 0 ? failed(r, res.status) : undefined;
              send(r, expires, pw, res);
            })
            .catch(onError);
          return;
        }
        if (expires === 0) return void trace('carrier.unregistered', { trunk: r.number, status: res.status });
        if (res.status >= 300) return failed(r, res.status);
        const sec = granted(res, expires);
        r.state = 'registered';
        r.lastStatus = res.status;
        r.failures = 0;
        r.expiresAt = Date.now() + sec * 1000;
        trace('carrier.registered', { trunk: r.number, expiresSec: sec });
        // Refreshed well before it runs out: at 80% of the time granted (at least 1 s ahead).
        if (!r.stopped) schedule(r, Math.max(1000, sec * 800), () => send(r, expiresSec));
      },
      onEnd: (reason) => {
        if (reason !== 'normal' && expires > 0) failed(r, 408);
      },
    });
  }

  function start(accountId: number, trunk: Trunk, key: string) {
    const r: Registration = {
      key,
      accountId,
      trunkId: trunk.id,
      number: trunk.number,
      registrar: `${trunk.sipCarrier!.host}:${trunk.sipCarrier!.port}`,
      trunk,
      state: 'registering',
      lastStatus: null,
      expiresAt: null,
      failures: 0,
      callId: newCallId('dzvin-reg'),
      fromTag: newTag(),
      cseq: 0,
      timer: null,
      stopped: false,
    };
    regs.set(key, r);
    send(r, expiresSec);
  }

  function stop(r: Registration) {
    r.stopped = true;
    if (r.timer) clearTimeout(r.timer);
    regs.delete(r.key);
    // Removed at the carrier when it was there (best effort: a carrier away forgets it by expiry).
    if (r.state === 'registered') send(r, 0);
  }

  async function sync() {
    if (closed) return;
    const wanted = new Map<string, { accountId: number; trunk: Trunk }>();
    for (const t of await deps.trunks())
      if (t.trunk.sipCarrier?.register && t.trunk.sipCarrier.username)
        wanted.set(keyOf(t.accountId, t.trunk), t);
    for (const r of [...regs.values()]) if (!wanted.has(r.key)) stop(r);
    for (const [key, t] of wanted) if (!regs.has(key)) start(t.accountId, t.trunk, key);
  }

  const timer = setInterval(() => sync().catch(onError), deps.syncMs ?? 15_000);
  timer.unref();
  sync().catch(onError);

  return {
    /** Reads the directory now (a trunk changed). */
    sync,
    /** The registrations kept now. */
    states: (): CarrierRegistrationState[] =>
      [...regs.values()].map(
        ({ accountId, trunkId, number, registrar, state, lastStatus, expiresAt, failures }) => ({
          accountId,
          trunkId,
          number,
          registrar,
          state,
          lastStatus,
          expiresAt,
          failures,
        }),
      ),
    /** Un-registers everything (the engine stops). */
    close() {
      clearInterval(timer);
      for (const r of [...regs.values()]) stop(r);
      closed = true;
    },
  };
}

export type CarrierRegistrations = ReturnType<typeof createCarrierRegistrations>;
