import type { Generated } from 'kysely';

/** Kysely table types. Times are epoch milliseconds (bigint), booleans are 0/1 integers, JSON is text. */
export interface AccountsTable {
  id: Generated<number>;
  domain: string;
  name: string;
  api_key_hash: string;
  default_country: string;
  api_user_id: number | null;
  created_at: number;
  /** 1: recordings are served only with a session of the account (spec #15). */
  recordings_need_session: Generated<number>;
  /** The built-in contacts book's priority among the account's CRMs (spec #17). */
  contacts_priority: Generated<number>;
  /** 'simulated' | 'real' | 'hybrid', or NULL for the server's default (phone-mode.ts). */
  phones: string | null;
}
export interface SessionsTable {
  token_hash: string;
  account_id: number;
  created_at: number;
  last_seen_at: number;
  /** Migration 0020: the employee of an employee's session (the console's Phone); null: the account's. */
  employee_id: number | null;
}
export interface AuthFailuresTable {
  id: Generated<number>;
  key: string;
  at: number;
}
export interface EmployeesTable {
  id: Generated<number>;
  account_id: number;
  display_name: string;
  ext: string;
  email: string | null;
  monitored: number;
  presence: string;
  paused: number;
  created_at: number;
}
export interface RingGroupsTable {
  id: Generated<number>;
  account_id: number;
  name: string;
  ext: string;
  strategy: string;
  ring_timeout_sec: number;
  members_json: string;
}
export interface IvrTable {
  id: Generated<number>;
  account_id: number;
  name: string;
  greeting: string | null;
  timeout_sec: number;
  options_json: string;
  default_target_json: string | null;
}
export interface TrunksTable {
  id: Generated<number>;
  account_id: number;
  number: string;
  name: string;
  destination_json: string | null;
  is_default: number;
  /** JSON array of the carrier addresses allowed to deliver calls over SIP; NULL = none (migration 0014). */
  sip_peers_json: string | null;
  /** Migration 0019: `request-uri` | `to`; null: `either`. */
  sip_did_from: string | null;
  /** JSON of the trunk's SIP carrier (protocol SipCarrier without the password); NULL = none (migration 0016). */
  sip_carrier_json: string | null;
  /** The carrier's digest password: write-only in the API, read by the SIP engine alone. */
  sip_carrier_secret: string | null;
}
export interface CrmConnectionsTable {
  id: Generated<number>;
  account_id: number;
  name: string;
  call_settings_url: string | null;
  events_url: string | null;
  utm_url: string | null;
  priority: number;
  secret: string | null;
  enabled: number;
  created_at: number;
}
export interface ContactsTable {
  id: Generated<number>;
  account_id: number;
  first_name: string | null;
  last_name: string | null;
  company_title: string | null;
  responsible_user_id: number | null;
  create_user_id: number | null;
  date_create: number;
  last_modified: number;
  fields_json: string;
  search_text: string;
}
export interface ContactPhonesTable {
  account_id: number;
  contact_id: number;
  phone: string;
}
export interface ContactNotesTable {
  id: Generated<number>;
  account_id: number;
  contact_id: number;
  element_type: number;
  note_type: number;
  date_create: number;
  last_modified: number;
  content: string | null;
  search_text: string;
  responsible_user_id: number | null;
  other_leg_num: string | null;
  other_leg_name: string | null;
  status: string | null;
  error_msg: string | null;
  uuid: string | null;
  end_at: number | null;
  leg_id: number | null;
  logic_direction: number | null;
  bill_sec: number | null;
  record_link: string | null;
  trunk: string | null;
  tag: string | null;
}
export interface IdCountersTable {
  name: string;
  value: number;
}
/** One finished call, employee leg or pause record (domain FinishedCall); legs flattened. */
export interface CallsTable {
  uuid: string;
  account_id: number;
  kind: string;
  parent_uuid: string | null;
  direction: number;
  leg_type: number | null;
  leg_id: number | null;
  leg_ext: string | null;
  leg_display_name: string | null;
  leg2_type: number | null;
  leg2_id: number | null;
  leg2_ext: string | null;
  leg2_display_name: string | null;
  other_leg_num: string | null;
  other_leg_name: string | null;
  other_legs_json: string;
  trunk_num: string | null;
  trunk_name: string | null;
  trunk: string | null;
  dial_at: number;
  bridge_at: number | null;
  end_at: number;
  bill_secs: number;
  duration: number;
  disposition: number;
  transfer_history: string | null;
  recording_uuid: string | null;
}

