import type { OtherLeg } from '@dzvin/protocol';
import type { CallSettings, RoutingHook } from '../domain/calls/call-engine.ts';
import type { Clock } from '../domain/clock.ts';
import type { AccountRecord, CrmConnectionRecord, Store } from '../domain/ports.ts';
import { parseLenientJson } from './lenient-json.ts';

/** The document's cache note: new (unknown) contacts up to 1 minute, existing ones up to 5. */
export const UNKNOWN_TTL_MS = 60_000;
export const KNOWN_TTL_MS = 5 * 60_000;

/** The default priority of the built-in contacts book among an account's CRMs (spec #17). */
export const CONTACTS_BOOK_DEFAULT_PRIORITY = 100;

/** One CRM's answer to call.settings, normalized (spec #16). */
export interface CrmAnswer {
  /** The CRM knows the number (an `otherLeg` that is not `newEntry`). */
  known: boolean;
  name: string | null;
  url: string | null;
  urlText: string | null;
  /** Not in the document's answer; taken when a CRM sends it (for `otherLegs[].id`/`companyName`). */
  id: string | number | null;
  companyName: string | null;
  responsibleEmployeeExt: string | null;
  responsibleEmployeeEmail: string | null;
}

const str = (v: unknown): string | null => {
  if (typeof v === 'string') return v.trim() === '' ? null : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
};
const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const truthy = (v: unknown) => v === true || v === 1 || v === 'true' || v === '1';

/**
 * Reads a CRM's call.settings answer (spec #16): the documented `{otherLeg:{…}}`,
 * `{otherLeg:null}`, the flat variant `{name,url,…}`, `newEntry` or the misspelled `newEntity`,
 * leniently parsed JSON (spec #2). Returns null for "does not know the number", throws
 * SyntaxError for a body that is no answer at all.
 * @example parseCallSettingsAnswer('{otherLeg: {name: "Іван", newEntry: false}}')?.name // 'Іван'
 */
export function parseCallSettingsAnswer(text: string): CrmAnswer | null {
  const body = parseLenientJson(text);
  if (!isObj(body)) throw new SyntaxError('the answer is not a JSON object');
  let leg: unknown;
  if ('otherLeg' in body) leg = body.otherLeg;
  else if (
    ['name', 'url', 'urlText', 'newEntry', 'newEntity', 'responsibleEmployeeExt'].some((k) => k in body)
  )
    leg = body;
  else throw new SyntaxError('the answer has neither otherLeg nor name/url');
  if (leg === null || leg === undefined) return null;
  if (!isObj(leg)) throw new SyntaxError('otherLeg is not an object');
  const newEntry = truthy(leg.newEntry) || truthy(leg.newEntity);
  const name = str(leg.name);
  const url = str(leg.url);
  const ext = str(leg.responsibleEmployeeExt);
  const email = str(leg.responsibleEmployeeEmail);
  return {
    known: !newEntry && (name !== null || url !== null || ext !== null || email !== null),
    name,
    url,
    urlText: str(leg.urlText),
    id: typeof leg.id === 'number' && Number.isSafeInteger(leg.id) ? leg.id : str(leg.id),
    companyName: str(leg.companyName),
    responsibleEmployeeExt: ext,
    responsibleEmployeeEmail: email,
  };
}

/** What the lookup keeps per account and number: the answer of each CRM asked (null = unknown). */
interface CachedLookup {
  v: 1;
  answers: { connectionId: number; answer: CrmAnswer | null }[];
}

/** The transport: the outgoing HTTP client, bound to the account-independent policy. */
export type PostJson = (
  url: string,
  body: unknown,
  opts: { timeoutMs: number; signal: AbortSignal },
) => Promise<{ status: number; text: string }>;

export interface CallLookupDeps {
  store: Store;
  clock: Clock;
  post: PostJson;
  /** The most a call waits for the CRMs (spec #16; default 2 s). Real time: HTTP is real. */
  timeoutMs: number;
  /**
   * The link to a contact of the built-in contacts book in the console, or to a new contact with
   * the number filled in (`otherLegs[].url` of the contacts book; spec #17).
   */
  contactsUrl?: (account: AccountRecord, contact: { id: number } | { number: string }) => string;
  /** A CRM that failed (timeout, network, non-200, garbage), for the log. Never fatal. */
  onProblem?: (p: { accountId: number; connectionId: number; reason: string }) => void;
}

