import { SIM_PREFIX } from '@dzvin/protocol';
import { Type } from 'typebox';
import type { Simulator } from '../../engine/simulator/simulator.ts';
import { type App, errorResponses } from '../route-kit.ts';

const tags = ['Dzvin: simulator'];
const Ext = Type.String({ pattern: '^[0-9]{1,10}$' });
const Created = { 201: Type.Object({ uuid: Type.String() }) };

/** Employees dialling from their own phones: internal calls and direct outgoing calls. */
export function simDialRoutes(app: App, { sim, engine }: Simulator) {
  app.post(
    `${SIM_PREFIX}/internal`,
    {
      schema: {
        tags,
        summary:
          "An employee dials another employee's or a ring group's ext (lgDirection 1; leg = caller, leg2 = callee)",
        body: Type.Object({ fromExt: Ext, toExt: Ext }),
        response: { ...Created, ...errorResponses(400, 403, 404) },
      },
    },
    async (r, reply) => reply.code(201).send(await sim.internal(r.account, r.body.fromExt, r.body.toExt)),
  );
  app.post(
    `${SIM_PREFIX}/outgoing`,
    {
      schema: {
        tags,
        summary:
          'An employee dials an external number from their phone, on the default trunk or the one named',
        body: Type.Object({
          fromExt: Ext,
          number: Type.String({ minLength: 2, maxLength: 64 }),
          trunk: Type.Optional(Type.String({ minLength: 2, maxLength: 64 })),
        }),
        response: { ...Created, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (r, reply) =>
      reply.code(201).send(await sim.outgoing(r.account, r.body.fromExt, r.body.number, r.body.trunk)),
  );

  const Uuid = Type.Object({ uuid: Type.String({ minLength: 1, maxLength: 64 }) });
  const Done = { 204: Type.Null({ description: 'Done' }) };
  app.post(
    `${SIM_PREFIX}/calls/:uuid/attended-transfer`,
    {
      schema: {
        tags,
        summary: 'Attended transfer: ring toExt for a consultation while the caller waits',
        params: Uuid,
        body: Type.Object({ toExt: Ext }),
        response: { ...Done, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (r, reply) => {
      await engine.attendedTransfer(r.account.id, r.params.uuid, r.body.toExt);
      return reply.code(204).send(null);
    },
  );
  for (const [name, fn] of [
    ['complete', engine.completeTransfer],
    ['cancel', engine.cancelTransfer],
  ] as const)
    app.post(
      `${SIM_PREFIX}/calls/:uuid/transfer/${name}`,
      {
        schema: {
          tags,
          summary:
            name === 'complete'
              ? 'Complete an attended transfer (the consulted employee takes the caller)'
              : 'Cancel an attended transfer',
          params: Uuid,
          response: { ...Done, ...errorResponses(403, 404, 409) },
        },
      },
      async (r, reply) => {
        await fn(r.account.id, r.params.uuid);
        return reply.code(204).send(null);
      },
    );
}
