import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createManualClock } from '../src/index.ts';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import { dominantOf, parseWav, rms } from './support/wav.ts';

const ACTIVE_KEYS = [
  'bridgeAt',
  'dialAt',
  'lastEvent',
  'leg',
  'leg2',
  'lgDirection',
  'otherLegs',
  'parentUuid',
  'trunkName',
  'trunkNum',
  'uuid',
];

for (const dialect of DIALECTS) {
  describe(`calls over the documented REST API [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    const clock = createManualClock(Date.UTC(2026, 10, 26, 10));
    let server: TestServer;
    let s: Session;
    const admin = (method: string, path: string, body?: unknown) => s.admin(method, path, body);
    before(async () => {
      server = await startServer(dialect, { clock, config: { sessionIdleSec: 30 * 86400 } });
      s = await server.account('calls.localhost');
      await admin('POST', '/api/v1/employees', { displayName: 'Андрій', ext: '002' });
      assert.equal(
        (
          await admin('POST', '/api/v1/trunks', {
            number: '+380442246595',
            name: 'Головний',
            destination: { type: 'employee', id: (await admin('GET', '/api/v1/employees')).json()[0].id },
          })
        ).status,
        201,
      );
      assert.equal((await admin('PUT', '/api/v1/sim/talk-time', { minSec: 12, maxSec: 12 })).status, 204);
    });
    after(() => server.close());

    test('makeCall (legExt as a number, spec #9) → a full call: dial, bridge, hangup, history and a recording', async () => {
      const r = await s.post('/rest/user/makeCall', { legExt: 1, otherLegNum: '+380993034330' });
      assert.equal(r.status, 200, r.text);
      const { uuid } = r.json();
      assert.match(uuid, /^[0-9a-f]{32}$/);

      const ringing = (await s.get('/rest/calls/active/v3')).json();
      assert.equal(ringing.length, 1);
      assert.deepEqual(Object.keys(ringing[0]).sort(), ACTIVE_KEYS);
      assert.equal(ringing[0].lastEvent, 'call.dial');
      assert.equal(ringing[0].lgDirection, 2);
      assert.equal(ringing[0].leg.ext, '001');
      assert.equal(ringing[0].trunkNum, '+380442246595');
      assert.equal(ringing[0].dialAt, clock.now());

      await clock.advance(3000); // the employee answers (demo default: after 3 s)
      await clock.advance(4000); // the number answers (after 4 s)
      const talking = (await s.get('/rest/calls/active/v3')).json();
      assert.equal(talking[0].lastEvent, 'call.bridge');
      assert.equal(talking[0].bridgeAt, clock.now());

      // Not before the end: 404 (spec #15).
      assert.equal((await server.request('GET', `/rest/public/calls/${uuid}/audio`)).status, 404);

      await clock.advance(12_000);
      await server.built.simulator.engine.idle();
      assert.deepEqual((await s.get('/rest/calls/active/v3')).json(), []);

      const from = clock.now() - 3_600_000;
      const history = (await s.get(`/rest/calls/company.api?timeFrom=${from}&timeTo=${clock.now()}`)).json();
      assert.equal(history.length, 1);
      const h = history[0];
      assert.equal(h.uuid, uuid);
      assert.equal(h.disposition, 0);
      assert.equal(h.billSecs, 12);
      assert.equal(h.duration, 19);
      assert.equal(h.otherLegNum, '+380993034330');
      assert.equal(h.trunk, 'o=380442246595;');
      assert.equal(h.audioRecUrl, `http://calls.localhost:${server.port}/rest/public/calls/${uuid}/audio`);

      const users = (await s.get(`/rest/calls/users.api?timeFrom=${from}&timeTo=${clock.now()}`)).json();
      // A click-to-call is one call: the employee's record has the call's uuid (README "What a CRM receives").
      assert.equal(users.length, 1);
      assert.equal(users[0].uuid, uuid);
      assert.equal(users[0].parentUuid, null);
      assert.equal(users[0].leg.ext, '001');

      // The recordings: public, audio/wav, ≈ billSecs long, audible, rx and tx distinguishable.
      const tracks: Record<string, ReturnType<typeof parseWav>> = {};
      for (const suffix of ['', '-rx', '-tx']) {
        const a = await server.request('GET', `/rest/public/calls/${uuid}${suffix}/audio`);
        assert.equal(a.status, 200);
        assert.equal(a.headers['content-type'], 'audio/wav');
        const raw = await fetch(`${server.baseUrl}/rest/public/calls/${uuid}${suffix}/audio`).then((x) =>
          x.arrayBuffer(),
        );
        tracks[suffix.slice(1) || 'mixed'] = parseWav(Buffer.from(raw));
      }
      for (const w of Object.values(tracks)) {
        assert.ok(
          Math.abs(w.durationSec - h.billSecs) < 1,
          `duration ${w.durationSec} ≈ billSecs ${h.billSecs}`,
        );
        assert.ok(rms(w.samples) > 0.05, `not silent (rms ${rms(w.samples)})`);
      }
      assert.equal(dominantOf(tracks.rx.samples, 8000, [440, 1000]), 440);
      assert.equal(dominantOf(tracks.tx.samples, 8000, [440, 1000]), 1000);

      const range = await server.request('GET', `/rest/public/calls/${uuid}/audio`, {
        headers: { range: 'bytes=0-43' },
      });
      assert.equal(range.status, 206);
      assert.equal(range.headers['content-length'], '44');
    });

    test('an account that requires a session for recordings (spec #15): 403 without, 200 with its own, 404 with another', async () => {
      const { uuid } = (
        await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: '+380993034331' })
      ).json();
      await clock.advance(3000 + 4000 + 12_000);
      await server.built.simulator.engine.idle();
      const path = `/rest/public/calls/${uuid}-rx/audio`;
      assert.equal((await server.request('GET', path)).status, 200, 'public by default');
      const set = await admin('PATCH', '/api/v1/account', { recordingsNeedSession: true });
      assert.equal(set.status, 200, set.text);
      assert.equal(set.json().recordingsNeedSession, true);
      try {
        const none = await server.request('GET', path);
        assert.equal(none.status, 403);
        assert.match(String(none.headers['content-type']), /^text\/plain/);
        assert.equal((await s.get(path)).status, 200, 'with a session of the account');
        const other = await server.account('calls-other.localhost');
        assert.equal((await other.get(path)).status, 404, "another account's session finds nothing");
      } finally {
        await admin('PATCH', '/api/v1/account', { recordingsNeedSession: false });
      }
      assert.equal((await server.request('GET', path)).status, 200, 'public again');
    });

    test('makeCall refuses bad input with plain-text reasons', async () => {
      const unknown = await s.post('/rest/user/makeCall', { legExt: '777', otherLegNum: '+380993034330' });
      assert.equal(unknown.status, 404);
      assert.match(unknown.text, /777/);
      const badNum = await s.post('/rest/user/makeCall', { legExt: '001', otherLegNum: 'call me' });
      assert.equal(badNum.status, 400);
      assert.match(badNum.text, /otherLegNum/);
      const missing = await s.post('/rest/user/makeCall', { legExt: '001' });
      assert.equal(missing.status, 400);
      assert.equal((await admin('POST', '/api/v1/sim/employees/002/pause')).status, 204);
      const paused = await s.post('/rest/user/makeCall', { legExt: '002', otherLegNum: '+380993034330' });
      assert.equal(paused.status, 409);
      assert.match(paused.text, /paused/);
      assert.deepEqual((await s.get('/rest/calls/active/v3')).json(), []);
      for (const r of [unknown, badNum, missing, paused])
        assert.match(String(r.headers['content-type']), /^text\/plain/);
    });

    test('GET /rest/user/status reflects the pause state; pause/unpause are 32/64 records in users.api', async () => {
      const me = (await admin('GET', '/api/v1/account')).json().apiUserId;
      await admin('PATCH', '/api/v1/account', {
        apiUserId: (await admin('GET', '/api/v1/employees')).json()[1].id,
      });
      assert.deepEqual((await s.get('/rest/user/status')).json(), { status: 1 }, '002 is paused');
      assert.equal((await admin('POST', '/api/v1/sim/employees/002/unpause')).status, 204);
      assert.deepEqual((await s.get('/rest/user/status')).json(), { status: 0 });
      await admin('PATCH', '/api/v1/account', { apiUserId: me });
      const q = `timeFrom=${clock.now() - 60_000}&timeTo=${clock.now()}`;
      const pauses = (await s.get(`/rest/calls/users.api?${q}&directions=96`)).json();
      assert.deepEqual(
        pauses.map((p: { lgDirection: number; leg: { ext: string } }) => [p.lgDirection, p.leg.ext]).sort(),
        [
          [32, '002'],
          [64, '002'],
        ],
      );
    });

    test('hangup by GET (documented) and by POST (spec #12); an unknown uuid is 404', async () => {
      for (const method of ['GET', 'POST']) {
        const { uuid } = (
          await admin('POST', '/api/v1/sim/calls', { from: '0671112233', trunk: '044 224 65 95' })
        ).json();
        const [live] = (await s.get('/rest/calls/active/v3')).json();
        assert.equal(live.lgDirection, 4);
        assert.equal(live.uuid, uuid);
        assert.equal(live.parentUuid, null);
        const r = await s.call(method, `/rest/calls/active/${uuid}/hangup`);
        assert.equal(r.status, 200, r.text);
        assert.deepEqual((await s.get('/rest/calls/active/v3')).json(), []);
      }
      const unknown = await s.get('/rest/calls/active/0123456789abcdef0123456789abcdef/hangup');
      assert.equal(unknown.status, 404);
      assert.match(String(unknown.headers['content-type']), /^text\/plain/);
    });

    test('the simulation API drives a call: incoming, answer, transfer, hangup', async () => {
      await admin('PUT', '/api/v1/sim/behaviours/employees/001', { mode: 'manual' });
      await admin('PUT', '/api/v1/sim/behaviours/employees/002', { mode: 'manual' });
      const { uuid } = (
        await admin('POST', '/api/v1/sim/calls', { from: '+380671110001', trunk: '+380442246595' })
      ).json();
      assert.equal((await admin('POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '001' })).status, 204);
      await clock.advance(5000);
      assert.equal((await admin('POST', `/api/v1/sim/calls/${uuid}/transfer`, { toExt: '002' })).status, 204);
      assert.equal((await admin('POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '002' })).status, 204);
      await clock.advance(5000);
      assert.equal((await admin('POST', `/api/v1/sim/calls/${uuid}/hangup`)).status, 204);
      const [c] = (
        await s.get(
          `/rest/calls/company.api?timeFrom=${clock.now() - 20_000}&timeTo=${clock.now()}&directions=4`,
        )
      ).json();
      assert.equal(c.uuid, uuid);
      assert.equal(c.transferHistory, '001 > 002');
      assert.equal(c.billSecs, 10);
      const bad = await admin('POST', '/api/v1/sim/calls', { from: '+380671110001', trunk: '+380000000000' });
      assert.equal(bad.status, 404);
      const badBehaviour = await admin('PUT', '/api/v1/sim/behaviours/employees/001', {
        mode: 'answer',
        probability: 2,
      });
      assert.equal(badBehaviour.status, 400);
    });

    test('internal calls, direct outgoing calls and attended transfers through the simulation API', async () => {
      await admin('PUT', '/api/v1/sim/behaviours/employees/002', { mode: 'manual' });
      const internal = await admin('POST', '/api/v1/sim/internal', { fromExt: '001', toExt: '002' });
      assert.equal(internal.status, 201, internal.text);
      const [live] = (await s.get('/rest/calls/active/v3')).json();
      assert.equal(live.lgDirection, 1);
      assert.equal(live.leg.ext, '001');
      assert.equal(live.leg2.ext, '002');
      assert.equal(live.otherLegs, null);
      assert.equal((await admin('POST', `/api/v1/sim/calls/${internal.json().uuid}/hangup`)).status, 204);

      const out = await admin('POST', '/api/v1/sim/outgoing', {
        fromExt: '002',
        number: '0671112200',
        trunk: '+380442246595',
      });
      assert.equal(out.status, 201, out.text);
      assert.equal((await s.get(`/rest/calls/active/${out.json().uuid}/hangup`)).status, 200);

      const { uuid } = (
        await admin('POST', '/api/v1/sim/calls', { from: '+380671110003', trunk: '+380442246595' })
      ).json();
      await admin('POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '001' });
      assert.equal(
        (await admin('POST', `/api/v1/sim/calls/${uuid}/attended-transfer`, { toExt: '002' })).status,
        204,
      );
      assert.equal(
        (await admin('POST', `/api/v1/sim/calls/${uuid}/transfer/complete`)).status,
        409,
        'not answered yet',
      );
      await admin('POST', `/api/v1/sim/calls/${uuid}/answer`, { ext: '002' });
      assert.equal((await admin('POST', `/api/v1/sim/calls/${uuid}/transfer/complete`)).status, 204);
      await admin('POST', `/api/v1/sim/calls/${uuid}/hangup`);
      const q = `timeFrom=${clock.now() - 1000}&timeTo=${clock.now()}`;
      const calls = (await s.get(`/rest/calls/company.api?${q}`)).json();
      const byUuid = (u: string) => calls.find((c: { uuid: string }) => c.uuid === u);
      assert.equal(byUuid(uuid).transferHistory, '001 > 002');
      assert.equal(byUuid(internal.json().uuid).lgDirection, 1);
      assert.equal(byUuid(internal.json().uuid).leg2.ext, '002');
      assert.equal(byUuid(out.json().uuid).trunk, 'o=380442246595;');
    });

    test("another account cannot see, end or hear this account's calls' details", async () => {
      const other = await server.account('other-calls.localhost');
      const { uuid } = (
        await admin('POST', '/api/v1/sim/calls', { from: '+380671110002', trunk: '+380442246595' })
      ).json();
      assert.deepEqual((await other.get('/rest/calls/active/v3')).json(), []);
      assert.equal((await other.get(`/rest/calls/active/${uuid}/hangup`)).status, 404);
      assert.equal((await other.admin('POST', `/api/v1/sim/calls/${uuid}/answer`, {})).status, 404);
      assert.equal((await s.get(`/rest/calls/active/${uuid}/hangup`)).status, 200);
      const q = `timeFrom=${clock.now() - 86_400_000}&timeTo=${clock.now()}`;
      assert.deepEqual((await other.get(`/rest/calls/company.api?${q}`)).json(), []);
    });
  });
}
