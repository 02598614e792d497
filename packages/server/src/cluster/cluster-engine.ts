import type { CallEngine } from '../domain/calls/call-engine.ts';
import type { LiveCall } from '../domain/calls/call-model.ts';
import { DomainError, ERROR_CODES, type ErrorCode } from '../domain/errors.ts';
import type { AccountRecord } from '../domain/ports.ts';
import type { SimSettings, Simulator } from '../engine/simulator/simulator.ts';
import type { TrafficGenerator, TrafficStart, TrafficStatus } from '../engine/simulator/traffic.ts';
import type { Cluster, Peer } from './cluster.ts';

/** Operations on one call, run by whichever process's engine owns the call. */
export const ROUTED_OPS = [
  'hangup',
  'transfer',
  'attendedTransfer',
  'completeTransfer',
  'cancelTransfer',
  'answer',
  'reject',
  'digit',
] as const;
export type RoutedOp = (typeof ROUTED_OPS)[number];

/** What one process asks another (POST /internal/v1/cluster). */
export type PeerRequest =
  | { op: 'active'; accountId: number }
  | { op: 'sim.settings' }
  | { op: TrafficOp; accountId: number }
  | { op: RoutedOp; accountId: number; uuid: string; arg?: string };

/** The answer: done (with the calls for `active`), or the domain error the owner raised. */
export type PeerReply =
  | { ok: true; calls?: LiveCall[]; settings?: SimSettings; traffic?: TrafficStatus }
  | { ok: false; code: string; message: string };

export const PEER_PATH = '/internal/v1/cluster';

/** What a process asks its peers about their traffic generators. */
export const TRAFFIC_OPS = ['traffic.status', 'traffic.stop'] as const;
export type TrafficOp = (typeof TRAFFIC_OPS)[number];
const isTrafficRequest = (r: PeerRequest): r is Extract<PeerRequest, { op: TrafficOp }> =>
  (TRAFFIC_OPS as readonly string[]).includes(r.op);

/** The traffic generator as the HTTP layer drives it. */
export interface TrafficControl {
  start(account: AccountRecord, opts: TrafficStart): Promise<TrafficStatus>;
  status(accountId: number): Promise<TrafficStatus>;
  stop(accountId: number): Promise<TrafficStatus>;
}

/** The most recently started of several statuses (one never started comes last). */
const latest = (all: TrafficStatus[]): TrafficStatus =>
  all.reduce((a, b) => ((b.startedAt ?? -1) > (a.startedAt ?? -1) ? b : a));

/**
 * The call engine as the HTTP layer sees it when several processes share one PostgreSQL: a call
 * lives in the engine of the process that placed or received it (its state is in memory), so an
 * operation on a call this process does not own goes to every live peer (`CALL_NOT_FOUND` from
 * all of them means there is no such call), and the list of calls in progress is this process's
 * plus every peer's. On SQLite (no peers) it is the local engine and nothing else.
 */
