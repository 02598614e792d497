import type { RegistrarClaims } from '../../cluster/registrar-claims.ts';
import type { Recorder } from '../../domain/calls/call-model.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Store } from '../../domain/ports.ts';
import { newTag } from './build.ts';
import { type CarrierRegistrations, createCarrierRegistrations } from './carrier-registrations.ts';
import {
  createKamailioControl,
  isBrowserContact,
  type KamailioControl,
  type Registration,
} from './edge/kamailio-control.ts';
import { createRegistrationWatcher, type RegistrationWatcher } from './edge/registration-watcher.ts';
import type { SipIdentity } from './edge/sip-credentials.ts';
import { createNgClient, type NgClient } from './media/ng-client.ts';
import { getHeader } from './message.ts';
import { createSipDriver, type SipDriver } from './sip-driver.ts';
import { createTransactionLayer, type TransactionLayer } from './transaction.ts';
import { createUdpTransport, type Remote, type SipTransport } from './transport.ts';
import { createTcpTransport } from './transport-tcp.ts';

/** Where the SIP parts are (config.ts `sip`): set all of them, or Dzvin runs simulated. */
export interface SipConfig {
  /** The B2BUA's own socket (Kamailio relays calls here): e.g. 127.0.0.1:5070. */
  listen: Remote;
  /**
   * How the B2BUA and Kamailio talk (DZVIN_SIP_TRANSPORT): `udp` (the default) or `tcp` — the
   * B2BUA listens on TCP, holds a kept-alive connection to `edge`, and Kamailio must be told
   * too (dzvin.cfg's B2BUA_TRANSPORT). Phones may use either with both.
   */
  transport?: 'udp' | 'tcp';
  /** Kamailio's socket facing the B2BUA (its EDGE_PORT). */
  edge: Remote;
  /** rtpengine's `--listen-ng`. */
  rtpengine: Remote;
  /** Kamailio's JSON-RPC over HTTP (xhttp + jsonrpcs), e.g. http://127.0.0.1:5071/RPC. */
  kamailioRpcUrl: string;
  /** How often registrations are read (ul.dump). */
  pollMs?: number;
  /** A talking phone silent this long (no RTP) has vanished: its call is ended. Default 30 s. */
  mediaTimeoutMs?: number;
  /**
   * How often the trunks that register at their carriers are read again (and, in a cluster, the
   * trunks nobody registers are claimed: a dead process's trunks are taken over within it). Default 15 s.
   */
  carrierSyncMs?: number;
  /**
   * A new INVITE whose X-Dzvin-Received says it waited this long (ms) between Kamailio's edge and
   * the B2BUA's reading it is refused 503 + Retry-After (DZVIN_SIP_MAX_QUEUE_MS; default 1000).
   */
  maxQueueMs?: number;
}

export interface SipEngineDeps {
  config: SipConfig;
  store: Store;
  /** The digest credentials Kamailio should check (pushed when it has none). */
  credentials?: () => Promise<{ id: SipIdentity; ha1: string }[]>;
  /** Where the calls of real phones are recorded (their RTP is fed there), on `clock`. */
  recorder?: Pick<Recorder, 'feed'>;
  clock?: Clock;
  /** Which trunks this process registers at their carriers (cluster/registrar-claims.ts); default all. */
  claims?: RegistrarClaims;
  /** This process's id (cluster node id), written with the registrations' state. */
  nodeId?: string;
  onError?: (err: unknown) => void;
  /** What an operator should see that is no bug: INVITEs refused for overload, socket buffers the kernel capped. */
  onWarning?: (message: string) => void;
  onTrace?: (what: string, detail?: unknown) => void;
}

export interface SipEngine {
  driver: SipDriver;
  control: KamailioControl;
  watcher: RegistrationWatcher;
  transport: SipTransport;
  layer: TransactionLayer;
  ng: NgClient;
  /** Trunks kept registered at their carriers (`sipCarrier.register`). */
  carrierRegistrations: CarrierRegistrations;
  /** The employees with a phone registered now, as `accountId:ext`. */
  registered(): string[];
  /** How many contacts (phones) of the employee `ext` are registered now: 0 when none. */
  contactsOf(accountId: number, ext: string): number;
  /** Polls registrations now (tests; the watcher polls by itself). */
  refresh(): Promise<void>;
  /**
   * The process is stopping (Fastify's preClose): from now on new requests — a new INVITE, a
   * ping's OPTIONS — get 503 with Retry-After, so Kamailio's dispatcher gives them to another
   * process and marks this one inactive (dzvin.cfg's B2BUA_FAILOVER); the calls in progress go
   * on until they end.
   */
  drain(): void;
  close(): Promise<void>;
}

