import { ActiveCall, MakeCallRequest, MakeCallResponse } from '@dzvin/protocol';
import { Type } from 'typebox';
import type { CallEngine } from '../../domain/calls/call-engine.ts';
import { toActiveCall } from '../../domain/calls/projection.ts';
import { type App, errorResponses } from '../route-kit.ts';

const tags = ['Phonet: calls'];
const UuidParams = Type.Object({ uuid: Type.String({ minLength: 1, maxLength: 64 }) });

/** makeCall, active/v3 and hangup, exactly at the documented paths. */
export function liveCallRoutes(app: App, engine: CallEngine) {
  app.post(
    '/rest/user/makeCall',
    {
      schema: {
        tags,
        summary: 'Click-to-call: ring the employee legExt, then dial otherLegNum and bridge',
        body: MakeCallRequest,
        response: { 200: MakeCallResponse, ...errorResponses(400, 403, 404, 409) },
      },
    },
    (r) => engine.makeCall(r.account, String(r.body.legExt), r.body.otherLegNum),
  );
  app.get(
    '/rest/calls/active/v3',
    {
      schema: {
        tags,
        summary: 'Calls in progress, per employee leg (lastEvent: call.dial or call.bridge)',
        response: { 200: Type.Array(ActiveCall), ...errorResponses(403) },
      },
    },
    async (r) => (await engine.active(r.account.id)).map(toActiveCall),
  );
  const hangup = {
    schema: {
      tags,
      summary:
        'End a call (a company call or one of its legs) in any state; GET as documented, POST too (spec #12)',
      params: UuidParams,
      response: { 200: Type.Null({ description: 'Ended' }), ...errorResponses(403, 404) },
    },
  };
  const handler = async (r: { account: { id: number }; params: { uuid: string } }) => {
    await engine.hangup(r.account.id, r.params.uuid);
    return null;
  };
  app.get('/rest/calls/active/:uuid/hangup', hangup, handler);
  app.post('/rest/calls/active/:uuid/hangup', hangup, handler);
}
