// Registrations of trunks at their SIP carriers (issue 16): a trunk whose `sipCarrier.register`
// is on is kept registered — REGISTER through Kamailio (dzvin.cfg's TO_CARRIER: the Contact it
// sends is the edge's public socket with the trunk's number, so the carrier's calls come in
// through Kamailio like any other), the digest challenge answered once per request, refreshed
// before it expires, retried with backoff while the carrier refuses or is away, and removed
// (Expires: 0) when the trunk stops registering or goes. The trunks are read from the directory
// on start and every `syncMs` (and on `sync()`): the store is the truth, as for SIP passwords.
//
// In a cluster exactly one process registers a trunk: the one holding its claim
// (cluster/registrar-claims.ts, a PostgreSQL advisory lock); the others try to take the claims
// they lack at every directory read, so one of them takes over within `syncMs` of the owner's
// death. The same Contact is registered whichever process does it (Kamailio's socket), so the
// carrier keeps one binding throughout. Where each registration stands is written to the store
// (`carrier_registrations`) for the admin API of any process to answer.
import type { Trunk } from '@dzvin/protocol';
import { type RegistrarClaims, soloClaims } from '../../cluster/registrar-claims.ts';
import { carrierRegistrationKey } from '../../domain/directory/trunk-registration.ts';
import type { CarrierRegistrationRecord, CarrierRegistrationStore } from '../../domain/ports.ts';
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
  /** Who registers which trunk (default: this process registers every one). */
  claims?: RegistrarClaims;
  /** Where each registration's state is written for the admin API (none: kept in memory only). */
  store?: Pick<CarrierRegistrationStore, 'put' | 'remove'>;
  /** This process (the rows' `node_id`). */
  nodeId?: string;
  /** Expires asked for, seconds (the carrier may grant less). Default 600. */
  expiresSec?: number;
  /** How often the directory is read again (and missing claims tried). Default 15 s. */
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
  state: 'pending' | 'registered' | 'failed';
  /** The carrier's last final answer (or 408 for none at all). */
  lastStatus: number | null;
  /** Why the last attempt failed, in words (null after a success). */
  lastError: string | null;
  /** When the registration runs out (ms since the epoch), while registered. */
  expiresAt: number | null;
  /** When the last REGISTER (of the attempt, before any challenge) was sent. */
  lastAttemptAt: number | null;
  /** When the next attempt (refresh or retry) is due. */
  nextAttemptAt: number | null;
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

