/**
 * The RFC 3261 §17 transaction layer: INVITE and non-INVITE, client and server, over an
 * unreliable transport (UDP) or a reliable one (TCP: `transport.reliable`), with the RFC 6026
 * Accepted state for 2xx to INVITE.
 *
 * What it does for the layers above (the TU: dialogs, the B2BUA):
 * - retransmits requests (timers A, E) and final responses to INVITE (timer G) and absorbs
 *   the peer's retransmissions, answering them with the last response sent;
 * - answers a new INVITE with 100 Trying when the TU has not answered it within 200 ms, or at
 *   once when the peer retransmits it first (§17.2.1: the 100 may be left out for an INVITE
 *   answered within 200 ms; a B2BUA whose phone answers at once saves a datagram per call);
 * - matches requests to server transactions by branch + sent-by + method (§17.2.3; ACK matches
 *   its INVITE, CANCEL finds the INVITE it cancels; RFC 2543 peers without a magic-cookie
 *   branch are matched by Call-ID, tags, CSeq, Request-URI and top Via), and responses to
 *   client transactions by branch + CSeq method (§17.1.3);
 * - sends the ACK for 300–699 itself (§17.1.1.3); the ACK for a 2xx and 2xx retransmission
 *   until that ACK are the TU's (§13.3.1.4, §13.2.2.4): the ACK to a 2xx is delivered to
 *   `onAck`, 2xx retransmissions after the client transaction ended to `onStrayResponse`;
 * - ends transactions on timeout (B, F, H) and after their linger timers (D, I, J, K, L, M).
 *
 * Over a reliable transport nothing is retransmitted (timers A, E, G are not started) and the
 * timers that only absorb retransmissions are 0 (D, I, J, K: the transaction ends at once,
 * §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2); B, F, H, L and M keep their 64·T1.
 *
 * Time comes from the injected Timers (a ManualClock in tests); T1, T2 and T4 are options.
 */
