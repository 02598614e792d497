import {
  PhoneBehaviour,
  SIM_PREFIX,
  SimActorRequest,
  SimDigitRequest,
  SimIncomingRequest,
  SimTransferRequest,
  TalkTime,
  TrafficStart,
  TrafficStatus,
} from '@dzvin/protocol';
import { Type } from 'typebox';
import type { TrafficControl } from '../../cluster/cluster-engine.ts';
import { badInput } from '../../domain/errors.ts';
import type { Simulator } from '../../engine/simulator/simulator.ts';
import { type App, errorResponses } from '../route-kit.ts';

const tags = ['Dzvin: simulator'];
const Uuid = Type.Object({ uuid: Type.String({ minLength: 1, maxLength: 64 }) });
const Ext = Type.Object({ ext: Type.String({ pattern: '^[0-9]{1,10}$' }) });
const Done = { 204: Type.Null({ description: 'Done' }) };

/** Dzvin's simulation API: drive the simulated office without a phone. */
export function simRoutes(app: App, sim: Simulator, traffic?: TrafficControl) {
  const { engine, sim: s } = sim;
  app.post(
    `${SIM_PREFIX}/calls`,
    {
      schema: {
        tags,
        summary: 'An external number calls a trunk of the account',
        body: SimIncomingRequest,
        response: { 201: Type.Object({ uuid: Type.String() }), ...errorResponses(400, 403, 404) },
      },
    },
    async (r, reply) => reply.code(201).send(await s.incoming(r.account, r.body.from, r.body.trunk)),
  );
  const act = (
    name: string,
    summary: string,
    fn: (accountId: number, uuid: string, ext?: string) => Promise<void>,
  ) =>
    app.post(
      `${SIM_PREFIX}/calls/:uuid/${name}`,
      {
        schema: {
          tags,
          summary,
          params: Uuid,
          body: SimActorRequest,
          response: { ...Done, ...errorResponses(400, 403, 404, 409) },
        },
        // The body is optional: none means "whichever phone rings".
        preValidation: async (r) => {
          r.body ??= {};
        },
      },
      async (r, reply) => {
        await fn(r.account.id, r.params.uuid, r.body?.ext);
        return reply.code(204).send(null);
      },
    );
  act('answer', 'An employee answers a ringing phone of the call (ext picks which)', s.answer);
  act('reject', 'An employee rejects a ringing phone of the call (busy)', s.reject);
  act('hangup', 'End the call', (accountId, uuid) => engine.hangup(accountId, uuid));
  app.post(
    `${SIM_PREFIX}/calls/:uuid/digit`,
    {
      schema: {
        tags,
        summary: 'The caller presses a digit in an IVR',
        params: Uuid,
        body: SimDigitRequest,
        response: { ...Done, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (r, reply) => {
      await s.digit(r.account.id, r.params.uuid, r.body.digit);
      return reply.code(204).send(null);
    },
  );
  app.post(
    `${SIM_PREFIX}/calls/:uuid/transfer`,
    {
      schema: {
        tags,
        summary: 'Blind-transfer an answered call to another employee',
        params: Uuid,
        body: SimTransferRequest,
        response: { ...Done, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (r, reply) => {
      await engine.transfer(r.account.id, r.params.uuid, r.body.toExt);
      return reply.code(204).send(null);
    },
  );
  for (const [name, paused] of [
    ['pause', true],
    ['unpause', false],
  ] as const)
    app.post(
      `${SIM_PREFIX}/employees/:ext/${name}`,
      {
        schema: {
          tags,
          summary: `${name === 'pause' ? 'Pause' : 'Unpause'} an employee (a ${paused ? 32 : 64} record in users.api)`,
          params: Ext,
          response: { ...Done, ...errorResponses(403, 404) },
        },
      },
      async (r, reply) => {
        await s.pause(r.account, r.params.ext, paused);
        return reply.code(204).send(null);
      },
    );
  app.put(
    `${SIM_PREFIX}/behaviours/employees/:ext`,
    {
      schema: {
        tags,
        summary: "How an employee's phone behaves (null: the default, answer after 3 s)",
        params: Ext,
        body: Type.Union([PhoneBehaviour, Type.Null()]),
        response: { ...Done, ...errorResponses(400, 403) },
      },
    },
    async (r, reply) => {
      s.setEmployeeBehaviour(r.account.id, r.params.ext, r.body);
      return reply.code(204).send(null);
    },
  );
  app.put(
    `${SIM_PREFIX}/behaviours/external/:number`,
    {
      schema: {
        tags,
        summary:
          "How an external number behaves when dialled ('*' for every number; null: the default, answer after 4 s)",
        params: Type.Object({ number: Type.String({ minLength: 1, maxLength: 64 }) }),
        body: Type.Union([PhoneBehaviour, Type.Null()]),
        response: { ...Done, ...errorResponses(400, 403) },
      },
    },
    async (r, reply) => {
      s.setExternalBehaviour(r.account, r.params.number, r.body);
      return reply.code(204).send(null);
    },
  );
  app.put(
    `${SIM_PREFIX}/talk-time`,
    {
      schema: {
        tags,
        summary: 'How long answered calls last (null: 20–90 s)',
        body: Type.Union([TalkTime, Type.Null()]),
        response: { ...Done, ...errorResponses(400, 403) },
      },
    },
    async (r, reply) => {
      if (r.body && r.body.maxSec < r.body.minSec) throw badInput('maxSec must not be below minSec');
      s.setTalkTime(r.account.id, r.body);
      return reply.code(204).send(null);
    },
  );
  if (traffic) trafficRoutes(app, traffic);
}

/** The account's traffic generator: start (or restart), status, stop. */
function trafficRoutes(app: App, traffic: TrafficControl) {
  app.post(
    `${SIM_PREFIX}/traffic`,
    {
      schema: {
        tags,
        summary:
          'Start the traffic generator: Poisson arrivals of incoming calls (replaces a running one; employee behaviours and talk time it sets stay set)',
        body: TrafficStart,
        response: { 200: TrafficStatus, ...errorResponses(400, 403) },
      },
    },
    (r) => traffic.start(r.account, r.body),
  );
  app.get(
    `${SIM_PREFIX}/traffic`,
    {
      schema: {
        tags,
        summary:
          "The traffic generator's counts (the running one, or the last one's final counts; with several processes, this process's while it runs, else the one started last on any)",
        response: { 200: TrafficStatus, ...errorResponses(403) },
      },
    },
    (r) => traffic.status(r.account.id),
  );
  app.delete(
    `${SIM_PREFIX}/traffic`,
    {
      schema: {
        tags,
        summary:
          "Stop the traffic generator (calls in progress go on) and return its final counts (with several processes: this process's, or the others' if it never ran one)",
        response: { 200: TrafficStatus, ...errorResponses(403) },
      },
    },
    (r) => traffic.stop(r.account.id),
  );
}
