import { type Static, Type } from 'typebox';
import { EpochMs, Nullable } from './common.ts';

/** Dzvin's own admin API lives under this prefix, which cannot collide with Phonet's `/rest/`. */
export const ADMIN_PREFIX = '/api/v1';

const Ext = Type.String({ pattern: '^[0-9]{1,10}$', description: 'Internal number: 1 to 10 digits' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Email = Type.String({ maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' });
const Url = Type.String({ maxLength: 2000, pattern: '^https?://[^\\s]+$' });
const Presence = Type.Union([Type.Literal('online'), Type.Literal('offline')]);

/**
 * An employee (a PBX user) as the admin API shows it. The SIP password is write-only
 * (`PUT /api/v1/employees/{id}/sip-password`); `hasSipPassword` tells whether one is set.
 * @example `{ "id": 1, "displayName": "Олена Коваленко", "ext": "001", "email": "olena@demo.localhost", "monitored": true, "presence": "online", "paused": false, "createdAt": 1764190000000, "hasSipPassword": false }`
 */
export const Employee = Type.Object({
  id: Type.Integer(),
  displayName: Type.String(),
  ext: Type.String(),
  email: Nullable(Type.String()),
  monitored: Type.Boolean({
    description: 'Whether presence is monitored (GET /rest/user/status answers 2 when not)',
  }),
  presence: Presence,
  paused: Type.Boolean(),
  createdAt: EpochMs,
  hasSipPassword: Type.Boolean({
    description:
      'Whether the employee has a SIP password (read-only; set with PUT /api/v1/employees/{id}/sip-password). Changing the ext drops it: the digest credential contains the ext',
  }),
});
export type Employee = Static<typeof Employee>;

/**
 * Whether the employee's phone is registered (issue 15: presence from registration), as the SIP
 * engine last read Kamailio's registrations (every 2 s). Null when the server runs no SIP engine.
 * @example `{ "registered": true, "contacts": 1 }`
 */
export const EmployeePhone = Type.Object({
  registered: Type.Boolean({ description: 'At least one phone (SIP contact) of the ext is registered' }),
  contacts: Type.Integer({ description: 'How many contacts are registered (a call forks to each)' }),
});
export type EmployeePhone = Static<typeof EmployeePhone>;

/**
 * An employee as the admin API answers it: the directory's fields and `phone`, whether their
 * phone is registered now (not stored; null without a SIP engine). `presence` stays the
 * employee's own (set through the API); with the account's phones `real` an employee without a
 * registered phone is offline for calls whatever it says.
 * @example `{ "id": 1, "displayName": "Олена Коваленко", "ext": "001", "email": "olena@demo.localhost", "monitored": true, "presence": "online", "paused": false, "createdAt": 1764190000000, "hasSipPassword": true, "phone": { "registered": true, "contacts": 1 } }`
 */
export const EmployeeView = Type.Object({ ...Employee.properties, phone: Nullable(EmployeePhone) });
export type EmployeeView = Static<typeof EmployeeView>;
export const EmployeeCreate = Type.Object({
  displayName: Name,
  ext: Ext,
  email: Type.Optional(Nullable(Email)),
  monitored: Type.Optional(Type.Boolean()),
  presence: Type.Optional(Presence),
  paused: Type.Optional(Type.Boolean()),
});
export type EmployeeCreate = Static<typeof EmployeeCreate>;
export const EmployeePatch = Type.Partial(EmployeeCreate);
export type EmployeePatch = Static<typeof EmployeePatch>;

/** The limits of a SIP password (checked by the server, which answers 400 with the reason). */
export const SIP_PASSWORD_LIMITS = { minLength: 8, maxLength: 128 } as const;

/**
 * An employee's new SIP password (the softphone's user is the ext, the domain the account's).
 * Stored as the digest HA1 only, never returned.
 * @example `{ "password": "c0rrect-h0rse-battery" }`
 */
export const SipPasswordBody = Type.Object({
  password: Type.String({
    maxLength: 1024,
    description: `${SIP_PASSWORD_LIMITS.minLength} to ${SIP_PASSWORD_LIMITS.maxLength} printable ASCII characters, no spaces (what every SIP phone can type and store)`,
  }),
});
export type SipPasswordBody = Static<typeof SipPasswordBody>;

/** Where a call goes: an employee, a ring group or an IVR scenario. */
export const Target = Type.Object({
  type: Type.Union([Type.Literal('employee'), Type.Literal('group'), Type.Literal('ivr')]),
  id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
});
export type Target = Static<typeof Target>;

export const RING_STRATEGIES = ['simultaneous', 'sequential', 'round-robin'] as const;
const Strategy = Type.Union([
  Type.Literal('simultaneous'),
  Type.Literal('sequential'),
  Type.Literal('round-robin'),
]);

/**
 * A ring group (department): an internal number that rings its members.
 * @example `{ "id": 1, "name": "Продажі", "ext": "100", "strategy": "simultaneous", "ringTimeoutSec": 20, "members": [1, 2, 3] }`
 */
export const RingGroup = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  ext: Type.String(),
  strategy: Strategy,
  ringTimeoutSec: Type.Integer(),
  members: Type.Array(Type.Integer(), { description: 'Employee ids in ring order' }),
});
export type RingGroup = Static<typeof RingGroup>;
export const RingGroupCreate = Type.Object({
  name: Name,
  ext: Ext,
  strategy: Type.Optional(Strategy),
  ringTimeoutSec: Type.Optional(Type.Integer({ minimum: 5, maximum: 600 })),
  members: Type.Optional(
    Type.Array(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }), { maxItems: 200 }),
  ),
});
export type RingGroupCreate = Static<typeof RingGroupCreate>;
export const RingGroupPatch = Type.Partial(RingGroupCreate);
export type RingGroupPatch = Static<typeof RingGroupPatch>;