import { type Cancel, createSystemTimers, type Timers } from '../../domain/clock.ts';
import { createCancel, createNon2xxAck, createResponse, newBranch, newTag } from './build.ts';
import { formatVia, MAGIC_COOKIE, parseNameAddr, type Via } from './header-values.ts';
import {
  getCallId,
  getCSeq,
  getHeader,
  getTopVia,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from './message.ts';
import type { Remote, SipTransport } from './transport.ts';

export interface TimerValues {
  /** RTT estimate; 500 ms (§17.1.1.1). */
  t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses; 4 s. */
  t2: number;
  /** Maximum time a message stays in the network; 5 s. */
  t4: number;
}

export const RFC3261_TIMERS: TimerValues = { t1: 500, t2: 4000, t4: 5000 };
/** §17.2.1: how long an INVITE may wait for the TU's first response before the 100 Trying goes. */
export const TRYING_AFTER_MS = 200;

export type ServerState = 'trying' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';
export type ClientState = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

/** Why a transaction ended: normally, a timer B/F/H timeout, or the transport failing to send. */
export type EndReason = 'normal' | 'timeout' | 'transport-error';

export interface ServerTransaction {
  readonly kind: 'invite' | 'non-invite';
  readonly request: SipRequest;
  readonly remote: Remote;
  readonly state: ServerState;
  /** Sends a response through the transaction; a response the state does not allow is ignored (returns false). */
  respond(response: SipResponse): boolean;
  /** Shorthand: createResponse(request, status, reason, opts) then respond. */
  reply(status: number, reason: string, opts?: Parameters<typeof createResponse>[3]): boolean;
  /** Called once when the transaction ends; an INVITE ended by timer H never got its ACK. */
  onEnd?: (reason: EndReason) => void;
}

export interface ClientHandlers {
  /** Every response the TU should see: provisionals, the final one, and each 2xx (forks) in Accepted. */
  onResponse(response: SipResponse): void;
  /** Timer B/F fired or sending failed: treat as 408 (§8.1.3.1) / 503 (§8.1.3.1, transport error). */
  onEnd?: (reason: EndReason) => void;
}

export interface ClientTransaction {
  readonly kind: 'invite' | 'non-invite';
  /** The request as sent, with our Via. */
  readonly request: SipRequest;
  readonly state: ClientState;
  /**
   * CANCELs an INVITE (§9.1): sent at once after a provisional response, or as soon as one
   * arrives (a CANCEL must not overtake the INVITE). Does nothing once a final response came.
   */
  cancel(handlers?: ClientHandlers): void;
}

export interface NewRequest {
  tx: ServerTransaction;
  /** For a CANCEL: the INVITE server transaction it cancels (a 481 was already sent when there is none). */
  cancels?: ServerTransaction;
}

export interface TransactionLayerOptions {
  transport: SipTransport;
  timers?: Timers;
  timerValues?: Partial<TimerValues>;
  /** A request that starts a new server transaction (never a retransmission, never an ACK). */
  onRequest(req: NewRequest): void;
  /** An ACK no server transaction absorbed: the ACK to a 2xx, for the dialog. */
  onAck?(ack: SipRequest, remote: Remote): void;
  /** A response no client transaction matched: a 2xx retransmission the dialog must ACK again. */
  onStrayResponse?(response: SipResponse, remote: Remote): void;
  onError?(err: unknown): void;
}

export interface TransactionLayer {
  /** Adds our top Via (fresh branch, rport) and starts a client transaction to `to`. */
  request(req: SipRequest, to: Remote, handlers: ClientHandlers): ClientTransaction;
  /** Sends a request outside any transaction (the ACK to a 2xx, §17.1.1.3), with a fresh Via. */
  sendStateless(req: SipRequest, to: Remote): Promise<void>;
  /** Live transactions, for tests and metrics. */
  counts(): { server: number; client: number };
  close(): void;
}

/** Small helper so each transaction can hold named timers and drop them all when it ends. */
class TimerSet {
  private readonly live = new Map<string, Cancel>();
  constructor(private readonly timers: Timers) {}
  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    this.live.set(
      name,
      this.timers.after(ms, () => {
        this.live.delete(name);
        fn();
      }),
    );
  }
  stop(name: string): void {
    this.live.get(name)?.();
    this.live.delete(name);
  }
  stopAll(): void {
    for (const c of this.live.values()) c();
    this.live.clear();
  }
}

function sentByOf(via: Via): string {
  return `${via.host}:${via.port ?? 5060}`;
}

/**
 * §17.2.3 matching key of a request for the transaction of `method` (ACK → INVITE; CANCEL's
 * INVITE when `method` is INVITE). RFC 2543 peers (no magic cookie) are keyed by the fields
 * §17.2.3 lists for them; the To tag is left out so their ACK (To tag added) still matches.
 */
function serverKey(req: SipRequest, method: string): string | undefined {
  const via = getTopVia(req);
  const cseq = getCSeq(req);
  if (!via || !cseq) return undefined;
  const branch = via.params.branch;
  if (branch?.startsWith(MAGIC_COOKIE)) return `${branch}|${sentByOf(via)}|${method}`;
  const from = parseNameAddr(getHeader(req, 'From') ?? '');
  const fromTag = from.ok ? from.value.params.tag : undefined;
  const { received: _r, rport: _p, ...viaParams } = via.params;
  return `2543|${req.uri}|${fromTag}|${getCallId(req)}|${cseq.seq}|${formatVia({ ...via, params: viaParams })}|${method}`;
}

function clientKey(msg: SipMessage): string | undefined {
  const branch = getTopVia(msg)?.params.branch;
  const method = getCSeq(msg)?.method;
  return branch && method ? `${branch}|${method}` : undefined;
}

const isProvisional = (r: SipResponse) => r.status < 200;
const is2xx = (r: SipResponse) => r.status >= 200 && r.status < 300;

