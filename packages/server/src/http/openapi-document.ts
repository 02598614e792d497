// The finishing pass over the OpenAPI document @fastify/swagger builds from the route schemas
// (issue 17): what generators of PHP/Python/Java clients need and the route schemas do not say.
//
// - OpenAPI 3.0.3 takes JSON Schema draft-04-style bounds: `exclusiveMinimum`/`exclusiveMaximum`
//   are booleans beside `minimum`/`maximum`. Our schemas are validated by Ajv (draft-07), where
//   they are numbers; the document gets the 3.0 spelling, the validation keeps its own.
// - Every operation gets an operationId (a generator's method name) from one table, keyed by
//   method and path; an operation missing from it gets one derived from its path, so a new
//   route never produces an invalid document (the OpenAPI test lists such operations).
// - Tags become short identifiers (a generator's API class names: `ContactsApi`); the human
//   labels shown by /docs stay as the tags' descriptions.

type Json = Record<string, unknown>;

/** Route tag label → the tag name in the document. */
export const OPENAPI_TAGS: Record<string, string> = {
  'Phonet: session': 'session',
  'Phonet: users': 'users',
  'Phonet: contacts (CRM Teler)': 'contacts',
  'Phonet: calls': 'calls',
  'Phonet: call history': 'callHistory',
  'Phonet: recordings': 'recordings',
  'Dzvin: account': 'account',
  'Dzvin: directory': 'directory',
  'Dzvin: integrations': 'integrations',
  'Dzvin: deliveries': 'deliveries',
  'Dzvin: simulator': 'simulator',
  'Dzvin: call tracking': 'tracking',
  'Dzvin: call tracking (public)': 'publicTracking',
  'Dzvin: operations': 'operations',
};

const crud = (path: string, one: string, many = `${one}s`): Record<string, string> => ({
  [`GET ${path}`]: `list${many}`,
  [`POST ${path}`]: `create${one}`,
  [`GET ${path}/{id}`]: `get${one}`,
  [`PATCH ${path}/{id}`]: `update${one}`,
  [`DELETE ${path}/{id}`]: `delete${one}`,
});

