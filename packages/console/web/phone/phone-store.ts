// The signed-in employee's browser phone, for the whole console (issue 18): started when an
// employee's session opens, it keeps registering while they move between pages, and the Phone
// page, the contacts and the history rows (click-to-call) drive it. JsSIP (./sip-phone.ts) is
// imported here lazily, so it is a chunk of its own that only employees download.
//
// Who is calling comes from the employee's own event stream (GET /api/v1/events/stream, scoped to
// their calls): the call's `otherLegs` say who it is, with the CRM link the INVITE cannot carry.
import type { CallEvent, Me } from '../api.ts';
import { signal } from '../signal.ts';
import type { PhoneCall, PhoneState, SipPhone } from './sip-phone.ts';

export type PhoneSettings = NonNullable<Me['phone']>;

/** Who the other party is, as the call's events name them. */
export interface Party {
  name: string | null;
  num: string | null;
  url: string | null;
}

export interface CallView {
  id: number;
  direction: 'incoming' | 'outgoing';
  /** ringing: an incoming call not answered yet; dialing: ours, not answered yet. */
  status: 'ringing' | 'dialing' | 'talking' | 'ended';
  held: boolean;
  muted: boolean;
  /** What was dialled (outgoing), or the INVITE's From user (incoming). */
  target: string;
  party: Party | null;
  answeredAt: number | null;
  /** Why it ended or failed, once it did. */
  cause: string | null;
  /** DTMF digits sent so far. */
  digits: string;
}

export type Status =
  | { kind: 'off' }
  | { kind: 'loading' }
  | { kind: 'unavailable'; reason: string }
  | { kind: PhoneState; reason?: string };

export const status = signal<Status>({ kind: 'off' });
export const calls = signal<CallView[]>([]);
/** A clear sentence when the microphone cannot be used; null when it can (or was not asked yet). */
export const micProblem = signal<string | null>(null);
export const settings = signal<PhoneSettings | null>(null);

let phone: SipPhone | null = null;
let me: Me['employee'] = null;
let events: EventSource | null = null;
let nextId = 1;
const handles = new Map<number, PhoneCall>();
/** The employee's calls still ringing them, newest last (from the event stream). */
let pendingDials: { uuid: string; at: number; party: Party }[] = [];

const update = (id: number, patch: Partial<CallView>) =>
  calls.set(calls.get().map((c) => (c.id === id ? { ...c, ...patch } : c)));

/** Who a call event names on the other side of this employee. */
function partyOf(e: CallEvent): Party {
  const o = e.otherLegs?.[0];
  if (o && (o.name || o.num)) return { name: o.name, num: o.num, url: o.url };
  // An internal call: the colleague is the other leg.
  const other = e.leg?.id === me?.id ? e.leg2 : e.leg;
  if (other && other.id !== me?.id) return { name: other.displayName, num: other.ext, url: null };
  return { name: e.trunkName, num: e.trunkNum, url: null };
}

function watchEvents() {
  events?.close();
  events = new EventSource('/api/v1/events/stream');
  const on = (name: string, fn: (e: CallEvent) => void) =>
    events?.addEventListener(name, (m) => {
      try {
        fn(JSON.parse((m as MessageEvent).data) as CallEvent);
      } catch {
        // a malformed event is skipped
      }
    });
  on('call.dial', (e) => {
    // A call ringing this employee: an incoming one (leg: them) or a colleague's (leg2: them).
    const ringsMe = e.lgDirection === 1 ? e.leg2?.id === me?.id : e.lgDirection === 4 && e.leg?.id === me?.id;
    if (!ringsMe) return;
    pendingDials = [
      ...pendingDials.filter((d) => d.uuid !== e.uuid),
      { uuid: e.uuid, at: Date.now(), party: partyOf(e) },
    ].slice(-5);
    // A call already ringing here learns its caller.
    for (const c of calls.get()) if (c.status === 'ringing' && !c.party) update(c.id, { party: partyOf(e) });
  });
  const gone = (e: CallEvent) => {
    pendingDials = pendingDials.filter((d) => d.uuid !== e.uuid);
  };
  on('call.bridge', gone);
  on('call.hangup', gone);
}

/** The caller of an INVITE that just arrived: the newest dial of this employee in the last 30 s. */
const callerNow = () => [...pendingDials].reverse().find((d) => Date.now() - d.at < 30_000)?.party ?? null;

