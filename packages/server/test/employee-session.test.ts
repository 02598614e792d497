// An employee's own console session (issue 18): signed in with their ext and SIP password, it sees
// their own calls, the contacts book and their phone's settings, and nothing of the account's
// settings or other employees' calls. Real HTTP on loopback, both dialects.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { AccountRecord } from '../src/domain/ports.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import { until } from './support/wait.ts';

const PASSWORD = 'Olena-desk-2026';

for (const dialect of DIALECTS) {
  describe(`an employee's own session [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let server: TestServer;
    let acme: Session;
    let account: AccountRecord;
    let olena: number; // 001, the API user, with a SIP password
    let taras: number; // 002, without one
    let employeeCookie = '';

    const signIn = (body: Record<string, unknown>, localAddress?: string) =>
      server.request('POST', '/api/v1/session/employee', { host: acme.host, body, localAddress });
    const asEmployee = (method: string, path: string, body?: unknown) =>
      acme.call(method, path, { cookie: employeeCookie, body });

    before(async () => {
      server = await startServer(dialect, {
        config: { auth: { maxFailuresPerIp: 4, maxFailuresPerDomain: 100, failureWindowSec: 600 } },
      });
      acme = await server.account('staff.localhost');
      account = (await server.built.store.accounts.byDomain('staff.localhost'))!;
      const { directory } = server.built.services;
      olena = (await directory.employees.list(account)).find((e) => e.ext === '001')!.id;
      taras = (await directory.employees.create(account, { displayName: 'Тарас', ext: '002' })).id;
      for (const [number, id] of [
        ['+380443334401', olena],
        ['+380443334402', taras],
      ] as const)
        await directory.trunks.create(account, {
          number,
          name: `line ${id}`,
          destination: { type: 'employee', id },
        });
      const r = await acme.admin('PUT', `/api/v1/employees/${olena}/sip-password`, { password: PASSWORD });
      assert.equal(r.status, 204, r.text);
    });
    after(() => server.close());

    test('a wrong password, an unknown ext and an ext without a SIP password get one 403 reason; then 429', async () => {
      const reasons = new Set<string>();
      for (const body of [
        { ext: '001', password: 'wrong-password' },
        { ext: '777', password: PASSWORD },
        { ext: '002', password: PASSWORD },
      ]) {
        const r = await signIn(body, '127.0.0.9');
        assert.equal(r.status, 403, `${JSON.stringify(body)}: ${r.text}`);
        assert.match(String(r.headers['content-type']), /^text\/plain/);
        assert.equal(r.headers['set-cookie'], undefined);
        reasons.add(r.text);
      }
      assert.deepEqual([...reasons], ['Invalid domain, ext or password']);
      // The same failure records as authorize: the 4th failure from this address, then the limit.
      assert.equal((await signIn({ ext: '001', password: 'again-wrong' }, '127.0.0.9')).status, 403);
      const limited = await signIn({ ext: '001', password: PASSWORD }, '127.0.0.9');
      assert.equal(limited.status, 429, limited.text);
      assert.ok(limited.headers['retry-after']);
      // A body that is not one: 400 with the reason, not a failed attempt.
      const bad = await signIn({ ext: '001' });
      assert.equal(bad.status, 400);
      assert.match(bad.text, /password/);
    });

    test('the right password opens a session; /api/v1/me says who it is and why there is no phone here', async () => {
      const r = await signIn({ ext: '001', password: PASSWORD });
      assert.equal(r.status, 200, r.text);
      const cookie = String(r.headers['set-cookie']?.[0] ?? '');
      assert.match(cookie, /^JSESSIONID=[A-Za-z0-9]{32}; Path=\/; HttpOnly$/);
      employeeCookie = cookie.split(';')[0];
      assert.deepEqual(r.json().employee, { id: olena, ext: '001', displayName: 'Owner of staff.localhost' });
      const me = await asEmployee('GET', '/api/v1/me');
      assert.equal(me.status, 200, me.text);
      assert.deepEqual(me.json().employee, {
        id: olena,
        ext: '001',
        displayName: 'Owner of staff.localhost',
      });
      // This server runs no SIP engine: no phone, and the reason.
      assert.equal(me.json().phone, null);
      assert.match(me.json().phoneUnavailable, /simulated phones only/);
      // The account's own session: no employee.
      const admin = await acme.get('/api/v1/me');
      assert.equal(admin.json().employee, null);
    });

    test("the account's settings, keys, directory, integrations and company history are refused with the reason", async () => {
      for (const [method, path, body] of [
        ['GET', '/api/v1/account'],
        ['POST', '/api/v1/account/rotate-key'],
        ['GET', '/api/v1/employees'],
        ['PUT', `/api/v1/employees/${taras}/sip-password`, { password: 'taken-over-1' }],
        ['GET', '/api/v1/crm-connections'],
        ['GET', `/rest/calls/company.api?timeFrom=0&timeTo=${Date.now()}`],
        ['GET', `/rest/calls/missed.api?timeFrom=0&timeTo=${Date.now()}`],
        ['DELETE', '/rest/crm/contacts/v2/1'],
      ] as const) {
        const r = await asEmployee(method, path, body);
        assert.equal(r.status, 403, `${method} ${path}: ${r.status} ${r.text}`);
        assert.match(r.text, /employee's session cannot use/, `${method} ${path}`);
      }
      // Taras's password was not set by the refused request.
      assert.equal((await signIn({ ext: '002', password: 'taken-over-1' })).status, 403);
      // What an employee may use answers.
      assert.equal((await asEmployee('GET', '/rest/users')).status, 200);
      assert.equal((await asEmployee('GET', '/rest/crm/contacts/v2/?offset=0&limit=10')).status, 200);
    });

    test("live calls, hangup, click-to-call, history and the event stream are the employee's own", async () => {
      const { sim, engine } = server.built.simulator;
      for (const ext of ['001', '002'])
        sim.setEmployeeBehaviour(account.id, ext, { mode: 'answer', answerAfterSec: 0.2, probability: 1 });
      sim.setTalkTime(account.id, { minSec: 600, maxSec: 600 });
      // The employee's event stream, read as raw text.
      const streamed: string[] = [];
      const req = http.get(`${server.baseUrl}/api/v1/events/stream`, {
        headers: { host: acme.host, cookie: employeeCookie },
      });
      const res = await new Promise<http.IncomingMessage>((resolve) => req.on('response', resolve));
      assert.equal(res.statusCode, 200);
      res.setEncoding('utf8');
      res.on('data', (c: string) => streamed.push(c));

      const mine = await sim.incoming(account, '+380501110001', '+380443334401');
      const theirs = await sim.incoming(account, '+380501110002', '+380443334402');
      const live = async (cookie?: string) => {
        const r = await acme.get('/rest/calls/active/v3', cookie ? { cookie } : {});
        return r.json() as {
          uuid: string;
          parentUuid: string | null;
          lastEvent: string;
          leg: { ext: string };
        }[];
      };
      await until(
        async () => (await live()).filter((c) => c.lastEvent === 'call.bridge').length === 2,
        'both answered',
      );
      const own = await live(employeeCookie);
      assert.ok(own.length >= 1);
      assert.ok(
        own.every((c) => c.leg?.ext === '001'),
        JSON.stringify(own),
      );
      assert.ok(!own.some((c) => c.uuid === theirs.uuid || c.parentUuid === theirs.uuid));

      // Hanging up a colleague's call: not found for this session; the call is still up.
      const refused = await asEmployee('POST', `/rest/calls/active/${theirs.uuid}/hangup`);
      assert.equal(refused.status, 404, refused.text);
      assert.ok((await live()).some((c) => c.uuid === theirs.uuid || c.parentUuid === theirs.uuid));
      // Click-to-call from a colleague's ext: refused; from their own it is placed.
      const fromTaras = await asEmployee('POST', '/rest/user/makeCall', {
        legExt: '002',
        otherLegNum: '0501234567',
      });
      assert.equal(fromTaras.status, 403);
      assert.match(fromTaras.text, /own ext \(001\)/);

      // Their own call, hung up from their session.
      const ended = await asEmployee('POST', `/rest/calls/active/${mine.uuid}/hangup`);
      assert.equal(ended.status, 200, ended.text);
      await engine.hangup(account.id, theirs.uuid);
      await engine.idle();
      await until(() => streamed.join('').includes('event: call.hangup'), 'the hangup streamed');
      res.destroy();
      const text = streamed.join('');
      assert.ok(text.includes(mine.uuid) || text.includes('"ext":"001"'), text.slice(0, 500));
      assert.ok(!text.includes(theirs.uuid), "a colleague's call is not streamed to the employee");
      assert.ok(!text.includes('"ext":"002"'));

      // users.api: the employee's legs only; the account's session sees both.
      const q = `/rest/calls/users.api?timeFrom=0&timeTo=${Date.now() + 60_000}`;
      const ownHistory = (await asEmployee('GET', q)).json() as {
        leg: { ext: string } | null;
        leg2: { ext: string } | null;
      }[];
      const all = (await acme.get(q)).json() as { leg: { ext: string } | null }[];
      assert.ok(ownHistory.length >= 1);
      assert.ok(
        ownHistory.every((r) => r.leg?.ext === '001' || r.leg2?.ext === '001'),
        JSON.stringify(ownHistory),
      );
      assert.ok(all.some((r) => r.leg?.ext === '002'));
      assert.ok(all.length > ownHistory.length);
      // Their own click-to-call is placed (the simulated 001 answers, then the other side).
      const placed = await asEmployee('POST', '/rest/user/makeCall', {
        legExt: '001',
        otherLegNum: '0501234567',
      });
      assert.equal(placed.status, 200, placed.text);
      await until(async () => (await live(employeeCookie)).length > 0, 'the click-to-call is up');
      for (const c of await live()) await engine.hangup(account.id, c.parentUuid ?? c.uuid).catch(() => {});
      await engine.idle();
    });

    test("changing the employee's SIP password ends their sessions; signing out ends one", async () => {
      assert.equal((await asEmployee('GET', '/api/v1/me')).status, 200);
      const r = await acme.admin('PUT', `/api/v1/employees/${olena}/sip-password`, {
        password: `${PASSWORD}-new`,
      });
      assert.equal(r.status, 204);
      // Within the session cache's few seconds in this process: at once after a fresh check.
      await until(
        async () => (await asEmployee('GET', '/api/v1/me')).status === 403,
        'the old session ended',
        10_000,
      );
      assert.equal((await signIn({ ext: '001', password: PASSWORD })).status, 403);
      const again = await signIn({ ext: '001', password: `${PASSWORD}-new` });
      assert.equal(again.status, 200);
      employeeCookie = String(again.headers['set-cookie']?.[0]).split(';')[0];
      assert.equal((await asEmployee('POST', '/api/v1/session/sign-out')).status, 204);
      assert.equal((await asEmployee('GET', '/api/v1/me')).status, 403);
    });
  });
}
