// What Dzvin asks of its Kamailio edge (deploy/kamailio/dzvin.cfg) over JSON-RPC: keep the
// credential cache in step with the directory, and read who is registered.
//
// Credentials live in the htable `cred` (not a DB module: Kamailio has no driver for Dzvin's
// SQLite and Dzvin stays the one owner of the directory; see the config's header). The table is
// in memory, so a restarted Kamailio knows nobody until Dzvin pushes again. Dzvin marks a complete
// push with `markSynced()`; `isSynced()` false means "push everything" (the registration watcher
// reports it), which covers a first start, a Kamailio restart and a Kamailio started after Dzvin.
import {
  createKamailioRpc,
  type KamailioRpc,
  KamailioRpcError,
  type KamailioRpcOptions,
} from './kamailio-rpc.ts';
import { type SipIdentity, sipAor } from './sip-credentials.ts';

const CRED_TABLE = 'cred';
const MARKER_TABLE = 'dzvin';
const SYNCED_KEY = 'synced';
const LOCATION_TABLE = 'location';

/** One registered contact of an AoR, as usrloc holds it. */
export interface Registration {
  /** `ext@domain` */
  aor: string;
  /** The Contact URI the phone registered (what Kamailio forwards to, unless `received` is set). */
  contact: string;
  /** Seconds until the binding expires; 0 once expired and not yet removed. */
  expires: number;
  userAgent: string;
  /** The source address seen behind NAT (`sip:ip:port`), when it differs from the Contact. */
  received?: string;
  /** Kamailio's socket the phone registered through, e.g. `udp:203.0.113.5:5060`. */
  socket: string;
  callId: string;
  cseq: number;
  /** usrloc's unique id of this binding: stable across refreshes of one registration. */
  ruid: string;
  /** The TCP/TLS/WebSocket connection it registered over (Kamailio's id), for a phone on one. */
  tcpconnId?: number;
}

export interface KamailioControl {
  /** `kamailio 5.6.3 (x86_64/linux)`; doubles as the readiness probe. */
  version(): Promise<string>;
  /** Seconds since Kamailio started. */
  uptime(): Promise<number>;
  /** Adds or replaces the HA1 Kamailio checks for this ext (see sip-credentials.ts). */
  setCredential(id: SipIdentity, ha1: string): Promise<void>;
  /** Forgets the credential: the next REGISTER (or INVITE) of that ext is refused. Idempotent. */
  removeCredential(id: SipIdentity): Promise<void>;
  /** Every credential Kamailio holds: AoR → HA1. */
  credentials(): Promise<Map<string, string>>;
  /** Records that every credential has been pushed (`label` is free text, e.g. a timestamp). */
  markSynced(label: string): Promise<void>;
  /** False when this Kamailio has not been given the credentials since it started. */
  isSynced(): Promise<boolean>;
  /** Every registered contact, across all accounts. */
  registrations(): Promise<Registration[]>;
  /** Drops every registered contact of this ext now (e.g. after its credential is removed). */
  unregister(id: SipIdentity): Promise<void>;
  /**
   * The ids of the TCP/TLS/WebSocket connections Kamailio holds open now (`core.tcp_list`), not
   * those it has given up on (CONN_BAD, EOF, ERROR: e.g. a WebSocket the websocket module closed
   * for want of a Pong stays listed BAD while its silent peer never closes it).
   */
  connections(): Promise<Set<number>>;
}