export type CallLookup = RoutingHook & {
  /** Deletes expired cache rows (all accounts). */
  prune(): Promise<number>;
};

const lookupTargets = (conns: CrmConnectionRecord[]) =>
  conns.filter((c) => c.enabled && c.callSettingsUrl).sort((a, b) => a.id - b.id);

/**
 * call.settings (spec: "The PBX calls the CRM" 1; spec #16, #17): asks every connected CRM of the
 * account with a lookup URL at once, waits at most `timeoutMs`, consults the built-in contacts
 * book as one more CRM, and merges the answers by priority (lower number first). Answers are
 * cached in the database per account and number (1 minute unknown, 5 minutes known).
 *
 * `otherLegs` has one entry per connected CRM and one for the contacts book, whether or not it
 * knew the number (the document: `id`/`name` null when the client does not exist, `url` a link to
 * the contact or to creating one): `num` is always the other party's number, so a CRM learns a new
 * caller's number from every event; `url` is always a string (the CRM's link, else "").
 */
export function createCallLookup(deps: CallLookupDeps): CallLookup {
  const { store, clock, post, timeoutMs } = deps;
  const problem = deps.onProblem ?? (() => {});

  async function ask(
    account: AccountRecord,
    conn: CrmConnectionRecord,
    body: Record<string, string>,
    signal: AbortSignal,
  ): Promise<{ ok: boolean; answer: CrmAnswer | null }> {
    try {
      const r = await post(conn.callSettingsUrl as string, body, { timeoutMs, signal });
      if (r.status !== 200) throw new Error(`answered ${r.status}`);
      return { ok: true, answer: parseCallSettingsAnswer(r.text) };
    } catch (err) {
      problem({
        accountId: account.id,
        connectionId: conn.id,
        reason: err instanceof Error ? err.message : String(err),
      });
      return { ok: false, answer: null };
    }
  }

  /** Every CRM at once; whatever has not answered when the deadline passes counts as failed. */
  async function askAll(
    account: AccountRecord,
    conns: CrmConnectionRecord[],
    body: Record<string, string>,
  ): Promise<{ ok: boolean; answer: CrmAnswer | null }[]> {
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    try {
      return await Promise.all(
        conns.map((c) =>
          Promise.race([ask(account, c, body, abort.signal), deadline]).then((r) => {
            if (r !== 'late') return r;
            problem({
              accountId: account.id,
              connectionId: c.id,
              reason: `no answer within ${timeoutMs} ms`,
            });
            return { ok: false, answer: null };
          }),
        ),
      );
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  }

  async function crmAnswers(
    account: AccountRecord,
    call: { direction: 2 | 4; otherLegNum: string; trunkNum: string | null },
    conns: CrmConnectionRecord[],
  ): Promise<CachedLookup['answers']> {
    if (!conns.length) return [];
    const now = clock.now();
    const ids = conns.map((c) => c.id);
    const cachedText = await store.lookupCache.get(account.id, call.otherLegNum, now);
    if (cachedText !== null) {
      try {
        const cached = JSON.parse(cachedText) as CachedLookup;
        const cachedIds = cached.answers.map((a) => a.connectionId);
        // A CRM connected (or removed) since: the cached set no longer answers for the account.
        if (cachedIds.length === ids.length && cachedIds.every((id, i) => id === ids[i]))
          return cached.answers;
      } catch {
        /* unreadable: ask again */
      }
    }
    const body: Record<string, string> = { request: 'call.settings', otherLegNum: call.otherLegNum };
    if (call.direction === 4 && call.trunkNum) body.trunkNum = call.trunkNum;
    const results = await askAll(account, conns, body);
    const answers = results.map((r, i) => ({ connectionId: conns[i].id, answer: r.answer }));
    // Known only when every CRM answered and one knew the number; anything else is re-asked soon.
    const known = results.every((r) => r.ok) && answers.some((a) => a.answer?.known);
    const payload: CachedLookup = { v: 1, answers };
    await store.lookupCache.put(
      account.id,
      call.otherLegNum,
      JSON.stringify(payload),
      clock.now() + (known ? KNOWN_TTL_MS : UNKNOWN_TTL_MS),
    );
    return answers;
  }

  async function employeeIdByEmail(accountId: number, email: string): Promise<number | null> {
    const want = email.trim().toLowerCase();
    const e = (await store.directory.employees.list(accountId)).find((x) => x.email?.toLowerCase() === want);
    return e?.id ?? null;
  }

  return {
    async callSettings(account, call): Promise<CallSettings> {
      const conns = lookupTargets(await store.directory.crm.list(account.id));
      const [answers, [contact]] = await Promise.all([
        crmAnswers(account, call, conns).catch((err) => {
          // The cache table itself failing must not fail the call either.
          problem({ accountId: account.id, connectionId: 0, reason: String(err) });
          return [] as CachedLookup['answers'];
        }),
        store.contacts.byPhone(account.id, call.otherLegNum, 0, 1),
      ]);
      const byId = new Map(conns.map((c) => [c.id, c]));
      const found: {
        leg: OtherLeg;
        order: number;
        responsible: () => Promise<(number | null)[]>;
      }[] = [];
      const asked = new Set<number>();
      /** The entry of a CRM (or the book) that does not know the number: its link, if any. */
      const unknownEntry = (priority: number | null, url: string, order: number) => ({
        leg: { id: null, name: null, num: call.otherLegNum, companyName: null, url, priority },
        order,
        responsible: async (): Promise<(number | null)[]> => [],
      });
      for (const { connectionId, answer } of answers) {
        const conn = byId.get(connectionId);
        if (!conn) continue;
        asked.add(conn.id);
        if (!answer?.known) {
          // Does not know the number (or did not answer): its entry says so, with its "create a
          // contact" link when it gave one (the document's newEntry variant).
          found.push(unknownEntry(conn.priority, answer?.url ?? '', conn.id));
          continue;
        }
        found.push({
          leg: {
            id: answer.id,
            name: answer.name,
            num: call.otherLegNum,
            companyName: answer.companyName,
            url: answer.url ?? '',
            priority: conn.priority,
          },
          order: conn.id,
          // spec: responsibleEmployeeExt wins over responsibleEmployeeEmail.
          responsible: async () => [
            answer.responsibleEmployeeExt
              ? ((await store.directory.employees.byExt(account.id, answer.responsibleEmployeeExt))?.id ??
                null)
              : null,
            answer.responsibleEmployeeEmail
              ? await employeeIdByEmail(account.id, answer.responsibleEmployeeEmail)
              : null,
          ],
        });
      }
      // A connection whose cached answers predate it is asked next time; it is in the list now.
      for (const conn of conns) if (!asked.has(conn.id)) found.push(unknownEntry(conn.priority, '', conn.id));
      const bookPriority = account.contactsPriority ?? CONTACTS_BOOK_DEFAULT_PRIORITY;
      const bookUrl = (c: { id: number } | { number: string }) => deps.contactsUrl?.(account, c) ?? '';
      if (contact) {
        const name = [contact.firstName, contact.lastName].filter(Boolean).join(' ') || contact.companyTitle;
        found.push({
          leg: {
            id: contact.id,
            name,
            num: call.otherLegNum,
            companyName: contact.companyTitle,
            url: bookUrl({ id: contact.id }),
            priority: bookPriority,
          },
          order: Number.MAX_SAFE_INTEGER,
          responsible: async () => [
            contact.responsibleUserId
              ? ((await store.directory.employees.get(account.id, contact.responsibleUserId))?.id ?? null)
              : null,
          ],
        });
      } else {
        found.push(
          unknownEntry(bookPriority, bookUrl({ number: call.otherLegNum }), Number.MAX_SAFE_INTEGER),
        );
      }
      found.sort((a, b) => (a.leg.priority ?? 0) - (b.leg.priority ?? 0) || a.order - b.order);
      const responsible: number[] = [];
      if (call.direction === 4)
        for (const f of found)
          for (const id of await f.responsible())
            if (id !== null && !responsible.includes(id)) responsible.push(id);
      return {
        otherLegName: found.find((f) => f.leg.name)?.leg.name ?? null,
        otherLegs: found.map((f) => f.leg),
        responsible,
      };
    },

    prune: () => store.lookupCache.deleteExpired(clock.now()),
  };
}
