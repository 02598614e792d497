import { lookup as dnsLookup } from 'node:dns/promises';
import type http from 'node:http';
import { BlockList, isIP } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';

/**
 * Outgoing HTTP to CRMs (call.settings, call events, UTM batches) over undici's Agent with our
 * own connector rather than fetch: the address a host resolves to is checked and then *pinned*
 * for the connection, so DNS rebinding cannot slip a private address past the policy.
 * Redirects are never followed: a 3xx is just a status.
 */

/** Whether CRM URLs may resolve to loopback/private/link-local addresses (local mode: yes). */
export interface OutgoingPolicy {
  allowPrivate: boolean;
}

export type OutgoingErrorCode = 'timeout' | 'network' | 'refused_address' | 'bad_url';

export class OutgoingRequestError extends Error {
  constructor(
    readonly code: OutgoingErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'OutgoingRequestError';
  }
}

export interface OutgoingResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The response body as text, cut at `maxResponseBytes` (default 64 KiB). */
  text: string;
  latencyMs: number;
}

export interface PostOptions {
  timeoutMs: number;
  headers?: Record<string, string>;
  policy: OutgoingPolicy;
  signal?: AbortSignal;
  /** The most of the response body kept (the rest is read and dropped). */
  maxResponseBytes?: number;
}

const BLOCKED = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network", 0.0.0.0
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata 169.254.169.254
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  BLOCKED.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique-local (fd00::/8, AWS metadata fd00:ec2::254)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // old site-local
  ['ff00::', 8], // multicast
  ['2001:db8::', 32], // documentation
  ['100::', 64], // discard
] as const)
  BLOCKED.addSubnet(net, bits, 'ipv6');

/** The eight 16-bit groups of an IPv6 address (embedded dotted IPv4 allowed), or null. */
function ipv6Groups(ip: string): number[] | null {
  let s = ip.split('%')[0];
  const dotted = s.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const p = dotted[1].split('.').map(Number);
    s = `${s.slice(0, -dotted[1].length)}${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`;
  }
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? h.length !== 8 : missing < 0) return null;
  const groups = [...h, ...Array(tail === undefined ? 0 : missing).fill('0'), ...t].map((g) =>
    Number.parseInt(g, 16),
  );
  return groups.some((g) => Number.isNaN(g)) ? null : groups;
}

/** The IPv4 address an IPv6 one embeds (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64, 6to4), if any. */
function embeddedIpv4(g: number[]): string | null {
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeros(5) && g[5] === 0xffff) return v4(g[6], g[7]); // IPv4-mapped
  if (zeros(6) && (g[6] !== 0 || g[7] > 1)) return v4(g[6], g[7]); // IPv4-compatible (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return v4(g[6], g[7]); // NAT64
  if (g[0] === 0x2002) return v4(g[1], g[2]); // 6to4
  return null;
}

/**
 * Whether an IP address is loopback, private, link-local, unique-local, CGNAT, multicast,
 * reserved or unspecified — anything a CRM URL must not reach in production mode.
 */
export function isPrivateAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return BLOCKED.check(ip, 'ipv4');
  if (family !== 6) return true; // not an address at all: refuse
  const g = ipv6Groups(ip);
  if (!g) return true;
  const v4 = embeddedIpv4(g);
  if (v4) return BLOCKED.check(v4, 'ipv4');
  return BLOCKED.check(ip.split('%')[0], 'ipv6');
}

type Pinned = { address: string; family: number };

/**
 * Resolutions kept a few seconds (and concurrent lookups of one name shared): a lookup per
 * request cost more than the request. The policy is still checked on every use, and a request
 * connects only to an address that passed it, so a name that rebinds meanwhile gains nothing.
 */
const RESOLVED_TTL_MS = 5_000;
const resolved = new Map<string, { at: number; addrs: Promise<Pinned[]> }>();

function lookupAll(host: string): Promise<Pinned[]> {
  const now = performance.now();
  const hit = resolved.get(host);
  if (hit && now - hit.at < RESOLVED_TTL_MS) return hit.addrs;
  if (resolved.size >= 1_000) resolved.clear();
  const addrs = dnsLookup(host, { all: true, verbatim: true });
  resolved.set(host, { at: now, addrs });
  // A failure is not kept: the next request asks again.
  addrs.catch(() => {
    if (resolved.get(host)?.addrs === addrs) resolved.delete(host);
  });
  return addrs;
}

/** An IP literal host (brackets off), checked against the policy; null for a name. */
function pinLiteral(host: string, policy: OutgoingPolicy): Pinned | null {
  const literal = host.startsWith('[') ? host.slice(1, -1) : host;
  const family = isIP(literal);
  if (!family) return null;
  if (!policy.allowPrivate && isPrivateAddress(literal))
    throw new OutgoingRequestError('refused_address', `refused: ${literal} is a private address`);
  return { address: literal, family };
}

/** Resolves a host name and picks the address to connect to; refuses private ones unless allowed. */
async function resolvePinned(host: string, policy: OutgoingPolicy): Promise<Pinned> {
  let addrs: Pinned[];
  try {
    addrs = await lookupAll(host);
  } catch (err) {
    throw new OutgoingRequestError('network', `cannot resolve ${host}: ${(err as Error).message}`);
  }
  if (addrs.length === 0) throw new OutgoingRequestError('network', `cannot resolve ${host}`);
  if (policy.allowPrivate) return addrs[0];
  // Every address must be public: a name that also resolves privately is a rebinding setup.
  const bad = addrs.find((a) => isPrivateAddress(a.address));
  if (bad)
    throw new OutgoingRequestError(
      'refused_address',
      `refused: ${host} resolves to private address ${bad.address}`,
    );
  return addrs[0];
}

