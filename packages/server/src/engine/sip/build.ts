/**
 * Building the messages the lower layers derive from others: responses (§8.2.6), CANCEL (§9.1)
 * and the ACK for a non-2xx final response (§17.1.1.3), plus fresh branches and tags.
 */
import { randomHex } from '../../domain/random-pool.ts';
import { MAGIC_COOKIE, parseCSeq, parseNameAddr } from './header-values.ts';
import { getHeader, getHeaders, type Header, type SipRequest, type SipResponse } from './message.ts';

/** A branch unique in space and time, with the RFC 3261 magic cookie (§8.1.1.7). */
export function newBranch(): string {
  return `${MAGIC_COOKIE}${randomHex(12)}`;
}

/** A From/To tag: 32 random bits at least (§19.3); we use 64. */
export function newTag(): string {
  return randomHex(8);
}

export function newCallId(host: string): string {
  return `${randomHex(12)}@${host}`;
}

export interface ResponseOptions {
  /** Added to To when it has none; §8.2.6.2 requires one on every response but 100. */
  toTag?: string;
  headers?: Header[];
  body?: Buffer;
}

/**
 * A response to `req` (§8.2.6.2): Via (all of them, in order, as received — so with the
 * transport's received/rport), From, To, Call-ID and CSeq copied; the To tag added if asked.
 * Works on a rejected request too: whatever of those headers it had is copied verbatim.
 */
export function createResponse(
  req: SipRequest,
  status: number,
  reason: string,
  opts: ResponseOptions = {},
): SipResponse {
  const headers: Header[] = [];
  for (const v of getHeaders(req, 'Via')) headers.push({ name: 'Via', value: v });
  const from = getHeader(req, 'From');
  if (from !== undefined) headers.push({ name: 'From', value: from });
  let to = getHeader(req, 'To');
  if (to !== undefined && opts.toTag !== undefined) {
    const parsed = parseNameAddr(to);
    // addr-spec parameters are header parameters (§20.10), so appending works for both forms.
    if (parsed.ok && parsed.value.params.tag === undefined) to = `${to};tag=${opts.toTag}`;
  }
  if (to !== undefined) headers.push({ name: 'To', value: to });
  const callId = getHeader(req, 'Call-ID');
  if (callId !== undefined) headers.push({ name: 'Call-ID', value: callId });
  const cseq = getHeader(req, 'CSeq');
  if (cseq !== undefined) headers.push({ name: 'CSeq', value: cseq });
  headers.push(...(opts.headers ?? []));
  return { type: 'response', status, reason, headers, body: opts.body ?? Buffer.alloc(0) };
}

function cseqNumber(req: SipRequest): number {
  const c = parseCSeq(getHeader(req, 'CSeq') ?? '');
  if (!c.ok) throw new Error('request without a valid CSeq');
  return c.value.seq;
}

/** Headers shared by CANCEL and the non-2xx ACK: top Via only, the INVITE's Route set. */
function sameTransactionHeaders(invite: SipRequest, to: string, method: string): Header[] {
  const headers: Header[] = [{ name: 'Via', value: getHeaders(invite, 'Via')[0] }];
  headers.push({ name: 'Max-Forwards', value: '70' });
  for (const r of getHeaders(invite, 'Route')) headers.push({ name: 'Route', value: r });
  headers.push({ name: 'From', value: getHeader(invite, 'From')! });
  headers.push({ name: 'To', value: to });
  headers.push({ name: 'Call-ID', value: getHeader(invite, 'Call-ID')! });
  headers.push({ name: 'CSeq', value: `${cseqNumber(invite)} ${method}` });
  return headers;
}

/** CANCEL for a sent INVITE (§9.1): same branch, so it reaches the same server transaction. */
export function createCancel(invite: SipRequest): SipRequest {
  return {
    type: 'request',
    method: 'CANCEL',
    uri: invite.uri,
    headers: sameTransactionHeaders(invite, getHeader(invite, 'To')!, 'CANCEL'),
    body: Buffer.alloc(0),
  };
}

/** The ACK the INVITE client transaction sends for a 300–699 (§17.1.1.3); To comes from the response. */
export function createNon2xxAck(invite: SipRequest, response: SipResponse): SipRequest {
  return {
    type: 'request',
    method: 'ACK',
    uri: invite.uri,
    headers: sameTransactionHeaders(invite, getHeader(response, 'To')!, 'ACK'),
    body: Buffer.alloc(0),
  };
}