/** call.settings answers cached per account and number (integrations/lookup.ts). */
export interface LookupCacheTable {
  account_id: number;
  number: string;
  payload_json: string;
  expires_at: number;
}
/** Webhook deliveries (migration 0004, integrations/outbox.ts). */
export interface OutboxTable {
  id: Generated<number>;
  account_id: number;
  connection_id: number;
  kind: string;
  order_key: string;
  event: string | null;
  payload: string;
  webhook_id: string;
  status: string;
  attempts: Generated<number>;
  created_at: number;
  retry_since: number;
  next_attempt_at: number;
  lease_until: number | null;
  lease_owner: string | null;
  last_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  last_latency_ms: number | null;
  response_excerpt: string | null;
  delivered_at: number | null;
}
/** Earlier attempts of a delivery (migration 0009): the outbox row holds the last one. */
export interface OutboxAttemptsTable {
  delivery_id: number;
  attempt: number;
  at: number;
  http_status: number | null;
  error: string | null;
  latency_ms: number | null;
  response_excerpt: string | null;
}
/** Call tracking (integrations/tracking.ts): the account's pool of tracking numbers. */
export interface TrackingNumbersTable {
  id: Generated<number>;
  account_id: number;
  number: string;
  reserved_until: number | null;
  last_given_at: number | null;
  created_at: number;
}
/** A website session given a tracking number, or a callback widget request. */
export interface TrackingSessionsTable {
  id: Generated<number>;
  account_id: number;
  kind: string;
  number: string;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
  utm_content: string | null;
  utm_term: string | null;
  google_client_id: string | null;
  client_ip: string | null;
  referrer: string | null;
  created_at: number;
  expires_at: number;
}
/** A call a tracking source led to; `batched_at` is the durable "sent in a UTM batch" mark. */
export interface TrackedCallsTable {
  id: Generated<number>;
  account_id: number;
  call_uuid: string;
  session_id: number;
  label: string;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
  utm_content: string | null;
  utm_term: string | null;
  google_client_id: string | null;
  client_ip: string | null;
  referrer: string | null;
  created_at: number;
  batched_at: number | null;
}
/** One server process of a cluster over PostgreSQL (cluster/); alive while its heartbeat is fresh. */
export interface ClusterNodesTable {
  id: string;
  url: string;
  started_at: number;
  heartbeat_at: number;
}
export interface EmployeeCallsTable {
  account_id: number;
  employee_id: number;
  leg_uuid: string;
  node_id: string;
  since: number;
}
/** A call in progress (migration 0017): its records as if cut at `updated_at`, JSON. */
export interface LiveCallsTable {
  uuid: string;
  account_id: number;
  node_id: string;
  updated_at: number;
  version: number;
  records_json: string;
}
/** When a process that has calls in progress was last alive (migration 0017). */
export interface LiveNodesTable {
  node_id: string;
  seen_at: number;
}
/** A trunk's registration at its carrier, as the process registering it last wrote it (migration 0018). */
export interface CarrierRegistrationsTable {
  trunk_id: number;
  account_id: number;
  node_id: string;
  config_key: string;
  state: string;
  expires_at: number | null;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: number | null;
  next_attempt_at: number | null;
  failures: number;
  updated_at: number;
}
export interface RingTurnsTable {
  account_id: number;
  group_id: number;
  turn: number;
}
/** An employee's SIP digest credential: the HA1 only, never the password. */
/** An IVR's recorded greeting: 8 kHz 16-bit mono PCM, little-endian (migration 0015). */
export interface IvrGreetingsTable {
  account_id: number;
  ivr_id: number;
  pcm: Buffer;
  set_at: number;
}
export interface SipCredentialsTable {
  account_id: number;
  employee_id: number;
  ha1: string;
  set_at: number;
}
export interface ClusterSettingsTable {
  name: string;
  value: string;
}
export interface Database {
  accounts: AccountsTable;
  sessions: SessionsTable;
  auth_failures: AuthFailuresTable;
  employees: EmployeesTable;
  ring_groups: RingGroupsTable;
  ivr_scenarios: IvrTable;
  trunks: TrunksTable;
  crm_connections: CrmConnectionsTable;
  contacts: ContactsTable;
  contact_phones: ContactPhonesTable;
  contact_notes: ContactNotesTable;
  id_counters: IdCountersTable;
  calls: CallsTable;
  lookup_cache: LookupCacheTable;
  tracking_numbers: TrackingNumbersTable;
  tracking_sessions: TrackingSessionsTable;
  tracked_calls: TrackedCallsTable;
  outbox: OutboxTable;
  outbox_attempts: OutboxAttemptsTable;
  cluster_nodes: ClusterNodesTable;
  cluster_settings: ClusterSettingsTable;
  employee_calls: EmployeeCallsTable;
  ring_turns: RingTurnsTable;
  live_calls: LiveCallsTable;
  live_nodes: LiveNodesTable;
  carrier_registrations: CarrierRegistrationsTable;
  sip_credentials: SipCredentialsTable;
  ivr_greetings: IvrGreetingsTable;
}