/** What a request needs from its URL, parsed once per URL (a CRM's URL is used over and over). */
interface Target {
  /** scheme://host[:port], credentials off. */
  origin: string;
  /** Host name or IP literal without brackets. */
  host: string;
  path: string;
  authorization: string | null;
}
const targets = new Map<string, Target>();

function targetOf(url: string): Target {
  const hit = targets.get(url);
  if (hit) return hit;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OutgoingRequestError('bad_url', `not a URL: ${url}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new OutgoingRequestError('bad_url', `only http and https URLs are allowed, got ${u.protocol}`);
  if (!u.hostname) throw new OutgoingRequestError('bad_url', 'URL has no host');
  const t: Target = {
    origin: u.origin,
    host: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
    path: `${u.pathname}${u.search}`,
    authorization: u.username
      ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
      : null,
  };
  if (targets.size >= 1_000) targets.clear();
  targets.set(url, t);
  return t;
}

/**
 * One undici Agent per policy (a Pool of keep-alive connections per origin). Every new connection
 * goes through `pinnedConnect`: the host is resolved, the policy checked, and the socket opened
 * to that checked address (TLS still verifies the name). undici rather than node:http: about
 * half the CPU per request, which is most of what a delivery costs.
 */
const agents = new Map<boolean, Agent>();

function agentFor(policy: OutgoingPolicy): Agent {
  let agent = agents.get(policy.allowPrivate);
  if (!agent) {
    const base = buildConnector({ timeout: 10_000 });
    const connect: buildConnector.connector = (options, cb) => {
      const host = options.hostname;
      let pinned: Pinned | null;
      try {
        pinned = pinLiteral(host, policy);
      } catch (err) {
        cb(err as Error, null);
        return;
      }
      if (pinned) {
        base({ ...options, hostname: pinned.address }, cb);
        return;
      }
      resolvePinned(host, policy).then(
        (p) => base({ ...options, hostname: p.address }, cb),
        (err: Error) => cb(err, null),
      );
    };
    agent = new Agent({
      connect,
      connections: 64,
      keepAliveTimeout: 10_000,
      // A CRM may hold an answer up to the caller's own deadline (it aborts the request).
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    agents.set(policy.allowPrivate, agent);
  }
  return agent;
}

/** Closes idle keep-alive connections (graceful shutdown, tests). */
export function closeIdleConnections(): void {
  const closing = [...agents.values()];
  agents.clear();
  for (const a of closing) void a.close().catch(() => {});
}

/**
 * POSTs `body` (JSON-encoded unless already a string) and resolves with whatever status comes
 * back; throws OutgoingRequestError on a bad URL, a refused address, a network error or timeout.
 *
 * @example
 * const r = await postJson('https://crm.example/phonet', { event: 'call.dial' }, { timeoutMs: 5000, policy: { allowPrivate: false } });
 */
export async function postJson(url: string, body: unknown, opts: PostOptions): Promise<OutgoingResponse> {
  const started = performance.now();
  const t = targetOf(url);
  if (opts.signal?.aborted) throw new OutgoingRequestError('timeout', 'aborted');

  const deadline = started + opts.timeoutMs;
  const timeLeft = () => Math.max(1, deadline - performance.now());
  // The policy holds for every request against the current resolution (a kept-alive connection
  // was checked when it opened); a new connection is checked again, and pinned, by the connector.
  if (!pinLiteral(t.host, opts.policy))
    await withTimeout(resolvePinned(t.host, opts.policy), timeLeft(), opts.signal);
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const maxBytes = opts.maxResponseBytes ?? 64 * 1024;
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'user-agent': 'Dzvin',
  };
  if (t.authorization) headers.authorization = t.authorization;
  if (opts.headers) Object.assign(headers, opts.headers);

  // A raw dispatch handler, not `request()`: no Readable, AbortSignal or promise per response.
  return await new Promise<OutgoingResponse>((resolve, reject) => {
    let settled = false;
    let controller: Dispatcher.DispatchController | null = null;
    let status = 0;
    let resHeaders: http.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let kept = 0;
    const cleanup = () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: OutgoingRequestError) => {
      if (settled) return;
      settled = true;
      cleanup();
      controller?.abort(err);
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new OutgoingRequestError('timeout', `no answer within ${opts.timeoutMs} ms`)),
      timeLeft(),
    );
    const onAbort = () => fail(new OutgoingRequestError('timeout', 'aborted'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    agentFor(opts.policy).dispatch(
      { origin: t.origin, path: t.path, method: 'POST', headers, body: payload },
      {
        onRequestStart(c) {
          controller = c;
          // Timed out while queued for a connection: never send it.
          if (settled) c.abort(new OutgoingRequestError('timeout', 'aborted'));
        },
        onResponseStart(_c, statusCode, h) {
          status = statusCode;
          resHeaders = h as http.IncomingHttpHeaders;
        },
        onResponseData(_c, chunk) {
          if (kept < maxBytes) {
            const part = chunk.subarray(0, maxBytes - kept);
            chunks.push(part);
            kept += part.length;
          }
        },
        onResponseEnd() {
          if (settled) return;
          settled = true;
          cleanup();
          resolve({
            status,
            headers: resHeaders,
            text: chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'),
            latencyMs: performance.now() - started,
          });
        },
        onResponseError(_c, err) {
          if (err instanceof OutgoingRequestError) return fail(err);
          const e = err as Error & { code?: string };
          fail(
            new OutgoingRequestError(
              'network',
              e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message,
            ),
          );
        },
      },
    );
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new OutgoingRequestError('timeout', `no answer within ${ms} ms`)), ms);
    const onAbort = () => reject(new OutgoingRequestError('timeout', 'aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
