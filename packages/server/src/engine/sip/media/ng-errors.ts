// What can go wrong talking to rtpengine over NG, as types the B2BUA can tell apart: a call
// rtpengine does not know (REJECTED) is answered differently from an rtpengine that is down
// (TIMEOUT), and neither is a bug in Dzvin (PROTOCOL).

export type NgErrorCode =
  | 'TIMEOUT' // no reply within the total timeout, retransmissions included
  | 'REJECTED' // rtpengine answered `result: error`
  | 'PROTOCOL' // a reply to our cookie that is not a valid NG reply
  | 'SOCKET' // the UDP socket failed (send error, closed by the OS)
  | 'CLOSED'; // the client was closed while the request was waiting

/** Base of every error of the NG client; `command` is the NG command that failed. */
export class NgError extends Error {
  override name = 'NgError';
  constructor(
    readonly code: NgErrorCode,
    readonly command: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** rtpengine answered `result: error`; `reason` is its `error-reason`, as it wrote it. */
export class NgRejectedError extends NgError {
  override name = 'NgRejectedError';
  constructor(
    command: string,
    readonly reason: string,
  ) {
    super('REJECTED', command, `rtpengine refused "${command}": ${reason}`);
  }
}

/** No reply in time: rtpengine is not running, not listening there, or overloaded. */
export class NgTimeoutError extends NgError {
  override name = 'NgTimeoutError';
  constructor(
    command: string,
    readonly timeoutMs: number,
    readonly attempts: number,
  ) {
    super(
      'TIMEOUT',
      command,
      `no reply from rtpengine to "${command}" within ${timeoutMs} ms (${attempts} sent)`,
    );
  }
}