/**
 * IVR greetings as the IVR plays them: read once per version (a cheap `set_at` check per call,
 * the audio only when it changed), the last GREETING_CACHE kept decoded.
 */
const GREETING_CACHE = 32;
function greetings(store: Store) {
  const cache = new Map<string, { setAt: number; samples: Int16Array }>();
  return async (accountId: number, ivrId: number): Promise<Int16Array | null> => {
    const key = `${accountId}:${ivrId}`;
    const setAt = await store.ivrGreetings.setAt(accountId, ivrId);
    if (setAt === null) {
      cache.delete(key);
      return null;
    }
    const hit = cache.get(key);
    if (hit?.setAt === setAt) return hit.samples;
    const g = await store.ivrGreetings.get(accountId, ivrId);
    if (!g) return null;
    // A copy: a row's buffer need not be 2-byte aligned for an Int16Array view.
    const samples = new Int16Array(g.pcm.length >> 1);
    for (let i = 0; i < samples.length; i++) samples[i] = g.pcm.readInt16LE(i * 2);
    cache.delete(key);
    cache.set(key, { setAt: g.setAt, samples });
    if (cache.size > GREETING_CACHE) cache.delete(cache.keys().next().value!);
    return samples;
  };
}

/**
 * The SIP engine beside the simulator: the B2BUA's socket (UDP or TCP) and transactions, rtpengine's NG
 * client, Kamailio's control, and the registration watcher that tells the SIP driver which
 * employees it serves (an employee with a registered phone rings on it; the others stay
 * simulated in the same call).
 */
