// Lenient reading of a delivery: JSON whatever the Content-Type when it looks like JSON, else a
// form (`a=1&leg[ext]=001`, PHP-style brackets); numbers and nulls restored where the contract
// has them; second timestamps turned into milliseconds (spec #1).
import type { CallEvent, CallEventName, CallSettingsRequest, UtmItem } from './types.ts';
import { CALL_EVENT_NAMES } from './types.ts';

/**
 * A delivery recognised by its shape.
 * @example
 * ```ts
 * const d = classifyPayload(parseBody(raw, contentType));
 * if (d.kind === 'event') console.log(d.event.event);
 * ```
 */
export type ParsedDelivery =
  | { kind: 'settings'; request: CallSettingsRequest }
  | { kind: 'event'; event: CallEvent }
  | { kind: 'utm'; items: UtmItem[] }
  | { kind: 'unknown'; body: unknown };

type Obj = Record<string, unknown>;

/** `a[b][0]=x` → nested objects/arrays. */
function setPath(target: Obj, key: string, value: string) {
  const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
  const parts = m ? [m[1], ...[...m[2].matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1])] : [key];
  let cur: Obj | unknown[] = target;
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    let p: string | number = parts[i];
    if (Array.isArray(cur)) p = p === '' ? cur.length : Number(p);
    else if (p === '') p = String(Object.keys(cur).length);
    if (last) {
      (cur as Obj)[p as string] = value;
      return;
    }
    const nextIsIndex = parts[i + 1] === '' || /^\d+$/.test(parts[i + 1]);
    const existing = (cur as Obj)[p as string];
    if (existing === null || typeof existing !== 'object') (cur as Obj)[p as string] = nextIsIndex ? [] : {};
    cur = (cur as Obj)[p as string] as Obj | unknown[];
  }
}

/**
 * Parses a request body leniently: JSON when it looks like JSON (any Content-Type), otherwise a
 * URL-encoded form with bracket keys. Throws SyntaxError on broken JSON.
 * @example
 * ```ts
 * parseBody('event=call.dial&leg[ext]=001'); // { event: 'call.dial', leg: { ext: '001' } }
 * ```
 */
export function parseBody(raw: string, contentType = ''): unknown {
  const text = raw.replace(/^\uFEFF/, '').trim();
  if (text === '') return {};
  if (text.startsWith('{') || text.startsWith('[') || /json/i.test(contentType)) return JSON.parse(text);
  const out: Obj = {};
  for (const [k, v] of new URLSearchParams(text)) setPath(out, k, v);
  // A form may carry the JSON itself in one field (`payload=…`, `data=…`).
  const keys = Object.keys(out);
  if (keys.length === 1 && typeof out[keys[0]] === 'string' && /^\s*[[{]/.test(out[keys[0]] as string)) {
    try {
      return JSON.parse(out[keys[0]] as string);
    } catch {
      /* a plain string field after all */
    }
  }
  return out;
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Form values are strings: '' / 'null' → null, numeric strings → numbers. */
function num(v: unknown): number | null {
  if (v === null || v === undefined || v === '' || v === 'null') return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}
function str(v: unknown): string | null {
  if (v === null || v === undefined || v === 'null') return null;
  return typeof v === 'string' ? v : String(v);
}
/** Milliseconds (spec #1): a value below 1e12 is seconds (the document's examples). */
function time(v: unknown): number | null {
  const n = num(v);
  return n === null ? null : n < 1e12 ? n * 1000 : n;
}

function leg(v: unknown) {
  if (!isObj(v)) return null;
  return { ...v, id: num(v.id) ?? 0, ext: str(v.ext), displayName: str(v.displayName) ?? '' };
}

function otherLegs(v: unknown) {
  const list = Array.isArray(v) ? v : isObj(v) ? Object.values(v) : [];
  return list.filter(isObj).map((o) => ({
    ...o,
    id: typeof o.id === 'number' ? o.id : str(o.id),
    name: str(o.name),
    num: str(o.num),
    companyName: str(o.companyName),
    url: str(o.url),
    priority: num(o.priority),
  }));
}

function normalizeEvent(o: Obj): CallEvent {
  return {
    ...o,
    event: o.event as CallEventName,
    accountDomain: str(o.accountDomain) ?? '',
    uuid: String(o.uuid),
    parentUuid: str(o.parentUuid) || null,
    dialAt: time(o.dialAt) ?? 0,
    bridgeAt: time(o.bridgeAt),
    serverTime: time(o.serverTime) ?? Date.now(),
    lgDirection: (num(o.lgDirection) ?? 0) as CallEvent['lgDirection'],
    leg: leg(o.leg),
    leg2: leg(o.leg2),
    otherLegs: otherLegs(o.otherLegs),
    trunkNum: str(o.trunkNum),
    trunkName: str(o.trunkName),
  } as CallEvent;
}

function normalizeUtm(o: Obj): UtmItem {
  return {
    ...o,
    callDate: time(o.callDate),
    callStart: time(o.callStart),
    callParentUuid: String(o.callParentUuid ?? ''),
  } as UtmItem;
}

/**
 * Recognises a delivery by its shape: `request: "call.settings"`, an `event` of the three call
 * events with a `uuid`, or an array (a UTM batch). Anything else is `unknown`.
 * @example
 * ```ts
 * classifyPayload({ request: 'call.settings', otherLegNum: '+380442246595' }).kind; // 'settings'
 * ```
 */
export function classifyPayload(body: unknown): ParsedDelivery {
  if (Array.isArray(body)) return { kind: 'utm', items: body.filter(isObj).map(normalizeUtm) };
  if (isObj(body) && Array.isArray(body.utm)) return classifyPayload(body.utm);
  if (!isObj(body)) return { kind: 'unknown', body };
  if (body.request === 'call.settings' && body.otherLegNum !== undefined)
    return {
      kind: 'settings',
      request: {
        request: 'call.settings',
        otherLegNum: String(body.otherLegNum),
        trunkNum: str(body.trunkNum) || null,
      },
    };
  if (
    typeof body.event === 'string' &&
    (CALL_EVENT_NAMES as readonly string[]).includes(body.event) &&
    body.uuid !== undefined &&
    body.uuid !== null
  )
    return { kind: 'event', event: normalizeEvent(body) };
  return { kind: 'unknown', body };
}
