// One line per call event for people, shared by `dzvin listen` and `dzvin events tail`:
// `call.dial   incoming <uuid> 001 Олена ← +380505826633 trunk +380442246595`.
import type { CallEvent } from '@dzvin/sdk';

const DIRECTIONS: Record<number, string> = {
  1: 'internal',
  2: 'outgoing',
  4: 'incoming',
  32: 'pause',
  64: 'unpause',
};
export const clockTime = (ms: number) => new Date(ms).toISOString().slice(11, 23);
const leg = (l: { ext: string | null; displayName?: string | null } | null) =>
  l ? [l.ext, l.displayName].filter(Boolean).join(' ') : '';

/**
 * `call.dial   incoming <uuid> 001 Олена ← +380505826633 trunk +380442246595`. Phonet's events
 * carry the external number only in `otherLegs` (what the CRMs know), so it may be missing.
 */
export function describeCallEvent(e: CallEvent): string {
  const known = e.otherLegs.find((o) => o.num || o.name);
  const other = known ? [known.num, known.name].filter(Boolean).join(' ') : leg(e.leg2);
  const parts = [e.event.padEnd(11), DIRECTIONS[e.lgDirection] ?? String(e.lgDirection), e.uuid];
  if (e.leg) parts.push(leg(e.leg));
  if (other) parts.push(e.lgDirection === 4 ? '←' : '→', other);
  if (e.trunkNum) parts.push(`trunk ${e.trunkNum}`);
  if (e.event === 'call.hangup') parts.push(e.bridgeAt === null ? '(not answered)' : '(answered)');
  return parts.join(' ');
}