const Digit = Type.String({ pattern: '^[0-9*#]$' });
/**
 * An IVR scenario: a greeting, a choice per digit, and where the call goes when nobody presses.
 * @example `{ "id": 1, "name": "Головне меню", "greeting": "Натисніть 1…", "timeoutSec": 8, "options": [{ "digit": "1", "target": { "type": "group", "id": 1 } }], "defaultTarget": { "type": "group", "id": 1 } }`
 */
export const Ivr = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  greeting: Nullable(Type.String()),
  timeoutSec: Type.Integer(),
  options: Type.Array(Type.Object({ digit: Type.String(), target: Target })),
  defaultTarget: Nullable(Target),
});
export type Ivr = Static<typeof Ivr>;
export const IvrCreate = Type.Object({
  name: Name,
  greeting: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  timeoutSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 120 })),
  options: Type.Optional(Type.Array(Type.Object({ digit: Digit, target: Target }), { maxItems: 12 })),
  defaultTarget: Type.Optional(Nullable(Target)),
});
export type IvrCreate = Static<typeof IvrCreate>;
export const IvrPatch = Type.Partial(IvrCreate);
export type IvrPatch = Static<typeof IvrPatch>;

/**
 * A trunk's SIP carrier (issue 16): where calls out on the trunk go, with the digest credentials
 * the carrier asks for (the password is write-only: `hasPassword` says whether one is set), and
 * whether Dzvin registers to it.
 */
export const SipCarrier = Type.Object({
  host: Type.String({ description: "The carrier's SIP host (name or IP address)" }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  transport: Type.Union([Type.Literal('udp'), Type.Literal('tcp')]),
  username: Nullable(Type.String({ description: 'Digest user name (and the REGISTER user)' })),
  hasPassword: Type.Boolean(),
  register: Type.Boolean({ description: 'Dzvin keeps a registration of the trunk number at the carrier' }),
});
export type SipCarrier = Static<typeof SipCarrier>;
export const SipCarrierInput = Type.Object({
  host: Type.String({ minLength: 1, maxLength: 253 }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  transport: Type.Optional(Type.Union([Type.Literal('udp'), Type.Literal('tcp')])),
  username: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 64 }))),
  password: Type.Optional(
    Nullable(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'Write-only. Absent on an update: the one stored stays; null removes it',
      }),
    ),
  ),
  register: Type.Optional(Type.Boolean()),
});
export type SipCarrierInput = Static<typeof SipCarrierInput>;

/**
 * Where a carrier's INVITE names the trunk's number (issue 16): `request-uri` its user part, `to`
 * the To header's (carriers that put their own login or main number in the request URI), `either`
 * the request URI's when it is a number, else To's.
 */
export const SipDidFrom = Type.Union(
  [Type.Literal('either'), Type.Literal('request-uri'), Type.Literal('to')],
  {
    description:
      "Where a carrier's INVITE carries this trunk's number: `request-uri`, `to`, or `either` (the request URI's, else To's)",
  },
);
export type SipDidFrom = Static<typeof SipDidFrom>;

/**
 * A trunk: an external number of the company, its name, and where incoming calls go.
 * @example `{ "id": 1, "number": "+380442246595", "name": "Головний", "destination": { "type": "ivr", "id": 1 }, "isDefault": true, "sipPeers": [], "sipDidFrom": "either", "sipCarrier": null }`
 */
