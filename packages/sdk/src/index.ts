/**
 * `@dzvin/sdk` — a typed client of the Phonet cloud-PBX HTTP API (Dzvin implements it), Dzvin's
 * admin/simulation client, and a webhook receiver. No runtime dependencies beyond Node 20.
 * @example
 * ```ts
 * import { PhonetClient, createWebhookHandler } from '@dzvin/sdk';
 * const client = new PhonetClient({ domain: 'acme.phonet.com.ua', apiKey: process.env.PHONET_API_KEY! });
 * const { uuid } = await client.calls.make({ legExt: '001', otherLegNum: '+380993034330' });
 * ```
 */

/** Wire types of the REST API, re-exported from `@dzvin/protocol` (types only). */
export type {
  ActiveCall,
  BatchResult,
  CallHistoryRecord,
  Contact,
  ContactField,
  ContactInput,
  ContactValue,
  EventLeg,
  HistoryLeg,
  MakeCallRequest,
  MakeCallResponse,
  Note,
  NoteInput,
  OtherLeg,
  User,
  UserStatus,
} from '@dzvin/protocol';
export {
  type AdminResource,
  DzvinAdminClient,
  type DzvinAdminClientOptions,
} from './admin/dzvin-admin-client.ts';
export {
  type CallDirectionFilter,
  type CallHistoryOptions,
  DIRECTIONS,
  type TimeInput,
  type UserDirectionFilter,
} from './client/calls.ts';
export type { ContactListOptions, ContactUpdate, NoteUpdate } from './client/contacts.ts';
export type { Paginated } from './client/paginate.ts';
export {
  PhonetClient,
  type PhonetClientOptions,
  type SessionUse,
  sessionFromSetCookie,
} from './client/phonet-client.ts';
export type { RecordingDownload, RecordingTrack } from './client/recordings.ts';
export type { Exchange, Query, RequestSpec, RetryOptions, TransportOptions } from './client/transport.ts';
export {
  errorForStatus,
  PhonetApiError,
  PhonetAuthError,
  PhonetConflictError,
  PhonetConnectionError,
  PhonetError,
  type PhonetErrorCode,
  type PhonetErrorRequest,
  PhonetNotFoundError,
  PhonetRateLimitError,
  PhonetResponseError,
  PhonetServerError,
  PhonetTimeoutError,
  PhonetValidationError,
  parseRetryAfter,
} from './errors.ts';
export * from './webhooks/index.ts';
