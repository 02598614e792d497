/**
 * The one typed configuration, parsed once from the environment in main.ts (nothing below reads
 * process.env). Every variable is documented in README.md.
 */
import { DEFAULT_KAMAILIO_CFG, type ManagedSipConfig } from './engine/sip/edge/daemons.ts';
import type { SipConfig } from './engine/sip/sip-engine.ts';
export interface Config {
  host: string;
  port: number;
  /** `sqlite:PATH` (default `sqlite:./data/dzvin.sqlite`) or `postgres://…`. */
  databaseUrl: string;
  /** Where finished call recordings are kept (WAV files named by call uuid). */
  recordingsDir: string;
  demo: { enabled: boolean; domain: string; apiKey: string | undefined; country: string };
  sessionIdleSec: number;
  bodyLimitBytes: number;
  /**
   * Which proxies' X-Forwarded-* headers are believed (DZVIN_TRUST_PROXY): false (none), true
   * (every hop: the leftmost address, forgeable unless the proxy replaces the header), or the
   * proxies' addresses/CIDRs (the client is the rightmost address not among them).
   */
  trustProxy: boolean | string[];
  logLevel: string;
  auth: { maxFailuresPerIp: number; maxFailuresPerDomain: number; failureWindowSec: number };
  /** `local` (default) lets CRM URLs reach loopback/private addresses; `production` refuses them. */
  mode: 'local' | 'production';
  /** Outgoing requests to CRMs (derived from `mode`). */
  outgoing: { allowPrivate: boolean };
  /** Call events / UTM deliveries (spec #18; integrations/outbox.ts). */
  webhooks: {
    timeoutMs: number;
    concurrencyPerConnection: number;
    leaseMs: number;
    retryBaseMs: number;
    retryCapMs: number;
    retryForMs: number;
  };
  /** The most a call waits for the CRMs' call.settings answers (spec #16). */
  lookupTimeoutMs: number;
  /** How long a website session keeps its tracking number (call tracking). */
  trackingSessionSec: number;
  /** Limits of the public callback/tracking endpoints per account, in the authorize window. */
  publicLimits: { callbacksPerIp: number; callbacksPerNumber: number; sessionsPerIp: number };
  /** When set, `GET /metrics` needs `Authorization: Bearer <token>` (DZVIN_METRICS_TOKEN). */
  metricsToken: string | undefined;
  /**
   * Where the other processes of a cluster (several over one PostgreSQL) reach this one's
   * internal API (DZVIN_NODE_URL); by default http://HOST:PORT as it listens (127.0.0.1 for a
   * wildcard HOST).
   */
  nodeUrl: string | undefined;
  /**
   * The console's address as the accounts' users reach it (DZVIN_CONSOLE_URL), `{domain}` standing
   * for an account's domain, e.g. `https://{domain}`: the contacts book's links in `otherLegs`
   * point there. By default http://{domain}:PORT (the port listened on), or https://{domain} in
   * production mode.
   */
  consoleUrl: string | undefined;
  /**
   * DZVIN_SIP_WS_URL: where the console's browser phone reaches Kamailio's WebSocket, e.g.
   * `/sip` (the console's own origin through nginx: wss: on https) or `wss://sip.example.com/`.
   * Unset: with DZVIN_SIP=on and DZVIN_SIP_WS_PORT, `ws://<DZVIN_SIP_IP>:<port>/`.
   */
  sipWsUrl: string | undefined;
  /**
   * DZVIN_SIP_MAX_QUEUE_MS (default 1000, 0–30000): a new INVITE that waited this long between
   * Kamailio's edge (its X-Dzvin-Received) and the B2BUA's reading it is refused at once with 503
   * + Retry-After (overload: the main thread behind). Kamailio and Dzvin must share a clock.
   */
  sipMaxQueueMs: number;
  /**
   * The SIP engine's parts (issue 15), all four or none: the B2BUA's UDP socket
   * (DZVIN_SIP_LISTEN, host:port), Kamailio's socket facing it (DZVIN_SIP_EDGE), rtpengine's NG
   * socket (DZVIN_RTPENGINE_NG) and Kamailio's JSON-RPC URL (DZVIN_KAMAILIO_RPC). Unset: every
   * phone is simulated. Set for `sipMode` external only. DZVIN_SIP_TRANSPORT (`udp`, the
   * default, or `tcp`) is how the B2BUA and Kamailio talk, in both modes.
   */
  sip: SipConfig | undefined;
  /**
   * DZVIN_SIP: `off` (default: every phone simulated), `external` (the four variables above,
   * daemons run by the operator; also implied when all four are set) or `on` (Dzvin starts
   * Kamailio and rtpengine itself: `sipManaged`).
   */
  sipMode: 'off' | 'external' | 'on';
  /** Where `DZVIN_SIP=on` runs its own Kamailio and rtpengine (DZVIN_SIP_PORT, …); set for `on` only. */
  sipManaged: ManagedSipConfig | undefined;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return def;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got '${env[name]}'`);
}

function trustProxy(raw: string | undefined): Config['trustProxy'] {
  const v = raw?.trim() ?? '';
  if (v === '') return false;
  const lower = v.toLowerCase();
  if (['true', 'yes', 'on'].includes(lower)) return true;
  if (['false', 'no', 'off'].includes(lower)) return false;
  const list = v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const address = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]*)(\/\d{1,3})?$/i;
  const bad = list.find((x) => !address.test(x) && !['loopback', 'linklocal', 'uniquelocal'].includes(x));
  if (bad !== undefined)
    throw new ConfigError(
      `DZVIN_TRUST_PROXY must be true, false or the proxies' addresses/CIDRs (comma-separated), got '${bad}'`,
    );
  return list;
}

function nodeUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`DZVIN_NODE_URL must be a URL like http://10.0.0.5:8080, got '${raw}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ConfigError(`DZVIN_NODE_URL must be http:// or https://, got '${raw}'`);
  return u.origin;
}

/** Parses and checks the environment; throws ConfigError naming the variable at fault. */
export function parseConfig(env: Env): Config {
  const demoKey = env.DZVIN_DEMO_API_KEY || undefined;
  if (demoKey !== undefined && demoKey.length < 16)
    throw new ConfigError('DZVIN_DEMO_API_KEY must be at least 16 characters');
  const mode = (env.DZVIN_MODE || 'local').trim().toLowerCase();
  if (mode !== 'local' && mode !== 'production')
    throw new ConfigError(`DZVIN_MODE must be local or production, got '${env.DZVIN_MODE}'`);
  return {
    host: env.HOST || '127.0.0.1',
    port: int(env, 'PORT', 8080, 0, 65535),
    databaseUrl: env.DATABASE_URL || 'sqlite:./data/dzvin.sqlite',
    recordingsDir: env.DZVIN_RECORDINGS_DIR || './data/recordings',
    demo: {
      enabled: bool(env, 'DZVIN_DEMO', true),
      domain: env.DZVIN_DEMO_DOMAIN || 'demo.localhost',
      apiKey: demoKey,
      country: (env.DZVIN_DEMO_COUNTRY || 'UA').toUpperCase(),
    },
    sessionIdleSec: int(env, 'DZVIN_SESSION_IDLE_SECONDS', 1800, 10, 30 * 86400),
    bodyLimitBytes: int(env, 'DZVIN_BODY_LIMIT_BYTES', 5 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    trustProxy: trustProxy(env.DZVIN_TRUST_PROXY),
    logLevel: env.LOG_LEVEL || 'info',
    auth: {
      maxFailuresPerIp: int(env, 'DZVIN_AUTH_MAX_FAILURES_PER_IP', 20, 1, 1_000_000),
      maxFailuresPerDomain: int(env, 'DZVIN_AUTH_MAX_FAILURES_PER_DOMAIN', 50, 1, 1_000_000),
      failureWindowSec: int(env, 'DZVIN_AUTH_FAILURE_WINDOW_SECONDS', 600, 1, 86400),
    },
    mode,
    outgoing: { allowPrivate: mode === 'local' },
    webhooks: {
      timeoutMs: int(env, 'DZVIN_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
      concurrencyPerConnection: int(env, 'DZVIN_WEBHOOK_CONCURRENCY', 16, 1, 1000),
      leaseMs: int(env, 'DZVIN_WEBHOOK_LEASE_SECONDS', 60, 1, 3600) * 1000,
      retryBaseMs: int(env, 'DZVIN_WEBHOOK_RETRY_BASE_MS', 1000, 1, 3_600_000),
      retryCapMs: int(env, 'DZVIN_WEBHOOK_RETRY_CAP_MS', 3_600_000, 1, 86_400_000),
      retryForMs: int(env, 'DZVIN_WEBHOOK_RETRY_FOR_SECONDS', 86_400, 1, 30 * 86_400) * 1000,
    },
    lookupTimeoutMs: int(env, 'DZVIN_LOOKUP_TIMEOUT_MS', 2000, 50, 30_000),
    trackingSessionSec: int(env, 'DZVIN_TRACKING_SESSION_SECONDS', 1800, 10, 86_400),
    publicLimits: {
      callbacksPerIp: int(env, 'DZVIN_CALLBACKS_PER_IP', 10, 1, 1_000_000),
      callbacksPerNumber: int(env, 'DZVIN_CALLBACKS_PER_NUMBER', 3, 1, 1_000_000),
      sessionsPerIp: int(env, 'DZVIN_TRACKING_SESSIONS_PER_IP', 60, 1, 1_000_000),
    },
    metricsToken: env.DZVIN_METRICS_TOKEN || undefined,
    nodeUrl: nodeUrl(env.DZVIN_NODE_URL),
    consoleUrl: consoleUrl(env.DZVIN_CONSOLE_URL),
    sipWsUrl: sipWsUrl(env.DZVIN_SIP_WS_URL),
    sipMaxQueueMs: int(env, 'DZVIN_SIP_MAX_QUEUE_MS', 1000, 0, 30_000),
    ...sipMode(env),
  };
}

/** DZVIN_SIP and the variables of its mode (README's table, docs/sip.md). */
function sipMode(env: Env): Pick<Config, 'sip' | 'sipMode' | 'sipManaged'> {
  const raw = env.DZVIN_SIP?.trim().toLowerCase() ?? '';
  const external = SIP_VARS.filter((v) => env[v]);
  if (raw === '' || raw === 'external') {
    if (raw === 'external' && external.length < SIP_VARS.length)
      throw new ConfigError(
        `DZVIN_SIP=external uses Kamailio and rtpengine you run yourself: it needs all of ${SIP_VARS.join(', ')}; missing ${SIP_VARS.filter((v) => !env[v]).join(', ')} (or set DZVIN_SIP=on to have Dzvin start them)`,
      );
    const sip = sipConfig(env);
    if (sip) sip.transport = sipTransport(env);
    const ws = WS_VARS.filter((v) => env[v]?.trim());
    if (sip && ws.length)
      throw new ConfigError(
        `${ws.join(' and ')} ${ws.length > 1 ? 'are' : 'is'} for the Kamailio of DZVIN_SIP=on; with DZVIN_SIP=external start yours with -A WS_PROXY=<address> / -A 'WS_ORIGIN="<origin>"' (docs/webrtc.md)`,
      );
    return { sip, sipMode: sip ? 'external' : 'off', sipManaged: undefined };
  }
  if (raw === 'off') return { sip: undefined, sipMode: 'off', sipManaged: undefined };
  if (raw !== 'on') throw new ConfigError(`DZVIN_SIP must be off, on or external, got '${env.DZVIN_SIP}'`);
  if (external.length)
    throw new ConfigError(
      `DZVIN_SIP=on starts its own Kamailio and rtpengine: unset ${external.join(', ')} (they are for DZVIN_SIP=external)`,
    );
  const ip = (env.DZVIN_SIP_IP || '127.0.0.1').trim();
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) || ip.split('.').some((x) => Number(x) > 255) || ip === '0.0.0.0')
    throw new ConfigError(
      `DZVIN_SIP_IP must be the IPv4 address phones reach this machine on (not 0.0.0.0), got '${env.DZVIN_SIP_IP}'`,
    );
  const ports = {
    sipPort: int(env, 'DZVIN_SIP_PORT', 5060, 0, 65535),
    edgePort: int(env, 'DZVIN_SIP_EDGE_PORT', 5062, 0, 65535),
    b2buaPort: int(env, 'DZVIN_SIP_B2BUA_PORT', 5070, 0, 65535),
    rpcPort: int(env, 'DZVIN_KAMAILIO_RPC_PORT', 5071, 0, 65535),
    ngPort: int(env, 'DZVIN_RTPENGINE_NG_PORT', 2223, 0, 65535),
  };
  const names: Record<keyof typeof ports, string> = {
    sipPort: 'DZVIN_SIP_PORT',
    edgePort: 'DZVIN_SIP_EDGE_PORT',
    b2buaPort: 'DZVIN_SIP_B2BUA_PORT',
    rpcPort: 'DZVIN_KAMAILIO_RPC_PORT',
    ngPort: 'DZVIN_RTPENGINE_NG_PORT',
  };
  const seen = new Map<number, string>();
  for (const [k, port] of Object.entries(ports) as [keyof typeof ports, number][]) {
    if (port === 0) continue;
    const other = seen.get(port);
    if (other) throw new ConfigError(`${names[k]} and ${other} must differ, both are ${port}`);
    seen.set(port, names[k]);
  }
  // 10,000 ports: about 1,250 calls at once through the B2BUA (8 each); rtpengine's own default range.
  const rtpRaw = env.DZVIN_RTP_PORTS || '30000-39999';
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(rtpRaw.trim());
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1024 || max > 65535 || max - min < 3)
    throw new ConfigError(
      `DZVIN_RTP_PORTS must be a range like 30000-39999 (at least 4 ports, from 1024 to 65535), got '${rtpRaw}'`,
    );
  // Browsers' SIP over WebSocket (issue 18, docs/webrtc.md): only when set; 0 picks a free port.
  const wsPort = env.DZVIN_SIP_WS_PORT?.trim() ? int(env, 'DZVIN_SIP_WS_PORT', 8088, 0, 65535) : undefined;
  if (wsPort) {
    const other = seen.get(wsPort);
    if (other) throw new ConfigError(`DZVIN_SIP_WS_PORT and ${other} must differ, both are ${wsPort}`);
    if (wsPort >= min && wsPort <= max)
      throw new ConfigError(`DZVIN_SIP_WS_PORT (${wsPort}) is inside DZVIN_RTP_PORTS (${rtpRaw})`);
  }
  const wsSet = WS_VARS.filter((v) => env[v]?.trim());
  if (wsPort === undefined && wsSet.length)
    throw new ConfigError(
      `${wsSet.join(' and ')} ${wsSet.length > 1 ? 'are' : 'is'} for Kamailio's WebSocket listener: set DZVIN_SIP_WS_PORT too (or unset ${wsSet.join(', ')})`,
    );
  const ws = wsGuard(env);
  for (const [k, port] of Object.entries(ports) as [keyof typeof ports, number][])
    if (port >= min && port <= max)
      throw new ConfigError(`${names[k]} (${port}) is inside DZVIN_RTP_PORTS (${rtpRaw})`);
  return {
    sip: undefined,
    sipMode: 'on',
    sipManaged: {
      dir: env.DZVIN_SIP_DIR || './data/sip',
      ip,
      transport: sipTransport(env),
      ...ports,
      ...(wsPort === undefined ? {} : { wsPort, ...ws }),
      rtpPorts: { min, max },
      kamailioBin: env.DZVIN_KAMAILIO_BIN || 'kamailio',
      rtpengineBin: env.DZVIN_RTPENGINE_BIN || 'rtpengine',
      kamailioCfg: env.DZVIN_KAMAILIO_CFG || DEFAULT_KAMAILIO_CFG,
    },
  };
}

