import { type Static, Type } from 'typebox';
import { EpochMs } from './common.ts';

/**
 * Call tracking and the callback widget (Dzvin extensions; the source of the document's UTM
 * batches). Public endpoints keyed by account domain, called from websites.
 */

const Text = (description: string) => Type.Optional(Type.String({ maxLength: 500, description }));

/**
 * What a website knows about its visitor; sent to CRMs in UTM batches (missing: `(not set)`).
 * @example `{ "utmSource": "google", "utmMedium": "cpc", "googleClientId": "1340605716.1544986520", "referrer": "https://www.google.com/" }`
 */
export const VisitInfo = Type.Object(
  {
    utmSource: Text('utm_source'),
    utmMedium: Text('utm_medium'),
    utmCampaign: Text('utm_campaign'),
    utmContent: Text('utm_content'),
    utmTerm: Text('utm_term'),
    googleClientId: Text('Google Analytics client id'),
    referrer: Text('The site the visitor came from'),
  },
  { additionalProperties: false },
);
export type VisitInfo = Static<typeof VisitInfo>;

/**
 * A tracking number given to a website session, for its window.
 * @example `{ "number": "+380991280042", "expiresAt": 1549956744251 }`
 */
export const TrackingSessionResponse = Type.Object({
  number: Type.String({ description: 'E.164; show it on the page' }),
  expiresAt: EpochMs,
});
export type TrackingSessionResponse = Static<typeof TrackingSessionResponse>;

/**
 * A callback request from the widget: the visitor's number and, optionally, the employee or ring
 * group ext to ring first (default: the destination of the default trunk).
 * @example `{ "number": "0505826633", "target": "100", "utmSource": "google" }`
 */
export const CallbackRequest = Type.Object(
  {
    number: Type.String({ minLength: 3, maxLength: 32 }),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'Employee or group ext' })),
    ...VisitInfo.properties,
  },
  { additionalProperties: false },
);
export type CallbackRequest = Static<typeof CallbackRequest>;

/** @example `{ "uuid": "005f1dfae76d4c379e1d4095c07a76a2" }` */
export const CallbackResponse = Type.Object({ uuid: Type.String() });
export type CallbackResponse = Static<typeof CallbackResponse>;

/** @example `{ "domain": "shop.phonet.com.ua" }` */
export const PublicDomainParams = Type.Object({ domain: Type.String({ minLength: 1, maxLength: 253 }) });
export type PublicDomainParams = Static<typeof PublicDomainParams>;

/**
 * A trunk number of the account dedicated to call tracking.
 * @example `{ "id": 1, "number": "+380991280042", "reservedUntil": null, "lastGivenAt": null, "createdAt": 1549954944251 }`
 */
export const TrackingNumber = Type.Object({
  id: Type.Integer(),
  number: Type.String(),
  reservedUntil: Type.Union([EpochMs, Type.Null()]),
  lastGivenAt: Type.Union([EpochMs, Type.Null()]),
  createdAt: EpochMs,
});
export type TrackingNumber = Static<typeof TrackingNumber>;

/** @example `{ "number": "+380991280042" }` */
export const TrackingNumberCreate = Type.Object(
  { number: Type.String({ minLength: 3, maxLength: 32, description: 'A trunk number of the account' }) },
  { additionalProperties: false },
);
export type TrackingNumberCreate = Static<typeof TrackingNumberCreate>;