export const Trunk = Type.Object({
  id: Type.Integer(),
  number: Type.String({ description: 'E.164' }),
  name: Type.String(),
  destination: Nullable(Target),
  isDefault: Type.Boolean({ description: 'Used for outgoing calls unless another is chosen' }),
  sipPeers: Type.Array(Type.String(), {
    description:
      "The carrier's addresses (IPv4 / IPv6) allowed to deliver calls to this number over SIP (IP-authenticated peering); the host of the trunk's sipCarrier is allowed too. An INVITE for the number from any other address is refused. Empty: none (but the carrier's host).",
  }),
  sipDidFrom: SipDidFrom,
  sipCarrier: Type.Union([SipCarrier, Type.Null()], {
    description: 'Calls out on this trunk go to this SIP carrier (with the SIP engine on); null: simulated',
  }),
});
export type Trunk = Static<typeof Trunk>;

/**
 * Where a trunk's registration at its carrier stands (issue 16), as the process that registers it
 * last wrote it (one process of a cluster registers each trunk; any process answers). Read-only.
 * `off`: the trunk does not register (`register: false`). `pending`: it should be, and no
 * answer has come yet (just turned on or changed, or no process with the SIP engine has taken
 * it). `registered`: the carrier accepted it until `expiresAt`. `failed`: the last attempt was
 * refused or unanswered (`lastStatus`, `lastError`); it is retried at `nextAttemptAt`.
 * @example `{ "state": "registered", "expiresAt": 1764190600000, "lastStatus": 200, "lastError": null, "lastAttemptAt": 1764190000000, "nextAttemptAt": 1764190480000, "failures": 0 }`
 */
export const CarrierRegistration = Type.Object({
  state: Type.Union([
    Type.Literal('off'),
    Type.Literal('pending'),
    Type.Literal('registered'),
    Type.Literal('failed'),
  ]),
  expiresAt: Nullable(
    Type.Integer({
      description:
        'When the registration the carrier granted runs out (ms since the epoch), while registered',
    }),
  ),
  lastStatus: Nullable(
    Type.Integer({ description: "The carrier's last final answer to a REGISTER (408: no answer at all)" }),
  ),
  lastError: Nullable(
    Type.String({ description: 'Why the last attempt failed, in words; null after a success' }),
  ),
  lastAttemptAt: Nullable(
    Type.Integer({ description: 'When the last REGISTER was sent (ms since the epoch)' }),
  ),
  nextAttemptAt: Nullable(
    Type.Integer({
      description:
        'When the next REGISTER is due: the refresh, or the retry after a failure (ms since the epoch)',
    }),
  ),
  failures: Type.Integer({
    description: 'Failed attempts in a row (the retry waits 2 s, doubling up to 5 min)',
  }),
});
export type CarrierRegistration = Static<typeof CarrierRegistration>;

/**
 * A trunk's SIP carrier as the admin API answers it: with its registration's state.
 * @example `{ "host": "sip.carrier.example", "port": 5060, "transport": "udp", "username": "dzvin", "hasPassword": true, "register": false, "registration": { "state": "off", "expiresAt": null, "lastStatus": null, "lastError": null, "lastAttemptAt": null, "nextAttemptAt": null, "failures": 0 } }`
 */
export const SipCarrierView = Type.Object({ ...SipCarrier.properties, registration: CarrierRegistration });
export type SipCarrierView = Static<typeof SipCarrierView>;

/**
 * A trunk as the admin API answers it: the directory's fields, the carrier with `registration`
 * (not stored with the trunk: the state of the registration now).
 * @example `{ "id": 1, "number": "+380442246595", "name": "Головний", "destination": null, "isDefault": true, "sipPeers": ["198.51.100.7"], "sipDidFrom": "either", "sipCarrier": { "host": "sip.carrier.example", "port": 5060, "transport": "udp", "username": "dzvin", "hasPassword": true, "register": true, "registration": { "state": "registered", "expiresAt": 1764190600000, "lastStatus": 200, "lastError": null, "lastAttemptAt": 1764190000000, "nextAttemptAt": 1764190480000, "failures": 0 } } }`
 */
export const TrunkView = Type.Object({
  ...Trunk.properties,
  sipCarrier: Type.Union([SipCarrierView, Type.Null()], {
    description: 'Calls out on this trunk go to this SIP carrier (with the SIP engine on); null: simulated',
  }),
});
export type TrunkView = Static<typeof TrunkView>;
export const TrunkCreate = Type.Object({
  number: Type.String({ minLength: 3, maxLength: 32 }),
  name: Name,
  destination: Type.Optional(Nullable(Target)),
  isDefault: Type.Optional(Type.Boolean()),
  sipPeers: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
  sipDidFrom: Type.Optional(SipDidFrom),
  sipCarrier: Type.Optional(Nullable(SipCarrierInput)),
});
export type TrunkCreate = Static<typeof TrunkCreate>;
export const TrunkPatch = Type.Partial(TrunkCreate);
export type TrunkPatch = Static<typeof TrunkPatch>;