export async function startSipEngine(deps: SipEngineDeps): Promise<SipEngine> {
  const { config, store } = deps;
  const onError = deps.onError ?? (() => {});
  const transport: SipTransport = await (config.transport === 'tcp'
    ? createTcpTransport({
        host: config.listen.address,
        port: config.listen.port,
        keepAlive: [config.edge],
        onError,
      })
    : createUdpTransport({
        host: config.listen.address,
        port: config.listen.port,
        onError,
        onWarning: deps.onWarning,
      })
  ).catch((err: NodeJS.ErrnoException) => {
    // A taken or forbidden port: say whose and how to choose another, not a bare EADDRINUSE.
    if (err?.code !== 'EADDRINUSE' && err?.code !== 'EACCES' && err?.code !== 'EADDRNOTAVAIL') throw err;
    const where = `${config.listen.address}:${config.listen.port}/${config.transport ?? 'udp'}`;
    const why =
      err.code === 'EADDRINUSE'
        ? 'another process listens there'
        : err.code === 'EACCES'
          ? 'this user may not listen there'
          : 'no interface has that address';
    throw new Error(
      `the B2BUA cannot listen on ${where} (${err.code}: ${why}); choose another with DZVIN_SIP_B2BUA_PORT (DZVIN_SIP=on) or DZVIN_SIP_LISTEN (DZVIN_SIP=external)`,
      { cause: err },
    );
  });
  const ng = createNgClient({
    host: config.rtpengine.address,
    port: config.rtpengine.port,
    onWarning: deps.onWarning,
  });
  const control = createKamailioControl({ url: config.kamailioRpcUrl });
  /** accountId:ext of every registered phone; the account of each SIP domain. */
  let registered = new Set<string>();
  /** accountId:ext → how many contacts are registered. */
  let contacts = new Map<string, number>();
  /** accountId:ext of employees whose every registered contact is a browser (over a WebSocket). */
  let browsers = new Set<string>();
  const domains = new Map<number, string>();
  const accountOfDomain = new Map<string, number | null>();

  async function accountOf(domain: string): Promise<number | null> {
    const known = accountOfDomain.get(domain);
    if (known !== undefined) return known;
    const account = await store.accounts.byDomain(domain);
    accountOfDomain.set(domain, account?.id ?? null);
    if (account) domains.set(account.id, account.domain.toLowerCase());
    return account?.id ?? null;
  }

  async function rebuild(regs: Registration[]) {
    const next = new Set<string>();
    const counts = new Map<string, number>();
    const plain = new Set<string>();
    const web = new Set<string>();
    for (const r of regs) {
      if (r.expires <= 0) continue;
      const at = r.aor.lastIndexOf('@');
      if (at <= 0) continue;
      const domain = r.aor.slice(at + 1).toLowerCase();
      // A known domain without an await: one microtask per contact was most of a rebuild's cost.
      const known = accountOfDomain.get(domain);
      const accountId = known !== undefined ? known : await accountOf(domain);
      if (accountId === null) continue;
      const key = `${accountId}:${r.aor.slice(0, at)}`;
      next.add(key);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      (isBrowserContact(r) ? web : plain).add(key);
    }
    registered = next;
    contacts = counts;
    // An ext with a browser and a desk phone both registered gets the plain offer: the desk
    // phone rings and answers, the browser refuses it (one INVITE forks to both; docs/webrtc.md).
    browsers = new Set([...web].filter((k) => !plain.has(k)));
  }

  // The layer hands requests to the driver, which sends through the layer: the driver is made second.
  let driver: SipDriver | null = null;
  let draining = false;
  const layer = createTransactionLayer({
    transport,
    onRequest: (r) => {
      // Not taking new requests (starting, or stopping): Retry-After says "another process".
      const req = r.tx.request;
      const fresh =
        req.method !== 'ACK' && req.method !== 'CANCEL' && !getHeader(req, 'To')?.includes('tag=');
      if (!driver || (draining && fresh)) {
        r.tx.reply(503, driver ? 'Shutting Down' : 'Starting', {
          toTag: newTag(),
          headers: [{ name: 'Retry-After', value: '1' }],
        });
        return;
      }
      driver.onRequest(r);
    },
    onStrayResponse: (r) => driver?.onStrayResponse(r),
    onAck: (ack) => driver?.onAck(ack),
    onError,
  });
  const sip = createSipDriver({
    layer,
    transport,
    edge: config.edge,
    ng,
    registered: (accountId, ext) => registered.has(`${accountId}:${ext}`),
    webrtc: (accountId, ext) => browsers.has(`${accountId}:${ext}`),
    domainOf: (accountId) => domains.get(accountId),
    directory: {
      accountByDomain: (domain) => store.accounts.byDomain(domain),
      employeeByExt: (accountId, ext) => store.directory.employees.byExt(accountId, ext),
      trunks: {
        trunksByNumber: (number) => store.directory.trunks.byNumber(number),
        accountById: (id) => store.accounts.byId(id),
      },
      greeting: greetings(store),
    },
    carrierSecret: (accountId, trunkId) => store.directory.trunks.carrierSecret(accountId, trunkId),
    recorder: deps.recorder,
    clock: deps.clock,
    mediaTimeoutMs: config.mediaTimeoutMs,
    maxQueueMs: config.maxQueueMs,
    onError,
    onWarning: deps.onWarning,
    onTrace: deps.onTrace,
  });
  driver = sip;

  let rebuildQueued = false;
  const watcher = createRegistrationWatcher({
    kamailio: { url: config.kamailioRpcUrl },
    intervalMs: config.pollMs ?? 2000,
    onEvent: (ev) => {
      if (ev.type === 'credentials-missing') {
        pushCredentials().catch(onError);
        return;
      }
      if (ev.type === 'unavailable') onError(ev.error);
      // One rebuild for all the events of a poll (800 phones registering were 800 rebuilds of
      // 800 contacts each); the poll emits them at once, so they all see the same snapshot.
      if (rebuildQueued) return;
      rebuildQueued = true;
      queueMicrotask(() => {
        rebuildQueued = false;
        rebuild(watcher.current()).catch(onError);
      });
    },
  });

  async function pushCredentials() {
    if (!deps.credentials) return;
    for (const c of await deps.credentials()) await control.setCredential(c.id, c.ha1);
    await control.markSynced(new Date().toISOString());
  }

  watcher.start();
  const carrierRegistrations = createCarrierRegistrations({
    layer,
    edge: config.edge,
    trunks: () => store.directory.trunks.withCarrier(),
    secret: (accountId, trunkId) => store.directory.trunks.carrierSecret(accountId, trunkId),
    claims: deps.claims,
    store: store.carrierRegistrations,
    nodeId: deps.nodeId,
    syncMs: config.carrierSyncMs,
    onError,
    onTrace: deps.onTrace ?? (() => {}),
  });
  return {
    carrierRegistrations,
    driver: sip,
    control,
    watcher,
    transport,
    layer,
    ng,
    registered: () => [...registered],
    contactsOf: (accountId, ext) => contacts.get(`${accountId}:${ext}`) ?? 0,
    async refresh() {
      await watcher.poll();
      await rebuild(watcher.current());
    },
    drain() {
      draining = true;
    },
    async close() {
      draining = true;
      await carrierRegistrations.close().catch(onError);
      watcher.stop();
      sip.close();
      layer.close();
      await transport.close();
      await ng.close();
    },
  };
}

/** Which registration is a browser's (edge/kamailio-control.ts; the registration watcher uses it too). */
export { isBrowserContact };