export function createKamailioControl(opts: KamailioRpcOptions | { rpc: KamailioRpc }): KamailioControl {
  const rpc = 'rpc' in opts ? opts.rpc : createKamailioRpc(opts);

  return {
    async version() {
      return String(await rpc.call('core.version')).trim();
    },
    async uptime() {
      const r = (await rpc.call('core.uptime')) as { uptime?: unknown };
      return Number(r?.uptime ?? 0);
    },
    async setCredential(id, ha1) {
      if (!/^[0-9a-f]{32}$/.test(ha1)) throw new Error('an HA1 is 32 lower-case hex digits');
      await rpc.call('htable.sets', [CRED_TABLE, sipAor(id), ha1]);
    },
    async removeCredential(id) {
      try {
        await rpc.call('htable.delete', [CRED_TABLE, sipAor(id)]);
      } catch (e) {
        // "Key not found in htable.": already gone, which is what was asked.
        if (!(e instanceof KamailioRpcError && e.code === 404)) throw e;
      }
    },
    credentials() {
      return dumpTable(rpc, CRED_TABLE);
    },
    async markSynced(label) {
      await rpc.call('htable.sets', [MARKER_TABLE, SYNCED_KEY, label]);
    },
    async isSynced() {
      // A dump, not htable.get: a missing key is an error there, and its code (500) cannot be
      // told from a real failure.
      return (await dumpTable(rpc, MARKER_TABLE)).has(SYNCED_KEY);
    },
    async registrations() {
      return parseUlDump(await rpc.call('ul.dump'));
    },
    async unregister(id) {
      // ul.rm of an AoR with no contacts answers an empty result, not an error.
      await rpc.call('ul.rm', [LOCATION_TABLE, sipAor(id)]);
    },
    async connections() {
      const list = (await rpc.call('core.tcp_list')) as Array<{ id?: unknown; state?: unknown }> | null;
      return new Set(
        (Array.isArray(list) ? list : [])
          .filter((c) => !/BAD|EOF|ERROR/.test(String(c.state ?? '')))
          .map((c) => Number(c.id)),
      );
    },
  };
}

/** An htable's content: `htable.dump` answers `[{entry, size, slot: [{name, value, type}]}]`. */
async function dumpTable(rpc: KamailioRpc, table: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const entries = (await rpc.call('htable.dump', [table])) as Array<{
    slot?: Array<{ name?: unknown; value?: unknown }>;
  }>;
  for (const entry of Array.isArray(entries) ? entries : []) {
    for (const item of entry.slot ?? []) out.set(String(item.name), String(item.value));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ul.dump → Registration[]

interface UlContact {
  Address?: unknown;
  Expires?: unknown;
  'User-Agent'?: unknown;
  Received?: unknown;
  Socket?: unknown;
  'Call-ID'?: unknown;
  CSeq?: unknown;
  Ruid?: unknown;
  'Tcpconn-Id'?: unknown;
}

const NOT_SET = '[not set]';

/**
 * Flattens usrloc's dump (`{Domains: [{Domain: {AoRs: [{Info: {AoR, Contacts: [{Contact}]}}]}}]}`)
 * into one entry per contact. Exported for its test; tolerant of missing fields, since the shape
 * is Kamailio's and not versioned.
 */
export function parseUlDump(result: unknown): Registration[] {
  const out: Registration[] = [];
  const domains = (result as { Domains?: Array<{ Domain?: { AoRs?: unknown } }> })?.Domains ?? [];
  for (const d of domains) {
    const aors = Array.isArray(d.Domain?.AoRs) ? (d.Domain.AoRs as Array<{ Info?: unknown }>) : [];
    for (const a of aors) {
      const info = a.Info as { AoR?: unknown; Contacts?: Array<{ Contact?: UlContact }> } | undefined;
      if (!info) continue;
      for (const c of info.Contacts ?? []) {
        const k = c.Contact;
        if (!k) continue;
        const received = str(k.Received);
        const conn = Number(k['Tcpconn-Id'] ?? -1);
        out.push({
          aor: str(info.AoR),
          contact: str(k.Address),
          // "permanent" (static contacts) counts as never expiring; "expired"/"deleted" as 0.
          expires:
            typeof k.Expires === 'number'
              ? k.Expires
              : k.Expires === 'permanent'
                ? Number.POSITIVE_INFINITY
                : 0,
          userAgent: str(k['User-Agent']),
          ...(received && received !== NOT_SET ? { received } : {}),
          socket: str(k.Socket),
          callId: str(k['Call-ID']),
          cseq: Number(k.CSeq ?? 0),
          ruid: str(k.Ruid),
          ...(Number.isInteger(conn) && conn >= 0 ? { tcpconnId: conn } : {}),
        });
      }
    }
  }
  return out;
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

/**
 * A browser's registration (issue 18): it came over a WebSocket, so its Contact (JsSIP's
 * `sip:…@….invalid;transport=ws`) or the connection Kamailio saw (`received`) says ws or wss.
 */
export function isBrowserContact(r: Pick<Registration, 'contact' | 'received' | 'socket'>): boolean {
  const ws = /;transport=wss?(?:[;>?]|$)/i;
  return ws.test(r.contact) || ws.test(r.received ?? '') || /^wss?:/i.test(r.socket);
}
