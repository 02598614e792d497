// Compile-time tests (run by `npx tsc -p tsconfig.json` at the repo root; never executed):
// events narrow by name, and wrong parameters do not compile. Every `@ts-expect-error` must
// meet an error, so a type that became too loose fails the typecheck.
import {
  type CallEvent,
  type CallEventOf,
  createWebhookHandler,
  DzvinAdminClient,
  type PhonetClient,
} from '@dzvin/sdk';
import { buildCallEvent } from '@dzvin/sdk/testing';

export function narrowing(e: CallEvent) {
  // @ts-expect-error bridgeAt may be null before narrowing
  const before: number = e.bridgeAt;
  switch (e.event) {
    case 'call.dial': {
      const nothing: null = e.bridgeAt;
      // @ts-expect-error a dial has no bridge time
      const n: number = e.bridgeAt;
      return [nothing, n, before];
    }
    case 'call.bridge': {
      const answered: number = e.bridgeAt;
      return [answered];
    }
    case 'call.hangup': {
      // @ts-expect-error an unanswered call hangs up with bridgeAt null
      const n: number = e.bridgeAt;
      return [n];
    }
    default: {
      const none: never = e;
      return none;
    }
  }
}

export const handler = createWebhookHandler({
  on: {
    'call.bridge': (e) => {
      const answered: number = e.bridgeAt;
      const name: 'call.bridge' = e.event;
      void [answered, name];
    },
    'call.dial': (e) => {
      // @ts-expect-error narrowed to call.dial
      const name: 'call.hangup' = e.event;
      void name;
    },
    // @ts-expect-error not a call event
    'call.transfer': () => {},
  },
  onCallEvent: (e) => {
    if (e.event === 'call.hangup') {
      const h: CallEventOf<'call.hangup'> = e;
      void h;
    }
  },
  onCallSettings: ({ otherLegNum, trunkNum }) => {
    const num: string = otherLegNum;
    const trunk: string | null = trunkNum;
    void [num, trunk];
    return { name: 'Known', responsibleEmployeeExt: '001' };
  },
  // @ts-expect-error timeouts are milliseconds
  settingsTimeoutMs: '2s',
});

// @ts-expect-error onCallSettings answers an object or null, not a string
createWebhookHandler({ onCallSettings: () => 'Іван' });

export const dial = buildCallEvent('call.dial');
export const dialIsNull: null = dial.bridgeAt;
// @ts-expect-error built events narrow by name too
export const dialIsNumber: number = buildCallEvent('call.dial').bridgeAt;

export async function wrongParams(client: PhonetClient, admin: DzvinAdminClient) {
  // @ts-expect-error `to` is required
  client.calls.company({ from: 0 });
  // @ts-expect-error pause records exist in users.api only
  client.calls.company({ from: 0, to: 1, directions: ['pause'] });
  client.calls.users({ from: new Date(), to: Date.now(), directions: ['pause', 64, 'incoming'] });
  // @ts-expect-error not a direction
  client.calls.missed({ from: 0, to: 1, directions: [8] });
  // @ts-expect-error contact ids are numbers
  await client.contacts.get('42');
  // @ts-expect-error update needs the contact's id
  await client.contacts.update({ fields: [] });
  // @ts-expect-error a note update needs the note's id
  await client.contacts.notes(1).update({ content: 'x' });
  // @ts-expect-error makeCall needs otherLegNum
  await client.calls.make({ legExt: '001' });
  // @ts-expect-error tracks are mixed, rx or tx
  client.recordings.url('abc', { track: 'left' });
  // @ts-expect-error filterBy is created/modified/0/1
  client.contacts.list({ filterBy: 'deleted' });
  const { uuid } = await client.calls.make({ legExt: 1, otherLegNum: '+380993034330' });
  const s: string = uuid;
  // @ts-expect-error strategy is one of three
  await admin.groups.create({ name: 'x', ext: '100', strategy: 'random' });
  // @ts-expect-error the simulator takes `from` and `trunk`
  await admin.sim.incoming({ from: '+380505826633' });
  // @ts-expect-error baseUrl is required for Dzvin's own API
  new DzvinAdminClient({ apiKey: 'k' });
  return s;
}
