// The console's HTTP client: same-origin fetch with the JSESSIONID cookie the server set at sign
// in (HttpOnly, so the browser carries it; the console never sees it). Errors carry the server's
// plain-text body, which the pages show as is.

/** A refused request: `status` and the server's own text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

import { signal } from './signal.ts';

/** The signed-in employee's session (GET /api/v1/me), or null for the account's. */
export const employeeSession = signal<Me | null>(null);

let onSignedOut: () => void = () => {};
/** Called when a request answers 403 for a missing/expired session. */
export function whenSignedOut(fn: () => void) {
  onSignedOut = fn;
}

export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  /** A file sent as it is (its type the Content-Type), instead of a JSON body. */
  file?: Blob,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: file
        ? { 'content-type': file.type || 'application/octet-stream' }
        : body === undefined
          ? {}
          : { 'content-type': 'application/json' },
      body: file ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
  } catch (e) {
    throw new ApiError(0, `Network error: ${(e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    // A missing or expired session signs out; an employee's session refused a route (its scope,
    // http/employee-scope.ts) stays signed in and shows the reason.
    if (res.status === 403 && !path.startsWith('/rest/security/') && !path.startsWith('/api/v1/session/')) {
      if (!text.startsWith("An employee's session")) onSignedOut();
    }
    throw new ApiError(res.status, text.trim() || `${res.status} ${res.statusText}`);
  }
  if (!text) return undefined as T;
  return (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as T) : (text as T);
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});

/** Builds a query string, repeating array values (`directions=1&directions=4`). */
export function qs(params: Record<string, string | number | undefined | (string | number)[]>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === '') continue;
    for (const x of Array.isArray(v) ? v : [v]) u.append(k, String(x));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

// ---- wire shapes (as packages/protocol declares them; kept local so the bundle has no TypeBox)

export interface Leg {
  id: number;
  ext: string | null;
  displayName: string;
  type?: number;
}
export interface OtherLeg {
  id: string | number | null;
  name: string | null;
  num: string | null;
  companyName: string | null;
  url: string | null;
  priority: number | null;
}
/** GET /api/v1/me: the account's session, or an employee's with their browser phone's settings. */
export interface Me {
  domain: string;
  name: string;
  employee: { id: number; ext: string; displayName: string } | null;
  phone: { wsUrl: string; ext: string; domain: string; ha1: string; displayName: string } | null;
  phoneUnavailable: string | null;
}

/** A call event as the SSE stream (and a CRM's webhook) carries it. */
export interface CallEvent {
  event: string;
  uuid: string;
  parentUuid: string | null;
  dialAt: number;
  bridgeAt: number | null;
  lgDirection: number;
  leg: { id: number; ext: string; displayName: string } | null;
  leg2: { id: number; ext: string; displayName: string } | null;
  otherLegs: OtherLeg[] | null;
  trunkNum: string | null;
  trunkName: string | null;
}

export interface LiveCall {
  uuid: string;
  parentUuid: string | null;
  lastEvent: string;
  dialAt: number;
  bridgeAt: number | null;
  lgDirection: number;
  leg: Leg | null;
  leg2: Leg | null;
  otherLegs: OtherLeg[] | null;
  trunkNum: string | null;
  trunkName: string | null;
}
export interface HistoryCall {
  parentUuid: string | null;
  uuid: string;
  endAt: number;
  lgDirection: number;
  otherLegNum: string | null;
  otherLegName: string | null;
  leg: Leg | null;
  leg2: Leg | null;
  billSecs: number;
  duration: number;
  disposition: number;
  transferHistory: string | null;
  audioRecUrl: string | null;
  trunk: string | null;
}
export interface Employee {
  id: number;
  displayName: string;
  ext: string;
  email: string | null;
  monitored: boolean;
  presence: 'online' | 'offline';
  paused: boolean;
  createdAt: number;
  /** Whether the employee's phone is registered (SIP); null when the server runs no SIP engine. */
  phone?: { registered: boolean; contacts: number } | null;
}
export interface Target {
  type: 'employee' | 'group' | 'ivr';
  id: number;
}
export interface RingGroup {
  id: number;
  name: string;
  ext: string;
  strategy: string;
  ringTimeoutSec: number;
  members: number[];
}
export interface Ivr {
  id: number;
  name: string;
  greeting: string | null;
  timeoutSec: number;
  options: { digit: string; target: Target }[];
  defaultTarget: Target | null;
}
export interface Trunk {
  id: number;
  number: string;
  name: string;
  destination: Target | null;
  isDefault: boolean;
  /** The carrier's addresses allowed to deliver this number's calls over SIP. */
  sipPeers: string[];
  sipDidFrom: 'either' | 'request-uri' | 'to';
  /** Where calls out on this trunk go over SIP (the password is write-only). */
  sipCarrier: {
    host: string;
    port: number;
    transport: 'udp' | 'tcp';
    username: string | null;
    hasPassword: boolean;
    register: boolean;
    /** Where its registration at the carrier stands now (read-only; `off` when it does not register). */
    registration: CarrierRegistration;
  } | null;
}
export interface CarrierRegistration {
  state: 'off' | 'pending' | 'registered' | 'failed';
  expiresAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  lastAttemptAt: number | null;
  nextAttemptAt: number | null;
  failures: number;
}
export interface CrmConnection {
  id: number;
  name: string;
  callSettingsUrl: string | null;
  eventsUrl: string | null;
  utmUrl: string | null;
  priority: number;
  hasSecret: boolean;
  enabled: boolean;
}
export interface Delivery {
  id: number;
  connectionId: number;
  kind: string;
  event: string | null;
  status: string;
  attempts: number;
  createdAt: number;
  nextAttemptAt: number | null;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  lastLatencyMs: number | null;
  responseExcerpt: string | null;
  deliveredAt: number | null;
}
/** One attempt of a delivery (`GET /api/v1/deliveries/{id}/attempts`). */
export interface DeliveryAttempt {
  attempt: number;
  at: number;
  status: number | null;
  error: string | null;
  latencyMs: number | null;
  responseExcerpt: string | null;
}
export interface Account {
  domain: string;
  name: string;
  defaultCountry: string;
  apiUserId: number | null;
  /** Which phones the employees use (issue 15); phonesDefault: the server's default, not chosen. */
  phones?: 'simulated' | 'real' | 'hybrid';
  phonesDefault?: boolean;
}
export interface ContactValue {
  id?: number | null;
  enumValueCode: string | null;
  value: string | null;
}
export interface ContactField {
  id?: number | null;
  enumCode: string;
  values: ContactValue[];
}
export interface Contact {
  id: number;
  firstName: string | null;
  lastName: string | null;
  companyTitle: string | null;
  lastModified: number;
  dateCreate: number;
  fields: ContactField[];
}
export interface Note {
  id: number;
  content: string | null;
  dateCreate: number;
  noteType: number;
}
export interface TrackingNumber {
  id: number;
  number: string;
}

/** A key just rotated: every session ended with the old key, so sign-in shows it (once). */
export let rotatedKey: string | null = null;
export function setRotatedKey(k: string | null) {
  rotatedKey = k;
}