export function createClusterEngine(deps: {
  simulator: Simulator;
  /** This process's traffic generator: its arrivals are calls of this process's engine. */
  traffic: TrafficGenerator;
  cluster: Cluster;
  /** How long a peer may take to answer (a hung peer must not hang the API). */
  timeoutMs?: number;
  onError?: (err: unknown, peer: Peer) => void;
}): Simulator & {
  traffic: TrafficControl;
  serve(req: PeerRequest): Promise<PeerReply>;
  adoptPeerSettings(): Promise<boolean>;
} {
  const { engine, sim } = deps.simulator;
  const { cluster, traffic: localTraffic } = deps;
  const timeoutMs = deps.timeoutMs ?? 3_000;
  const onError = deps.onError ?? (() => {});

  const local: Record<RoutedOp, (accountId: number, uuid: string, arg?: string) => Promise<void>> = {
    hangup: (a, u) => engine.hangup(a, u),
    transfer: (a, u, x) => engine.transfer(a, u, x ?? ''),
    attendedTransfer: (a, u, x) => engine.attendedTransfer(a, u, x ?? ''),
    completeTransfer: (a, u) => engine.completeTransfer(a, u),
    cancelTransfer: (a, u) => engine.cancelTransfer(a, u),
    answer: (a, u, x) => sim.answer(a, u, x),
    reject: (a, u, x) => sim.reject(a, u, x),
    digit: (a, u, d) => sim.digit(a, u, d ?? ''),
  };

  async function ask(peer: Peer, req: PeerRequest): Promise<PeerReply> {
    const res = await fetch(`${peer.url}${PEER_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: cluster.authorization() },
      body: JSON.stringify(req),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
    if (res.status !== 200) throw new Error(`peer ${peer.url} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as PeerReply;
  }

  async function run(op: RoutedOp, accountId: number, uuid: string, arg?: string): Promise<void> {
    try {
      await local[op](accountId, uuid, arg);
      return;
    } catch (err) {
      if (!cluster.shared || !(err instanceof DomainError) || err.code !== 'CALL_NOT_FOUND') throw err;
      const peers = await cluster.peers({ fresh: true });
      const replies = await Promise.all(
        peers.map((p) =>
          ask(p, { op, accountId, uuid, arg }).catch((e) => {
            onError(e, p);
            return null;
          }),
        ),
      );
      if (replies.some((r) => r?.ok)) return;
      // The owner refused (e.g. "only an answered call can be transferred"): its reason stands.
      const refusal = replies.find((r) => r && !r.ok && r.code !== 'CALL_NOT_FOUND');
      if (refusal && !refusal.ok)
        throw new DomainError(
          refusal.code in ERROR_CODES ? (refusal.code as ErrorCode) : 'CONFLICT',
          refusal.message,
        );
      throw err;
    }
  }

  /**
   * Asks every live peer at once and gathers what `pick` takes from their answers; a peer that
   * fails (one that died a moment ago) is reported and adds nothing.
   */
  async function fromPeers<T>(
    req: PeerRequest,
    pick: (r: PeerReply) => T[],
    opts?: { fresh?: boolean },
  ): Promise<T[]> {
    if (!cluster.shared) return [];
    const peers = await cluster.peers(opts);
    const replies = await Promise.all(
      peers.map((p) =>
        ask(p, req).then(pick, (e) => {
          onError(e, p);
          return [] as T[];
        }),
      ),
    );
    return replies.flat();
  }

  async function active(accountId: number): Promise<LiveCall[]> {
    const mine = await engine.active(accountId);
    // A peer that died a moment ago: its calls died with it.
    const theirs = await fromPeers({ op: 'active', accountId }, (r) => (r.ok ? (r.calls ?? []) : []));
    return cluster.shared ? [...mine, ...theirs].sort((a, b) => a.dialAt - b.dialAt) : mine;
  }

  const routedEngine: CallEngine = {
    ...engine,
    active,
    hangup: (a, u) => run('hangup', a, u),
    transfer: (a, u, x) => run('transfer', a, u, x),
    attendedTransfer: (a, u, x) => run('attendedTransfer', a, u, x),
    completeTransfer: (a, u) => run('completeTransfer', a, u),
    cancelTransfer: (a, u) => run('cancelTransfer', a, u),
  };

  // The simulated office is one office: how phones behave and how long calls last, set through
  // any process, holds in every process (published to the others, applied there as is).
  type Setting =
    | { kind: 'sim.setting'; op: 'employee'; args: Parameters<typeof sim.setEmployeeBehaviour> }
    | { kind: 'sim.setting'; op: 'external'; args: Parameters<typeof sim.setExternalBehaviour> }
    | { kind: 'sim.setting'; op: 'talk'; args: Parameters<typeof sim.setTalkTime> };
  function apply(m: Setting) {
    if (m.op === 'employee') sim.setEmployeeBehaviour(...m.args);
    else if (m.op === 'external') sim.setExternalBehaviour(...m.args);
    else if (m.op === 'talk') sim.setTalkTime(...m.args);
  }
  function setEverywhere(m: Setting) {
    apply(m);
    cluster.publish(m);
  }
  cluster.subscribe((raw) => {
    const m = raw as Setting | null;
    if (m?.kind === 'sim.setting' && Array.isArray(m.args)) apply(m);
  });

  // Each process runs its own generator (start one on each to spread load over them). Behind a
  // load balancer the requests of one console land on any process, so: the status is this
  // process's generator while it runs, else the one started last anywhere; stop stops this
  // process's generator if it ever ran one here, else the peers' (the one the user started).
  const peersTraffic = (op: TrafficOp, accountId: number) =>
    fromPeers({ op, accountId }, (r) => (r.ok && r.traffic ? [r.traffic] : []), {
      fresh: op === 'traffic.stop',
    });
  const traffic: TrafficControl = {
    start: (account, opts) => localTraffic.start(account, opts),
    async status(accountId) {
      const mine = localTraffic.status(accountId);
      if (mine.running) return mine;
      return latest([mine, ...(await peersTraffic('traffic.status', accountId))]);
    },
    async stop(accountId) {
      const mine = localTraffic.status(accountId);
      if (mine.startedAt !== null) return localTraffic.stop(accountId);
      return latest([mine, ...(await peersTraffic('traffic.stop', accountId))]);
    },
  };

  return {
    traffic,
    liveCalls: deps.simulator.liveCalls,
    engine: routedEngine,
    sim: {
      ...sim,
      answer: (a, u, x) => run('answer', a, u, x),
      reject: (a, u, x) => run('reject', a, u, x),
      digit: (a, u, d) => run('digit', a, u, d),
      setEmployeeBehaviour: (...args) => setEverywhere({ kind: 'sim.setting', op: 'employee', args }),
      setExternalBehaviour: (...args) => setEverywhere({ kind: 'sim.setting', op: 'external', args }),
      setTalkTime: (...args) => setEverywhere({ kind: 'sim.setting', op: 'talk', args }),
    },
    /**
     * A process that joins takes the simulated office's settings from the first live peer that
     * answers (settings published before it joined never reached it). True when one did.
     */
    async adoptPeerSettings() {
      if (!cluster.shared) return false;
      for (const p of await cluster.peers({ fresh: true })) {
        const r = await ask(p, { op: 'sim.settings' }).catch((e) => {
          onError(e, p);
          return null;
        });
        if (r?.ok && r.settings) {
          sim.adoptSettings(r.settings);
          return true;
        }
      }
      return false;
    },
    /** Runs a peer's request on this process's own engine only (never forwarded again). */
    async serve(req) {
      try {
        if (req.op === 'active') return { ok: true, calls: await engine.active(req.accountId) };
        if (req.op === 'sim.settings') return { ok: true, settings: sim.settings() };
        if (isTrafficRequest(req))
          return {
            ok: true,
            traffic:
              req.op === 'traffic.stop'
                ? await localTraffic.stop(req.accountId)
                : localTraffic.status(req.accountId),
          };
        await local[req.op](req.accountId, req.uuid, req.arg);
        return { ok: true };
      } catch (err) {
        if (err instanceof DomainError) return { ok: false, code: err.code, message: err.message };
        throw err;
      }
    },
  };
}