const WS_VARS = ['DZVIN_SIP_WS_PROXY', 'DZVIN_SIP_WS_ORIGIN'] as const;

/**
 * DZVIN_SIP_WS_PROXY (nginx's IPv4 address as Kamailio sees it: its X-Real-IP is believed) and
 * DZVIN_SIP_WS_ORIGIN (the console's origin: other Origins get 403), dzvin-websocket.cfg's
 * WS_PROXY and WS_ORIGIN.
 */
function wsGuard(env: Env): Pick<ManagedSipConfig, 'wsProxy' | 'wsOrigin'> {
  const out: Pick<ManagedSipConfig, 'wsProxy' | 'wsOrigin'> = {};
  const proxy = env.DZVIN_SIP_WS_PROXY?.trim();
  if (proxy) {
    if (
      !/^\d{1,3}(\.\d{1,3}){3}$/.test(proxy) ||
      proxy.split('.').some((x) => Number(x) > 255) ||
      proxy === '0.0.0.0'
    )
      throw new ConfigError(
        `DZVIN_SIP_WS_PROXY must be the IPv4 address your proxy (nginx) connects to Kamailio's WebSocket port from, e.g. 127.0.0.1, got '${env.DZVIN_SIP_WS_PROXY}'`,
      );
    // Kamailio compares it as text with the connection's source ($si): 127.000.0.1 is 127.0.0.1.
    out.wsProxy = proxy.split('.').map(Number).join('.');
  }
  const origin = env.DZVIN_SIP_WS_ORIGIN?.trim();
  if (origin) {
    const bad = () =>
      new ConfigError(
        `DZVIN_SIP_WS_ORIGIN must be the console's origin as browsers send it, like https://pbx.example.com (http(s), host, optional port, no path), got '${env.DZVIN_SIP_WS_ORIGIN}'`,
      );
    if (!/^https?:\/\/[^/?#@\s]+\/?$/i.test(origin)) throw bad();
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      throw bad();
    }
    // u.origin is what a browser sends: lower-case scheme and host (IDN as punycode), no default
    // port. It goes into Kamailio's config as a string literal: nothing but host characters.
    if (!/^https?:\/\/[a-z0-9.\-[\]:]+$/.test(u.origin)) throw bad();
    out.wsOrigin = u.origin;
  }
  return out;
}

/** DZVIN_SIP_TRANSPORT: between the B2BUA and Kamailio, `udp` (default) or `tcp`. */
function sipTransport(env: Env): 'udp' | 'tcp' {
  const raw = (env.DZVIN_SIP_TRANSPORT ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'udp') return 'udp';
  if (raw === 'tcp') return 'tcp';
  throw new ConfigError(`DZVIN_SIP_TRANSPORT must be udp or tcp, got '${env.DZVIN_SIP_TRANSPORT}'`);
}

const SIP_VARS = ['DZVIN_SIP_LISTEN', 'DZVIN_SIP_EDGE', 'DZVIN_RTPENGINE_NG', 'DZVIN_KAMAILIO_RPC'] as const;

function hostPort(name: string, raw: string): { address: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(raw.trim());
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535)
    throw new ConfigError(`${name} must be an IP address and port like 127.0.0.1:5070, got '${raw}'`);
  return { address: m[1].replace(/^\[|\]$/g, ''), port };
}

