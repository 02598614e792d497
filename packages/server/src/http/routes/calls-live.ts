import { ActiveCall, MakeCallRequest, MakeCallResponse } from '@dzvin/protocol';
import { Type } from 'typebox';
import type { CallEngine } from '../../domain/calls/call-engine.ts';
import { onCall } from '../../domain/calls/call-model.ts';
import { toActiveCall } from '../../domain/calls/projection.ts';
import { DomainError, notFound } from '../../domain/errors.ts';
import { type App, errorResponses, type Services } from '../route-kit.ts';

const tags = ['Phonet: calls'];
const UuidParams = Type.Object({ uuid: Type.String({ minLength: 1, maxLength: 64 }) });

/**
 * makeCall, active/v3 and hangup, exactly at the documented paths. An employee's own session
 * (http/employee-scope.ts) sees and ends only the calls they are on, and calls only from their ext.
 */
export function liveCallRoutes(app: App, engine: CallEngine, s: Services) {
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
    async (r) => {
      const legExt = String(r.body.legExt);
      if (r.employeeId !== null) {
        const me = await s.directory.employees.get(r.account, r.employeeId);
        if (me.ext !== legExt)
          throw new DomainError(
            'EMPLOYEE_SCOPE',
            `An employee's session places calls from its own ext (${me.ext}), not from ${legExt}`,
          );
      }
      return engine.makeCall(r.account, legExt, r.body.otherLegNum);
    },
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
    async (r) => {
      const calls = await engine.active(r.account.id);
      const e = r.employeeId;
      return (e === null ? calls : calls.filter((c) => onCall(c, e))).map(toActiveCall);
    },
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
  const handler = async (r: {
    account: { id: number };
    employeeId: number | null;
    params: { uuid: string };
  }) => {
    const e = r.employeeId;
    if (e !== null) {
      // The employee's own calls only: the call itself or its parent (a leg's company call).
      const mine = (await engine.active(r.account.id)).filter((c) => onCall(c, e));
      if (!mine.some((c) => c.uuid === r.params.uuid || c.parentUuid === r.params.uuid))
        throw notFound('CALL_NOT_FOUND', `No call ${r.params.uuid} of yours is in progress`);
    }
    await engine.hangup(r.account.id, r.params.uuid);
    return null;
  };
  app.get('/rest/calls/active/:uuid/hangup', hangup, handler);
  app.post('/rest/calls/active/:uuid/hangup', hangup, handler);
}