/**
 * A connected CRM: where the PBX sends call.settings lookups, call events and UTM batches.
 * The secret is write-only; `hasSecret` tells whether deliveries are signed.
 * @example `{ "id": 1, "name": "My CRM", "callSettingsUrl": "https://crm.example/phonet/lookup", "eventsUrl": "https://crm.example/phonet/events", "utmUrl": null, "priority": 1, "hasSecret": false, "enabled": true }`
 */
export const CrmConnection = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  callSettingsUrl: Nullable(Type.String()),
  eventsUrl: Nullable(Type.String()),
  utmUrl: Nullable(Type.String()),
  priority: Type.Integer(),
  hasSecret: Type.Boolean(),
  enabled: Type.Boolean(),
});
export type CrmConnection = Static<typeof CrmConnection>;
export const CrmConnectionCreate = Type.Object({
  name: Name,
  callSettingsUrl: Type.Optional(Nullable(Url)),
  eventsUrl: Type.Optional(Nullable(Url)),
  utmUrl: Type.Optional(Nullable(Url)),
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  secret: Type.Optional(Nullable(Type.String({ minLength: 16, maxLength: 512 }))),
  enabled: Type.Optional(Type.Boolean()),
});
export type CrmConnectionCreate = Static<typeof CrmConnectionCreate>;
export const CrmConnectionPatch = Type.Partial(CrmConnectionCreate);
export type CrmConnectionPatch = Static<typeof CrmConnectionPatch>;

/** Which phones an account's employees use (issue 15). */
export const PHONE_MODES = ['simulated', 'real', 'hybrid'] as const;
export type PhoneMode = (typeof PHONE_MODES)[number];
const PhoneMode = Type.Union([Type.Literal('simulated'), Type.Literal('real'), Type.Literal('hybrid')], {
  description:
    "Which phones the employees use. hybrid: a registered phone (SIP) rings, an employee with none is answered by a simulated phone; real: only registered phones, an employee with none is offline (a direct call ends no answer, a ring group skips them); simulated: every phone simulated, registered or not (a sandbox). External parties stay simulated until trunks exist. PATCH null: back to the server's default",
});

/**
 * The signed-in account.
 * @example `{ "domain": "demo.localhost", "name": "Demo office", "defaultCountry": "UA", "apiUserId": 1, "createdAt": 1764190000000, "recordingsNeedSession": false, "contactsPriority": 100, "phones": "hybrid", "phonesDefault": true }`
 */
export const Account = Type.Object({
  domain: Type.String(),
  name: Type.String(),
  defaultCountry: Type.String({ description: 'ISO 3166-1 alpha-2, used to normalize national numbers' }),
  apiUserId: Nullable(
    Type.Integer({ description: 'The employee the API key acts as (GET /rest/user/status)' }),
  ),
  createdAt: EpochMs,
  recordingsNeedSession: Type.Boolean({
    description:
      'Recordings (/rest/public/calls/{uuid}/audio) need a session of this account; off by default: the unguessable uuid is the key (spec #15)',
  }),
  contactsPriority: Type.Integer({
    description:
      'Priority of the built-in contacts book among the connected CRMs for call.settings and otherLegs (spec #17); lower comes first, CRM connections default to 1',
  }),
  phones: PhoneMode,
  phonesDefault: Type.Boolean({
    description:
      "Whether `phones` is the server's default (the account has not chosen): hybrid with DZVIN_MODE=local, real with DZVIN_MODE=production",
  }),
});
export type Account = Static<typeof Account>;
export const AccountPatch = Type.Object({
  name: Type.Optional(Name),
  defaultCountry: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
  apiUserId: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }))),
  recordingsNeedSession: Type.Optional(Type.Boolean()),
  contactsPriority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  phones: Type.Optional(Nullable(PhoneMode)),
});
export type AccountPatch = Static<typeof AccountPatch>;

/** A signing secret Dzvin generated for a CRM connection, shown once (Standard Webhooks form). */
export const CrmSecretResponse = Type.Object({
  secret: Type.String({ description: '`whsec_` + base64 of 32 random bytes; give it to the CRM' }),
});
export type CrmSecretResponse = Static<typeof CrmSecretResponse>;

/** The new API key, shown once. */
export const ApiKeyResponse = Type.Object({ domain: Type.String(), apiKey: Type.String() });
export type ApiKeyResponse = Static<typeof ApiKeyResponse>;
