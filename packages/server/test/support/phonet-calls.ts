// What a Phonet client reads about calls, for the tests of the SIP engine: the calls in progress
// and a finished call's history record, over the documented REST API with the client's session.
import type { Session } from './harness.ts';
import { until } from './wait.ts';

// biome-ignore lint/suspicious/noExplicitAny: REST answers are checked key by key
type Json = any;

/** GET /rest/calls/active/v3. */
export async function activeCalls(s: Session): Promise<Json[]> {
  return (await s.get('/rest/calls/active/v3')).json();
}

/** The company.api record of `uuid` (ended in the last 10 minutes), once it is written. */
export function historyRecord(s: Session, uuid: string): Promise<Json> {
  return until(async () => {
    const now = Date.now();
    const r = await s.get(
      `/rest/calls/company.api?timeFrom=${now - 600_000}&timeTo=${now + 60_000}&limit=50`,
    );
    return (r.json() as Json[]).find((c) => c.uuid === uuid);
  }, `the history record of ${uuid}`);
}