function sipConfig(env: Record<string, string | undefined>): SipConfig | undefined {
  const set = SIP_VARS.filter((v) => env[v]);
  if (!set.length) return undefined;
  if (set.length < SIP_VARS.length)
    throw new ConfigError(
      `The SIP engine needs all of ${SIP_VARS.join(', ')}; missing ${SIP_VARS.filter((v) => !env[v]).join(', ')}`,
    );
  const rpc = env.DZVIN_KAMAILIO_RPC ?? '';
  if (!/^https?:\/\/\S+$/.test(rpc))
    throw new ConfigError(`DZVIN_KAMAILIO_RPC must be a URL like http://127.0.0.1:5071/RPC, got '${rpc}'`);
  return {
    listen: hostPort('DZVIN_SIP_LISTEN', env.DZVIN_SIP_LISTEN ?? ''),
    edge: hostPort('DZVIN_SIP_EDGE', env.DZVIN_SIP_EDGE ?? ''),
    rtpengine: hostPort('DZVIN_RTPENGINE_NG', env.DZVIN_RTPENGINE_NG ?? ''),
    kamailioRpcUrl: rpc,
  };
}

function sipWsUrl(raw: string | undefined): string | undefined {
  const v = raw?.trim();
  if (!v) return undefined;
  if (/^\/[\w./-]*$/.test(v)) return v;
  if (/^wss?:\/\/[^\s/?#]+(\/[^\s]*)?$/.test(v)) return v;
  throw new ConfigError(
    `DZVIN_SIP_WS_URL must be a path on the console's origin like /sip, or a ws:// or wss:// URL, got '${raw}'`,
  );
}

function consoleUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let u: URL;
  try {
    u = new URL(raw.replaceAll('{domain}', 'domain.example'));
  } catch {
    throw new ConfigError(`DZVIN_CONSOLE_URL must be a URL like https://{domain}, got '${raw}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ConfigError(`DZVIN_CONSOLE_URL must be http:// or https://, got '${raw}'`);
  return raw.replace(/\/+$/, '');
}

/** Defaults for tests and embedding: parseConfig of an empty environment, then overrides. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...parseConfig({}), ...overrides };
}
