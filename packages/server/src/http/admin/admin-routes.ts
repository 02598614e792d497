import {
  Account,
  AccountPatch,
  ADMIN_PREFIX,
  ApiKeyResponse,
  CrmConnection,
  CrmConnectionCreate,
  CrmConnectionPatch,
  CrmSecretResponse,
  type Employee,
  EmployeeCreate,
  EmployeePatch,
  EmployeeView,
  IdParams,
  Ivr,
  IvrCreate,
  IvrPatch,
  Me,
  RingGroup,
  RingGroupCreate,
  RingGroupPatch,
  SipPasswordBody,
  type Trunk,
  TrunkCreate,
  TrunkPatch,
  TrunkView,
} from '@dzvin/protocol';
import { type TSchema, Type } from 'typebox';
import { DomainError } from '../../domain/errors.ts';
import type { AccountRecord } from '../../domain/ports.ts';
import { finishedWavHeader } from '../../engine/recording/wav-header.ts';
import { type App, errorResponses, type Services } from '../route-kit.ts';

interface Crud<T, C, P> {
  list(a: AccountRecord): Promise<T[]>;
  get(a: AccountRecord, id: number): Promise<T>;
  create(a: AccountRecord, input: C): Promise<T>;
  update(a: AccountRecord, id: number, patch: P): Promise<T>;
  delete(a: AccountRecord, id: number): Promise<void>;
}

