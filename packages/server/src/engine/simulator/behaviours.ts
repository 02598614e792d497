import type { PhoneBehaviour, TalkTime } from '@dzvin/protocol';

/**
 * Simulated phones (employees' desk phones and external parties) behave as a PhoneBehaviour
 * (schema in @dzvin/protocol): answer after N s with probability p, ring until acted on
 * (manual), busy, do-not-disturb, unreachable or congested. The simulator draws from it with an
 * injected random source; answered calls last a TalkTime.
 */
export type { PhoneBehaviour, TalkTime };

export const DEFAULT_EMPLOYEE_BEHAVIOUR: PhoneBehaviour = {
  mode: 'answer',
  answerAfterSec: 3,
  probability: 1,
};
export const DEFAULT_EXTERNAL_BEHAVIOUR: PhoneBehaviour = {
  mode: 'answer',
  answerAfterSec: 4,
  probability: 1,
};
export const DEFAULT_TALK: TalkTime = { minSec: 20, maxSec: 90 };

/** What a ringing phone will do, decided once when it starts ringing. */
export type RingOutcome =
  | { kind: 'answer'; afterMs: number }
  | { kind: 'refuse'; disposition: 2 | 3 | 4; afterMs: number }
  | { kind: 'ring' };

export function decide(b: PhoneBehaviour, random: () => number): RingOutcome {
  switch (b.mode) {
    case 'answer':
      return random() < b.probability
        ? { kind: 'answer', afterMs: Math.round(b.answerAfterSec * 1000) }
        : { kind: 'ring' };
    case 'manual':
      return { kind: 'ring' };
    case 'busy':
    case 'dnd':
      return { kind: 'refuse', disposition: 4, afterMs: 500 };
    case 'unreachable':
      return { kind: 'refuse', disposition: 3, afterMs: 200 };
    case 'congestion':
      return { kind: 'refuse', disposition: 2, afterMs: 200 };
  }
}

export function talkMs(t: TalkTime, random: () => number): number {
  return Math.round((t.minSec + (t.maxSec - t.minSec) * random()) * 1000);
}