export function createCarrierRegistrations(deps: CarrierRegistrationsDeps) {
  const { layer, onError } = deps;
  const trace = deps.onTrace;
  const claims = deps.claims ?? soloClaims();
  const nodeId = deps.nodeId ?? 'solo';
  const expiresSec = deps.expiresSec ?? 600;
  const retryMs = deps.retryMs ?? 2000;
  const maxRetryMs = deps.maxRetryMs ?? 300_000;
  const regs = new Map<string, Registration>();
  let closed = false;

  // The store's rows are written one after another: a removal and the next settings' first row
  // land in the order they happened.
  let writing: Promise<void> = Promise.resolve();
  function write(fn: (store: NonNullable<CarrierRegistrationsDeps['store']>) => Promise<void>) {
    const store = deps.store;
    if (!store) return;
    writing = writing.then(() => fn(store)).catch(onError);
  }
  function record(r: Registration) {
    const row: CarrierRegistrationRecord = {
      trunkId: r.trunkId,
      accountId: r.accountId,
      nodeId,
      configKey: r.key,
      state: r.state,
      expiresAt: r.expiresAt,
      lastStatus: r.lastStatus,
      lastError: r.lastError,
      lastAttemptAt: r.lastAttemptAt,
      nextAttemptAt: r.nextAttemptAt,
      failures: r.failures,
      updatedAt: Date.now(),
    };
    write((s) => s.put(row));
  }

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
    r.nextAttemptAt = Date.now() + ms;
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

  function failed(r: Registration, status: number, error: string) {
    if (r.stopped) return;
    r.state = 'failed';
    r.lastStatus = status;
    r.lastError = error;
    r.expiresAt = null;
    r.failures += 1;
    const wait = Math.min(maxRetryMs, retryMs * 2 ** (r.failures - 1));
    trace('carrier.register-failed', { trunk: r.number, status, error, retryInMs: wait });
    schedule(r, wait, () => send(r, expiresSec));
    record(r);
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
    if (expires > 0 && !challenge) {
      r.lastAttemptAt = Date.now();
      r.nextAttemptAt = null;
    }
    layer.request(req, deps.edge, {
      onResponse: (res) => {
        if (res.status < 200) return;
        if ((res.status === 401 || res.status === 407) && !challenge) {
          deps
            .secret(r.accountId, r.trunkId)
            .then((pw) => {
              if (!pw)
                return expires > 0
                  ? failed(
                      r,
                      res.status,
                      `${res.status} ${res.reason}: the carrier asks for a password and none is set`,
                    )
                  : undefined;
              send(r, expires, pw, res);
            })
            .catch(onError);
          return;
        }
        if (expires === 0) return void trace('carrier.unregistered', { trunk: r.number, status: res.status });
        if (res.status >= 300)
          return failed(
            r,
            res.status,
            res.status === 401 || res.status === 407
              ? `${res.status} ${res.reason}: challenged again — wrong username or password`
              : `${res.status} ${res.reason}`,
          );
        if (r.stopped) return;
        const sec = granted(res, expires);
        r.state = 'registered';
        r.lastStatus = res.status;
        r.lastError = null;
        r.failures = 0;
        r.expiresAt = Date.now() + sec * 1000;
        trace('carrier.registered', { trunk: r.number, expiresSec: sec });
        // Refreshed well before it runs out: at 80% of the time granted (at least 1 s ahead).
        schedule(r, Math.max(1000, sec * 800), () => send(r, expiresSec));
        record(r);
      },
      onEnd: (reason) => {
        if (reason !== 'normal' && expires > 0)
          failed(
            r,
            408,
            reason === 'timeout' ? 'no answer from the carrier' : `could not reach the carrier (${reason})`,
          );
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
      state: 'pending',
      lastStatus: null,
      lastError: null,
      expiresAt: null,
      lastAttemptAt: null,
      nextAttemptAt: null,
      failures: 0,
      callId: newCallId('dzvin-reg'),
      fromTag: newTag(),
      cseq: 0,
      timer: null,
      stopped: false,
    };
    regs.set(key, r);
    trace('carrier.register-claimed', { trunk: r.number, node: nodeId });
    send(r, expiresSec);
    record(r);
  }

  /**
   * Stops keeping it. `unregister`: removed at the carrier too (when it was there; best effort: a
   * carrier away forgets it by expiry) and its row dropped — the trunk no longer registers. Without:
   * the binding is left for the process that takes the trunk over (a claim lost, a hand-over).
   */
  function stop(r: Registration, unregister: boolean) {
    r.stopped = true;
    if (r.timer) clearTimeout(r.timer);
    regs.delete(r.key);
    if (!unregister) return;
    if (r.state === 'registered') send(r, 0);
    write((s) => s.remove(r.trunkId, nodeId));
  }

  claims.onLost(() => {
    // Another process may hold these trunks now: nothing more is sent for them from here.
    for (const r of [...regs.values()]) stop(r, false);
    trace('carrier.claims-lost', { node: nodeId });
  });

  let syncing: Promise<void> | null = null;
  async function syncOnce() {
    if (closed) return;
    const wanted = new Map<string, { accountId: number; trunk: Trunk }>();
    for (const t of await deps.trunks())
      if (t.trunk.sipCarrier?.register && t.trunk.sipCarrier.username)
        wanted.set(carrierRegistrationKey(t.accountId, t.trunk), t);
    const wantedIds = new Set([...wanted.values()].map((t) => t.trunk.id));
    // Settings changed or registering turned off: removed (with the claim when the trunk is done).
    for (const r of [...regs.values()])
      if (!wanted.has(r.key)) {
        stop(r, true);
        if (!wantedIds.has(r.trunkId)) await claims.release(r.trunkId);
      }
    // Nothing to register: no claim asked for (on PostgreSQL, no lock connection opened at all).
    if (wantedIds.size === 0) return;
    const mine = await claims.claim([...wantedIds]);
    if (closed) return;
    for (const [key, t] of wanted) {
      const r = regs.get(key);
      if (!mine.has(t.trunk.id)) {
        if (r) stop(r, false);
      } else if (!r) start(t.accountId, t.trunk, key);
    }
  }
  /** One read at a time: a sync asked for while one runs waits for it, then runs again. */
  async function sync(): Promise<void> {
    while (syncing) await syncing;
    syncing = syncOnce().finally(() => {
      syncing = null;
    });
    return syncing;
  }

  const timer = setInterval(() => sync().catch(onError), deps.syncMs ?? 15_000);
  timer.unref();
  sync().catch(onError);

  return {
    /** Reads the directory now (a trunk changed), taking the claims it can. */
    sync,
    /** The registrations this process keeps now. */
    states: (): CarrierRegistrationState[] =>
      [...regs.values()].map(
        ({
          accountId,
          trunkId,
          number,
          registrar,
          state,
          lastStatus,
          lastError,
          expiresAt,
          lastAttemptAt,
          nextAttemptAt,
          failures,
        }) => ({
          accountId,
          trunkId,
          number,
          registrar,
          state,
          lastStatus,
          lastError,
          expiresAt,
          lastAttemptAt,
          nextAttemptAt,
          failures,
        }),
      ),
    /**
     * The engine stops. Alone (SQLite), everything is un-registered. In a cluster the bindings are
     * handed over instead: the claims go with the lock connection and a live process refreshes
     * them (the same Contact) at its next directory read; an Expires: 0 from here would remove the
     * binding the next owner is about to refresh. The rows' last state stays for it to replace.
     */
    async close() {
      clearInterval(timer);
      const handOver = claims.shared;
      for (const r of [...regs.values()]) stop(r, !handOver);
      closed = true;
      await writing;
      await claims.close();
    },
  };
}

export type CarrierRegistrations = ReturnType<typeof createCarrierRegistrations>;