/** `METHOD /path/{param}` → operationId. */
export const OPERATION_IDS: Record<string, string> = {
  'GET /healthz': 'getLiveness',
  'GET /readyz': 'getReadiness',
  'GET /metrics': 'getMetrics',
  'GET /api/v1/health': 'getHealth',
  'POST /rest/security/authorize': 'authorize',
  'POST /api/v1/session/sign-out': 'signOut',
  'POST /api/v1/session/employee': 'signInEmployee',
  'GET /api/v1/me': 'getMe',
  'GET /rest/public/calls/{id}/audio': 'getRecording',
  'HEAD /rest/public/calls/{id}/audio': 'headRecording',
  'OPTIONS /api/v1/public/{domain}/tracking/sessions': 'preflightTrackingSession',
  'POST /api/v1/public/{domain}/tracking/sessions': 'createTrackingSession',
  'OPTIONS /api/v1/public/{domain}/callback': 'preflightCallback',
  'POST /api/v1/public/{domain}/callback': 'requestCallback',
  'GET /rest/users': 'listUsers',
  'GET /rest/user/status': 'getUserStatus',
  'GET /rest/crm/contacts/v2/searchByOLNum': 'searchContactsByNumber',
  'GET /rest/crm/contacts/v2/': 'listContacts',
  'POST /rest/crm/contacts/v2/': 'updateContact',
  'GET /rest/crm/contacts/v2/{id}': 'getContact',
  'DELETE /rest/crm/contacts/v2/{id}': 'deleteContact',
  'POST /rest/crm/contacts/v2/batch': 'batchContacts',
  'GET /rest/crm/contacts/v2/{id}/notes': 'listNotes',
  'POST /rest/crm/contacts/v2/{id}/notes': 'createNote',
  'PUT /rest/crm/contacts/v2/{id}/notes': 'updateNote',
  'DELETE /rest/crm/contacts/v2/{id}/notes/{noteId}': 'deleteNote',
  'GET /rest/calls/company.api': 'listCompanyCalls',
  'GET /rest/calls/missed.api': 'listMissedCalls',
  'GET /rest/calls/users.api': 'listUserCalls',
  'POST /rest/user/makeCall': 'makeCall',
  'GET /rest/calls/active/v3': 'listActiveCalls',
  'GET /rest/calls/active/{uuid}/hangup': 'hangupCall',
  'POST /rest/calls/active/{uuid}/hangup': 'hangupCallPost',
  'GET /api/v1/account': 'getAccount',
  'PATCH /api/v1/account': 'updateAccount',
  'POST /api/v1/account/rotate-key': 'rotateApiKey',
  ...crud('/api/v1/employees', 'Employee'),
  'PUT /api/v1/employees/{id}/sip-password': 'setEmployeeSipPassword',
  'DELETE /api/v1/employees/{id}/sip-password': 'removeEmployeeSipPassword',
  ...crud('/api/v1/groups', 'Group'),
  ...crud('/api/v1/ivr', 'Ivr', 'Ivrs'),
  'PUT /api/v1/ivr/{id}/greeting-audio': 'setIvrGreetingAudio',
  'GET /api/v1/ivr/{id}/greeting-audio': 'getIvrGreetingAudio',
  'DELETE /api/v1/ivr/{id}/greeting-audio': 'removeIvrGreetingAudio',
  ...crud('/api/v1/trunks', 'Trunk'),
  ...crud('/api/v1/crm-connections', 'CrmConnection'),
  'POST /api/v1/crm-connections/{id}/secret': 'rotateCrmConnectionSecret',
  'POST /api/v1/crm-connections/{id}/test': 'testCrmConnection',
  'GET /api/v1/crm-connections/{id}/deliveries': 'listDeliveries',
  'POST /api/v1/crm-connections/{id}/deliveries/replay': 'replayDeliveries',
  'GET /api/v1/deliveries/{id}': 'getDelivery',
  'GET /api/v1/deliveries/{id}/attempts': 'listDeliveryAttempts',
  'POST /api/v1/deliveries/{id}/replay': 'replayDelivery',
  'GET /api/v1/events/stream': 'streamEvents',
  'POST /api/v1/sim/calls': 'simIncomingCall',
  'POST /api/v1/sim/calls/{uuid}/answer': 'simAnswer',
  'POST /api/v1/sim/calls/{uuid}/reject': 'simReject',
  'POST /api/v1/sim/calls/{uuid}/hangup': 'simHangup',
  'POST /api/v1/sim/calls/{uuid}/digit': 'simDigit',
  'POST /api/v1/sim/calls/{uuid}/transfer': 'simTransfer',
  'POST /api/v1/sim/calls/{uuid}/attended-transfer': 'simAttendedTransfer',
  'POST /api/v1/sim/calls/{uuid}/transfer/complete': 'simCompleteTransfer',
  'POST /api/v1/sim/calls/{uuid}/transfer/cancel': 'simCancelTransfer',
  'POST /api/v1/sim/employees/{ext}/pause': 'simPause',
  'POST /api/v1/sim/employees/{ext}/unpause': 'simUnpause',
  'PUT /api/v1/sim/behaviours/employees/{ext}': 'simSetEmployeeBehaviour',
  'PUT /api/v1/sim/behaviours/external/{number}': 'simSetExternalBehaviour',
  'PUT /api/v1/sim/talk-time': 'simSetTalkTime',
  'POST /api/v1/sim/traffic': 'simStartTraffic',
  'GET /api/v1/sim/traffic': 'simGetTraffic',
  'DELETE /api/v1/sim/traffic': 'simStopTraffic',
  'POST /api/v1/sim/internal': 'simInternalCall',
  'POST /api/v1/sim/outgoing': 'simOutgoingCall',
  'GET /api/v1/tracking/numbers': 'listTrackingNumbers',
  'POST /api/v1/tracking/numbers': 'addTrackingNumber',
  'DELETE /api/v1/tracking/numbers/{id}': 'removeTrackingNumber',
};

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** An operationId for an operation the table does not name: method + the path's words. */
export function derivedOperationId(method: string, path: string): string {
  const words = path
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1));
  return method.toLowerCase() + words.join('');
}

/** Rewrites draft-07 numeric exclusive bounds into OpenAPI 3.0's boolean form, in place. */
function toOpenApi30Bounds(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) toOpenApi30Bounds(n);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Json;
  for (const [exclusive, inclusive, pick] of [
    ['exclusiveMinimum', 'minimum', Math.max],
    ['exclusiveMaximum', 'maximum', Math.min],
  ] as const) {
    const bound = o[exclusive];
    if (typeof bound !== 'number') continue;
    const other = o[inclusive];
    // Both given: the tighter one wins; the exclusive one is exclusive only if it is that one.
    if (typeof other === 'number' && pick(other, bound) === other && other !== bound) {
      delete o[exclusive];
    } else {
      o[inclusive] = bound;
      o[exclusive] = true;
    }
  }
  for (const v of Object.values(o)) toOpenApi30Bounds(v);
}

/** Completes the document @fastify/swagger generated (see the top of this file); returns it. */
export function finishOpenApiDocument<T extends object>(doc: T): T {
  const d = doc as Json;
  const paths = (d.paths ?? {}) as Record<string, Record<string, Json>>;
  const used = new Set<string>();
  const labels = new Map<string, string>();
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      // A copy: @fastify/swagger shares one object between a GET and its automatic HEAD.
      const op = { ...item[method] };
      item[method] = op;
      let id = OPERATION_IDS[`${method.toUpperCase()} ${path}`] ?? derivedOperationId(method, path);
      for (let n = 2; used.has(id); n++) id = `${id.replace(/\d+$/, '')}${n}`;
      used.add(id);
      op.operationId = id;
      if (Array.isArray(op.tags)) {
        op.tags = op.tags.map((label: string) => {
          const name = OPENAPI_TAGS[label] ?? label;
          labels.set(name, label);
          return name;
        });
      }
    }
  }
  d.tags = [...labels].map(([name, description]) => ({ name, description }));
  toOpenApi30Bounds(d.paths);
  toOpenApi30Bounds(d.components);
  return doc;
}