function track(handle: PhoneCall, view: Omit<CallView, 'id'>) {
  const id = nextId++;
  handles.set(id, handle);
  calls.set([...calls.get(), { id, ...view }]);
  handle.confirmed.then(
    () => update(id, { status: 'talking', answeredAt: Date.now() }),
    () => undefined,
  );
  handle.ended.then((cause) => {
    handles.delete(id);
    if (cause === 'User Denied Media Access') micProblem.set(MIC_BLOCKED);
    update(id, { status: 'ended', cause });
    // An ended call stays on the page for a moment, then goes.
    setTimeout(() => calls.set(calls.get().filter((c) => c.id !== id)), 4000);
  });
  return id;
}

const MIC_BLOCKED =
  'The browser does not let the console use the microphone. Allow the microphone for this site (the icon at the left of the address bar), then answer or call again.';
const MIC_MISSING = 'No microphone was found. Connect one (or a headset), then answer or call again.';

/** Asks for the microphone once; a clear sentence when it cannot be used. */
async function microphone(): Promise<boolean> {
  if (!navigator.mediaDevices?.getUserMedia) {
    micProblem.set('This browser cannot use a microphone on this page (it needs https:// or localhost).');
    return false;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const t of stream.getTracks()) t.stop();
    micProblem.set(null);
    return true;
  } catch (e) {
    const name = (e as DOMException).name;
    micProblem.set(name === 'NotFoundError' || name === 'OverconstrainedError' ? MIC_MISSING : MIC_BLOCKED);
    return false;
  }
}

/** Starts the phone of the signed-in employee (`GET /api/v1/me`); idempotent. */
export async function startPhone(who: Me, audio: HTMLAudioElement) {
  if (phone || status.get().kind === 'loading') return;
  me = who.employee;
  if (!who.phone) {
    status.set({ kind: 'unavailable', reason: who.phoneUnavailable ?? 'No phone' });
    return;
  }
  settings.set(who.phone);
  status.set({ kind: 'loading' });
  watchEvents();
  const { createSipPhone } = await import('./sip-phone.ts');
  const s = who.phone;
  // A path (`/sip`) is on the console's own origin: wss: when the page is https:.
  const wsUrl = s.wsUrl.startsWith('/')
    ? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${s.wsUrl}`
    : s.wsUrl;
  phone = createSipPhone({
    wsUrl,
    ext: s.ext,
    domain: s.domain,
    ha1: s.ha1,
    displayName: s.displayName,
    audio,
    onState: (kind, reason) => status.set({ kind, reason }),
    onIncoming: (call) =>
      track(call, {
        direction: 'incoming',
        status: 'ringing',
        held: false,
        muted: false,
        target: call.from.user,
        party: callerNow(),
        answeredAt: null,
        cause: null,
        digits: '',
      }),
  });
}

export async function stopPhone() {
  events?.close();
  events = null;
  const p = phone;
  phone = null;
  for (const h of handles.values()) h.hangup();
  handles.clear();
  calls.set([]);
  status.set({ kind: 'off' });
  await p?.stop();
}

/** Places a call from the browser (an ext or a number); false when it cannot now. */
export async function dial(target: string): Promise<boolean> {
  const to = target.replace(/[\s()-]/g, '');
  if (!phone || !to || status.get().kind !== 'registered') return false;
  if (!(await microphone())) return false;
  track(phone.call(to), {
    direction: 'outgoing',
    status: 'dialing',
    held: false,
    muted: false,
    target: to,
    party: null,
    answeredAt: null,
    cause: null,
    digits: '',
  });
  return true;
}

export async function answer(id: number) {
  const h = handles.get(id);
  if (!h) return;
  // The call keeps ringing when the microphone is refused: the employee can allow it and answer.
  if (!(await microphone())) return;
  await h.answer().catch(() => undefined);
}

export const hangup = (id: number) => handles.get(id)?.hangup();
export const reject = (id: number) => handles.get(id)?.hangup(486);

export async function hold(id: number, on: boolean) {
  const h = handles.get(id);
  if (!h) return;
  await h.hold(on);
  update(id, { held: on });
}

export function mute(id: number, on: boolean) {
  handles.get(id)?.mute(on);
  update(id, { muted: on });
}

export function dtmf(id: number, digit: string) {
  const h = handles.get(id);
  if (!h) return;
  h.dtmf(digit);
  const c = calls.get().find((x) => x.id === id);
  update(id, { digits: `${c?.digits ?? ''}${digit}` });
}

/** Blind transfer; the other party is rung at `target`, this phone's leg ends. */
export async function transfer(id: number, target: string) {
  const h = handles.get(id);
  if (!h) throw new Error('The call is over');
  await h.transfer(target.trim());
}

/** Whether click-to-call buttons should show (an employee's phone that can place calls). */
export const canDial = () => status.get().kind === 'registered';
