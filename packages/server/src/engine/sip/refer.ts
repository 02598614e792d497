// A phone's REFER (RFC 3515) as the SIP driver answers it (sip-driver.ts `referred`): on a leg
// the driver rang or on a call the phone placed (phone-originated.ts), blind or with Replaces
// (RFC 3891, an attended transfer).
import type { Header } from './message.ts';

/** The dialog a phone's REFER came in on: a leg the driver rang, or a call the phone placed. */
export interface ReferDialog {
  accountId: number;
  /** The call's uuid. */
  uuid: string;
  /** The referring employee's ext. */
  ext: string;
  /** The call is up (answered and ACKed). */
  up: boolean;
  /** A NOTIFY of the refer subscription with this sipfrag status line; the subscription ends. */
  notify(fragment: string): void;
}

/** A NOTIFY of a REFER's implicit subscription (RFC 3515 §2.4.4), the only one: it terminates. */
export const referNotifyHeaders: Header[] = [
  { name: 'Event', value: 'refer' },
  { name: 'Subscription-State', value: 'terminated;reason=noresource' },
  { name: 'Content-Type', value: 'message/sipfrag;version=2.0' },
];

/** A Replaces value (RFC 3891 §6.1: `call-id;to-tag=…;from-tag=…[;early-only]`), null when malformed. */
export function parseReplaces(value: string): { callId: string; toTag: string; fromTag: string } | null {
  const [callId, ...params] = value.split(';').map((p) => p.trim());
  const tags = new Map<string, string>();
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq > 0) tags.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  const toTag = tags.get('to-tag');
  const fromTag = tags.get('from-tag');
  if (!callId || !toTag || !fromTag) return null;
  return { callId, toTag, fromTag };
}