/** The five routes of one directory resource, schema-first, under /api/v1/{path}. */
function crudRoutes<T, C, P>(
  app: App,
  path: string,
  tag: string,
  schemas: { item: TSchema; create: TSchema; patch: TSchema },
  svc: Crud<T, C, P>,
) {
  const base = `${ADMIN_PREFIX}/${path}`;
  const tags = [tag];
  app.get(
    `${base}`,
    {
      schema: {
        tags,
        summary: `List ${path}`,
        response: { 200: Type.Array(schemas.item), ...errorResponses(403) },
      },
    },
    (r) => svc.list(r.account),
  );
  app.get(
    `${base}/:id`,
    {
      schema: {
        tags,
        summary: `One of ${path}`,
        params: IdParams,
        response: { 200: schemas.item, ...errorResponses(400, 403, 404) },
      },
    },
    (r) => svc.get(r.account, r.params.id),
  );
  app.post(
    `${base}`,
    {
      schema: {
        tags,
        summary: `Create one of ${path}`,
        body: schemas.create,
        response: { 201: schemas.item, ...errorResponses(400, 403, 409) },
      },
    },
    async (r, reply) => reply.code(201).send(await svc.create(r.account, r.body as C)),
  );
  app.patch(
    `${base}/:id`,
    {
      schema: {
        tags,
        summary: `Change one of ${path} (only the keys sent)`,
        params: IdParams,
        body: schemas.patch,
        response: { 200: schemas.item, ...errorResponses(400, 403, 404, 409) },
      },
    },
    (r) => svc.update(r.account, r.params.id, r.body as P),
  );
  app.delete(
    `${base}/:id`,
    {
      schema: {
        tags,
        summary: `Delete one of ${path} (refused with 409 while something still points at it)`,
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (r, reply) => {
      await svc.delete(r.account, r.params.id);
      return reply.code(204).send(null);
    },
  );
}

/** Dzvin's admin API (documented in /openapi.json); authenticated by session or Bearer API key. */
/** Where browsers reach Kamailio's WebSocket, or why they cannot (GET /api/v1/me). */
export interface BrowserPhone {
  wsUrl: string | null;
  unavailable: string | null;
}

export function adminRoutes(app: App, s: Services, browserPhone: BrowserPhone) {
  const tags = ['Dzvin: account'];
  app.get(
    `${ADMIN_PREFIX}/me`,
    {
      schema: {
        tags,
        summary:
          "Who the session is: the account, or one of its employees with what their browser phone registers with (Kamailio's WebSocket, ext, domain, HA1)",
        response: { 200: Me, ...errorResponses(403) },
      },
    },
    async (r) => {
      const a = r.account;
      if (r.employeeId === null)
        return { domain: a.domain, name: a.name, employee: null, phone: null, phoneUnavailable: null };
      const e = await s.directory.employees.get(a, r.employeeId);
      const employee = { id: e.id, ext: e.ext, displayName: e.displayName };
      const ha1 = await s.directory.employees.sipHa1Of(a, e.id);
      const phone =
        browserPhone.wsUrl && ha1
          ? { wsUrl: browserPhone.wsUrl, ext: e.ext, domain: a.domain, ha1, displayName: e.displayName }
          : null;
      const phoneUnavailable = phone
        ? null
        : (browserPhone.unavailable ?? 'The employee has no SIP password: an admin sets one in Directory');
      return { domain: a.domain, name: a.name, employee, phone, phoneUnavailable };
    },
  );
  app.get(
    `${ADMIN_PREFIX}/account`,
    {
      schema: { tags, summary: 'The signed-in account', response: { 200: Account, ...errorResponses(403) } },
    },
    (r) => s.accounts.view(r.account),
  );
  app.patch(
    `${ADMIN_PREFIX}/account`,
    {
      schema: {
        tags,
        summary:
          'Change name, default country, API user, whether recordings need a session, the contacts book priority or which phones the employees use',
        body: AccountPatch,
        response: { 200: Account, ...errorResponses(400, 403) },
      },
    },
    async (r) => s.accounts.view(await s.accounts.update(r.account.id, r.body)),
  );
  app.post(
    `${ADMIN_PREFIX}/account/rotate-key`,
    {
      schema: {
        tags,
        summary: 'New API key, shown once; the old key and every session of the account stop working',
        response: { 200: ApiKeyResponse, ...errorResponses(403) },
      },
    },
    async (r) => {
      const { account, apiKey } = await s.accounts.rotateKey(r.account.id);
      s.auth.forgetAccount(account.id);
      return { domain: account.domain, apiKey };
    },
  );
  // Employees are answered with whether their phone is registered now (`phone`, not stored).
  const employees = s.directory.employees;
  const view = (a: AccountRecord, e: Employee) => s.directory.employeeView(a, e);
  crudRoutes(
    app,
    'employees',
    'Dzvin: directory',
    { item: EmployeeView, create: EmployeeCreate, patch: EmployeePatch },
    {
      list: async (a) => (await employees.list(a)).map((e) => view(a, e)),
      get: async (a, id) => view(a, await employees.get(a, id)),
      create: async (a, input: EmployeeCreate) => view(a, await employees.create(a, input)),
      update: async (a, id, patch: EmployeePatch) => view(a, await employees.update(a, id, patch)),
      delete: (a, id) => employees.delete(a, id),
    },
  );
  // Write-only: the password is never answered nor logged; the employee shows hasSipPassword.
  app.put(
    `${ADMIN_PREFIX}/employees/:id/sip-password`,
    {
      schema: {
        tags: ['Dzvin: directory'],
        summary:
          "Set the employee's SIP password (softphone user = ext, domain = the account's); stored as the digest HA1 only, never shown again. Changing the ext drops it",
        params: IdParams,
        body: SipPasswordBody,
        response: { 204: Type.Null({ description: 'Set' }), ...errorResponses(400, 403, 404) },
      },
    },
    async (r, reply) => {
      await s.directory.employees.setSipPassword(r.account, r.params.id, r.body.password);
      return reply.code(204).send(null);
    },
  );
  app.delete(
    `${ADMIN_PREFIX}/employees/:id/sip-password`,
    {
      schema: {
        tags: ['Dzvin: directory'],
        summary:
          "Remove the employee's SIP password (none is fine): the phones registered with it are dropped and their next REGISTER is refused",
        params: IdParams,
        response: { 204: Type.Null({ description: 'Removed' }), ...errorResponses(400, 403, 404) },
      },
    },
    async (r, reply) => {
      await s.directory.employees.removeSipPassword(r.account, r.params.id);
      return reply.code(204).send(null);
    },
  );
  crudRoutes(
    app,
    'groups',
    'Dzvin: directory',
    { item: RingGroup, create: RingGroupCreate, patch: RingGroupPatch },
    s.directory.groups,
  );
  crudRoutes(
    app,
    'ivr',
    'Dzvin: directory',
    { item: Ivr, create: IvrCreate, patch: IvrPatch },
    s.directory.ivr,
  );
  registerGreetingAudio(app, s);
  // Trunks are answered with their registration at the carrier now (`sipCarrier.registration`).
  const trunks = s.directory.trunks;
  const trunkView = (a: AccountRecord, t: Trunk) => s.directory.trunkView(a, t);
  crudRoutes(
    app,
    'trunks',
    'Dzvin: directory',
    { item: TrunkView, create: TrunkCreate, patch: TrunkPatch },
    {
      list: async (a) => s.directory.trunkViews(a, await trunks.list(a)),
      get: async (a, id) => trunkView(a, await trunks.get(a, id)),
      create: async (a, input: TrunkCreate) => trunkView(a, await trunks.create(a, input)),
      update: async (a, id, patch: TrunkPatch) => trunkView(a, await trunks.update(a, id, patch)),
      delete: (a, id) => trunks.delete(a, id),
    },
  );
  crudRoutes(
    app,
    'crm-connections',
    'Dzvin: integrations',
    { item: CrmConnection, create: CrmConnectionCreate, patch: CrmConnectionPatch },
    s.directory.crm,
  );
  app.post(
    `${ADMIN_PREFIX}/crm-connections/:id/secret`,
    {
      schema: {
        tags: ['Dzvin: integrations'],
        summary:
          'Generate a new signing secret, shown once: every delivery claimed from then on is signed with it instead of the old one',
        params: IdParams,
        response: { 200: CrmSecretResponse, ...errorResponses(400, 403, 404) },
      },
    },
    async (r) => ({ secret: await s.directory.crm.generateSecret(r.account, r.params.id) }),
  );
}

/** The WAV content types a greeting upload may carry (browsers and curl name it differently). */
const WAV_TYPES = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'];
const wavContent = { content: { 'audio/wav': { schema: { type: 'string', format: 'binary' } } } };

/**
 * An IVR's recorded greeting (what real callers hear over SIP; Dzvin has no text-to-speech):
 * `PUT` an 8 kHz mono 16-bit PCM WAV (up to 2 min), `GET` it back, `DELETE` it.
 */
function registerGreetingAudio(app: App, s: Services) {
  app.addContentTypeParser(WAV_TYPES, { parseAs: 'buffer', bodyLimit: 4 * 1024 * 1024 }, (_req, body, done) =>
    done(null, body),
  );
  const path = `${ADMIN_PREFIX}/ivr/:id/greeting-audio`;
  app.put(
    path,
    {
      schema: {
        tags: ['Dzvin: directory'],
        summary:
          "Set the IVR's greeting audio, played to real callers (over SIP) until they press a digit: the body is an 8 kHz mono 16-bit PCM WAV, at most 2 minutes (Content-Type: audio/wav). 415 names what was sent otherwise",
        params: IdParams,
        consumes: WAV_TYPES,
        body: { type: 'string', format: 'binary' },
        response: {
          200: Type.Object({ seconds: Type.Number({ description: "The greeting's length" }) }),
          ...errorResponses(400, 403, 404, 415),
        },
      },
      // The typed body is a Buffer (the parser above); the schema above documents it.
      validatorCompiler: () => () => true,
    },
    async (r) => {
      if (!Buffer.isBuffer(r.body))
        throw new DomainError(
          'UNSUPPORTED_MEDIA',
          `Greeting audio: send the WAV file with Content-Type: audio/wav`,
        );
      return s.directory.ivr.setGreetingAudio(r.account, r.params.id, r.body);
    },
  );
  app.get(
    path,
    {
      schema: {
        tags: ['Dzvin: directory'],
        summary: "The IVR's greeting audio (audio/wav, 8 kHz mono 16-bit PCM); 404 when none is set",
        params: IdParams,
        response: { 200: { description: 'The greeting', ...wavContent }, ...errorResponses(403, 404) },
      },
    },
    async (r, reply) => {
      const pcm = await s.directory.ivr.greetingAudio(r.account, r.params.id);
      return reply.type('audio/wav').send(Buffer.concat([finishedWavHeader(pcm.length), pcm]));
    },
  );
  app.delete(
    path,
    {
      schema: {
        tags: ['Dzvin: directory'],
        summary: "Remove the IVR's greeting audio (none is fine): callers hear the built-in prompt again",
        params: IdParams,
        response: { 204: Type.Null({ description: 'Removed' }), ...errorResponses(403, 404) },
      },
    },
    async (r, reply) => {
      await s.directory.ivr.removeGreetingAudio(r.account, r.params.id);
      return reply.code(204).send(null);
    },
  );
}