export function createTransactionLayer(opts: TransactionLayerOptions): TransactionLayer {
  const { transport } = opts;
  const timers = opts.timers ?? createSystemTimers(opts.onError);
  const { t1, t2, t4 } = { ...RFC3261_TIMERS, ...opts.timerValues };
  const onError = opts.onError ?? (() => {});
  const reliable = transport.reliable;
  const servers = new Map<string, ServerTx>();
  const clients = new Map<string, ClientTx>();

  class ServerTx implements ServerTransaction {
    state: ServerState;
    onEnd?: (reason: EndReason) => void;
    private last?: SipResponse;
    private readonly t = new TimerSet(timers);
    constructor(
      readonly kind: 'invite' | 'non-invite',
      readonly request: SipRequest,
      readonly remote: Remote,
      private readonly key: string,
    ) {
      this.state = kind === 'invite' ? 'proceeding' : 'trying';
      servers.set(key, this);
      // §17.2.1: a 100 stops the INVITE retransmissions (it needs no To tag); it may be left
      // out when the TU answers within 200 ms.
      if (kind === 'invite') this.t.start('100', TRYING_AFTER_MS, () => this.trying());
    }

    /** The 100 Trying, unless the TU has already answered. */
    private trying(): void {
      this.t.stop('100');
      if (this.state === 'proceeding' && !this.last) this.send(createResponse(this.request, 100, 'Trying'));
    }

    reply(status: number, reason: string, o?: Parameters<typeof createResponse>[3]): boolean {
      return this.respond(createResponse(this.request, status, reason, o));
    }

    respond(res: SipResponse): boolean {
      const s = this.state;
      if (this.kind === 'invite') {
        if (s === 'accepted' && is2xx(res)) return this.send(res); // the TU's own 2xx retransmission
        if (s !== 'proceeding') return false;
        this.t.stop('100');
        this.send(res);
        if (isProvisional(res)) return true;
        if (is2xx(res)) {
          // RFC 6026 §7.1: Accepted absorbs INVITE retransmissions while the TU retransmits the 2xx.
          this.state = 'accepted';
          this.t.start('L', 64 * t1, () => this.end('normal'));
        } else {
          this.state = 'completed';
          if (!reliable) this.retransmitFinal(t1); // timer G: unreliable only (§17.2.1)
          this.t.start('H', 64 * t1, () => this.end('timeout'));
        }
        return true;
      }
      if (s !== 'trying' && s !== 'proceeding') return false;
      this.send(res);
      if (isProvisional(res)) this.state = 'proceeding';
      else {
        this.state = 'completed';
        this.linger('J', reliable ? 0 : 64 * t1);
      }
      return true;
    }

    /** Timer G: resend the final response, doubling up to T2, until the ACK comes (or H fires). */
    private retransmitFinal(interval: number): void {
      this.t.start('G', interval, () => {
        if (this.state !== 'completed' || !this.last) return;
        this.send(this.last);
        this.retransmitFinal(Math.min(2 * interval, t2));
      });
    }

    /** A retransmission of the request (or the ACK) arrived for this transaction. */
    onRetransmission(req: SipRequest): void {
      if (req.method === 'ACK') {
        if (this.state === 'completed') {
          this.state = 'confirmed';
          this.t.stop('G');
          this.t.stop('H');
          // Timer I: absorb ACK retransmissions for T4 (none come over a reliable transport).
          this.linger('I', reliable ? 0 : t4);
        } else if (this.state === 'accepted') {
          opts.onAck?.(req, this.remote); // RFC 6026: an ACK in Accepted goes to the TU
        }
        return;
      }
      // Proceeding / Completed: resend what we said last (an INVITE the TU has not answered yet
      // gets its 100 now); Trying, Accepted, Confirmed: absorb.
      if ((this.state === 'proceeding' || this.state === 'completed') && this.last) this.send(this.last);
      else if (this.kind === 'invite' && this.state === 'proceeding') this.trying();
    }

    /** Ends the transaction after `ms`, or now when `ms` is 0 (a reliable transport's D, I, J, K). */
    private linger(name: string, ms: number): void {
      if (ms === 0) this.end('normal');
      else this.t.start(name, ms, () => this.end('normal'));
    }

    private send(res: SipResponse): boolean {
      this.last = res;
      transport.sendResponse(res, this.remote).catch((err) => {
        onError(err);
        this.end('transport-error');
      });
      return true;
    }

    end(reason: EndReason): void {
      if (this.state === 'terminated') return;
      this.state = 'terminated';
      this.t.stopAll();
      servers.delete(this.key);
      this.onEnd?.(reason);
    }
  }

  class ClientTx implements ClientTransaction {
    state: ClientState;
    private readonly t = new TimerSet(timers);
    private cancelWanted?: ClientHandlers;
    private cancelled = false;
    private ack?: SipRequest;
    constructor(
      readonly kind: 'invite' | 'non-invite',
      readonly request: SipRequest,
      private readonly to: Remote,
      private readonly handlers: ClientHandlers,
      private readonly key: string,
    ) {
      this.state = kind === 'invite' ? 'calling' : 'trying';
      clients.set(key, this);
      this.transmit(this.request);
      // Timers A and E retransmit over an unreliable transport only (§17.1.1.2, §17.1.2.2).
      if (kind === 'invite') {
        if (!reliable) this.retransmit('A', t1, () => t1 * 64); // A doubles without a cap
        this.t.start('B', 64 * t1, () => this.end('timeout'));
      } else {
        if (!reliable) this.retransmit('E', t1, () => t2);
        this.t.start('F', 64 * t1, () => this.end('timeout'));
      }
    }

    /** Timer A / E: resend the request while no response moved us on; E is capped at T2. */
    private retransmit(name: 'A' | 'E', interval: number, cap: () => number): void {
      this.t.start(name, interval, () => {
        const waiting = this.state === 'calling' || this.state === 'trying' || this.state === 'proceeding';
        if (!waiting || (name === 'A' && this.state !== 'calling')) return;
        this.transmit(this.request);
        // §17.1.2.2: in Proceeding, E fires every T2.
        const next = this.state === 'proceeding' ? t2 : Math.min(2 * interval, cap());
        this.retransmit(name, next, cap);
      });
    }

    cancel(handlers: ClientHandlers = { onResponse: () => {} }): void {
      if (this.kind !== 'invite' || this.cancelled) return;
      if (this.state === 'calling') this.cancelWanted = handlers;
      else if (this.state === 'proceeding') this.sendCancel(handlers);
    }

    private sendCancel(handlers: ClientHandlers): void {
      this.cancelled = true;
      const cancel = createCancel(this.request);
      const key = clientKey(cancel)!;
      new ClientTx('non-invite', cancel, this.to, handlers, key);
      // §9.1: no final response within 64*T1 of the CANCEL: the INVITE counts as cancelled and its
      // transaction ends (a lost 487 would otherwise keep it, and the TU's leg, forever).
      this.t.start('C', 64 * t1, () => {
        if (this.state === 'proceeding') this.end('timeout');
      });
    }

    onResponse(res: SipResponse): void {
      if (this.kind === 'invite') {
        this.onInviteResponse(res);
        return;
      }
      if (this.state === 'completed' || this.state === 'terminated') return; // absorbed
      if (isProvisional(res)) {
        this.state = 'proceeding';
        this.handlers.onResponse(res);
        return;
      }
      this.state = 'completed';
      this.t.stop('E');
      this.t.stop('F');
      this.handlers.onResponse(res);
      this.linger('K', reliable ? 0 : t4);
    }

    /** Ends the transaction after `ms`, or now when `ms` is 0 (a reliable transport's D, K). */
    private linger(name: string, ms: number): void {
      if (ms === 0) this.end('normal');
      else this.t.start(name, ms, () => this.end('normal'));
    }

    private onInviteResponse(res: SipResponse): void {
      const s = this.state;
      if (isProvisional(res)) {
        if (s !== 'calling' && s !== 'proceeding') return;
        this.state = 'proceeding';
        this.t.stop('A');
        this.t.stop('B');
        this.handlers.onResponse(res);
        if (this.cancelWanted) this.sendCancel(this.cancelWanted);
        return;
      }
      if (is2xx(res)) {
        if (s === 'calling' || s === 'proceeding') {
          this.state = 'accepted';
          this.t.stop('A');
          this.t.stop('B');
          // RFC 6026 §7.2 Timer M: keep passing 2xx from other forks to the TU for 64*T1.
          this.t.start('M', 64 * t1, () => this.end('normal'));
        }
        if (this.state === 'accepted') this.handlers.onResponse(res);
        return;
      }
      if (s === 'completed') {
        if (this.ack) this.transmit(this.ack); // a retransmitted final response: ACK it again
        return;
      }
      if (s !== 'calling' && s !== 'proceeding') return;
      this.state = 'completed';
      this.t.stop('A');
      this.t.stop('B');
      this.ack = createNon2xxAck(this.request, res);
      this.transmit(this.ack);
      this.handlers.onResponse(res);
      // Timer D (≥ 32 s on UDP): 64*T1 is exactly that with the default T1, and scales in tests;
      // 0 over a reliable transport (no final response retransmissions to absorb).
      this.linger('D', reliable ? 0 : 64 * t1);
    }

    private transmit(msg: SipRequest): void {
      transport.send(msg, this.to).catch((err) => {
        onError(err);
        this.end('transport-error');
      });
    }

    end(reason: EndReason): void {
      if (this.state === 'terminated') return;
      this.state = 'terminated';
      this.t.stopAll();
      clients.delete(this.key);
      this.handlers.onEnd?.(reason);
    }
  }

  function receiveRequest(req: SipRequest, remote: Remote): void {
    const method = req.method === 'ACK' ? 'INVITE' : req.method;
    const key = serverKey(req, method);
    if (!key) return;
    const existing = servers.get(key);
    if (existing) {
      existing.onRetransmission(req);
      return;
    }
    if (req.method === 'ACK') {
      opts.onAck?.(req, remote);
      return;
    }

    const tx = new ServerTx(req.method === 'INVITE' ? 'invite' : 'non-invite', req, remote, key);
    if (req.method === 'CANCEL') {
      const inviteKey = serverKey(req, 'INVITE');
      const cancels = inviteKey ? servers.get(inviteKey) : undefined;
      if (!cancels || cancels.state === 'terminated') {
        // §9.2: no transaction to cancel.
        tx.reply(481, 'Call/Transaction Does Not Exist', { toTag: newTag() });
        return;
      }
      opts.onRequest({ tx, cancels });
      return;
    }
    opts.onRequest({ tx });
  }

  function receiveResponse(res: SipResponse, remote: Remote): void {
    const key = clientKey(res);
    const tx = key ? clients.get(key) : undefined;
    if (tx) {
      tx.onResponse(res);
      return;
    }
    if (is2xx(res) && getCSeq(res)?.method === 'INVITE') opts.onStrayResponse?.(res, remote);
  }

  let closed = false;
  transport.setHandler((msg, remote) => {
    // After close() nothing may start a transaction (and its timers) again.
    if (closed) return;
    if (msg.type === 'request') receiveRequest(msg, remote);
    else receiveResponse(msg, remote);
  });

  function withOurVia(req: SipRequest): SipRequest {
    const via = `SIP/2.0/${transport.protocol} ${transport.sentBy};branch=${newBranch()};rport`;
    return { ...req, headers: [{ name: 'Via', value: via }, ...req.headers.filter((h) => h.name !== 'Via')] };
  }

  return {
    request(req, to, handlers) {
      if (req.method === 'ACK' || req.method === 'CANCEL')
        throw new Error(`${req.method} is not sent through request(): use sendStateless or cancel()`);
      const sent = withOurVia(req);
      return new ClientTx(
        req.method === 'INVITE' ? 'invite' : 'non-invite',
        sent,
        to,
        handlers,
        clientKey(sent)!,
      );
    },
    sendStateless: (req, to) => transport.send(withOurVia(req), to),
    counts: () => ({ server: servers.size, client: clients.size }),
    close() {
      closed = true;
      for (const tx of [...servers.values()]) tx.end('normal');
      for (const tx of [...clients.values()]) tx.end('normal');
    },
  };
}
