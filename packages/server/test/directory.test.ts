import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { DIALECTS, dialectSkipReason } from './support/dialects.ts';
import { type Session, startServer, type TestServer } from './support/harness.ts';
import { parseWav, toneWav } from './support/wav.ts';

for (const dialect of DIALECTS) {
  describe(`directory admin API and users [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    let server: TestServer;
    let s: Session;
    before(async () => {
      server = await startServer(dialect);
      s = await server.account('office.localhost');
    });
    after(() => server.close());

    const admin = (method: string, path: string, body?: unknown) => s.admin(method, `/api/v1${path}`, body);

    test('employees: create (201), list, change, and GET /rest/users shows them as documented', async () => {
      const r = await admin('POST', '/employees', {
        displayName: 'Іван Іванов',
        ext: '901',
        email: 'Ivan@Example.com',
      });
      assert.equal(r.status, 201);
      const e = r.json();
      assert.equal(e.email, 'ivan@example.com');
      assert.equal(e.monitored, true);
      assert.equal(e.presence, 'online');
      const changed = await admin('PATCH', `/employees/${e.id}`, { displayName: 'Іван І.' });
      assert.equal(changed.status, 200);
      assert.equal(changed.json().ext, '901', 'keys not sent are kept');
      const users = (await s.get('/rest/users')).json();
      const u = users.find((x: { id: number }) => x.id === e.id);
      assert.deepEqual(u, { id: e.id, displayName: 'Іван І.', ext: '901', email: 'ivan@example.com' });
      for (const x of users) assert.deepEqual(Object.keys(x).sort(), ['displayName', 'email', 'ext', 'id']);
    });

    test('the session cookie works for the admin API too, and no credentials is 403', async () => {
      assert.equal((await s.get('/api/v1/employees')).status, 200);
      assert.equal((await server.request('GET', '/api/v1/employees')).status, 403);
      const wrong = await server.request('GET', '/api/v1/employees', {
        headers: { authorization: 'Bearer nope-nope-nope-nope' },
      });
      assert.equal(wrong.status, 403);
    });

    test('GET /rest/user/status follows the API user: 0 online, 1 offline, 2 not monitored', async () => {
      const account = (await admin('GET', '/account')).json();
      const me = account.apiUserId;
      assert.equal(typeof me, 'number');
      assert.deepEqual((await s.get('/rest/user/status')).json(), { status: 0 });
      await admin('PATCH', `/employees/${me}`, { presence: 'offline' });
      assert.deepEqual((await s.get('/rest/user/status')).json(), { status: 1 });
      await admin('PATCH', `/employees/${me}`, { monitored: false });
      assert.deepEqual((await s.get('/rest/user/status')).json(), { status: 2 });
      await admin('PATCH', `/employees/${me}`, { monitored: true, presence: 'online' });
      assert.equal((await admin('PATCH', '/account', { apiUserId: null })).status, 200);
      assert.deepEqual((await s.get('/rest/user/status')).json(), { status: 2 });
      await admin('PATCH', '/account', { apiUserId: me });
      assert.equal((await admin('PATCH', '/account', { apiUserId: 987654 })).status, 400);
    });

    test('internal numbers are unique across employees and ring groups (409)', async () => {
      const dup = await admin('POST', '/employees', { displayName: 'Другий', ext: '901' });
      assert.equal(dup.status, 409);
      assert.match(dup.text, /901/);
      const g = await admin('POST', '/groups', { name: 'Група', ext: '901' });
      assert.equal(g.status, 409);
      const badExt = await admin('POST', '/employees', { displayName: 'X', ext: '9a' });
      assert.equal(badExt.status, 400);
      assert.match(badExt.text, /ext/);
    });

    let groupId = 0;
    let ivrId = 0;
    test('ring groups: members must be employees of the account, listed once', async () => {
      const emps = (await admin('GET', '/employees')).json();
      const ids = emps.map((e: { id: number }) => e.id);
      const r = await admin('POST', '/groups', {
        name: 'Продажі',
        ext: '100',
        members: ids,
        strategy: 'sequential',
        ringTimeoutSec: 15,
      });
      assert.equal(r.status, 201);
      groupId = r.json().id;
      assert.deepEqual(r.json().members, ids);
      assert.equal(r.json().strategy, 'sequential');
      assert.equal(
        (await admin('POST', '/groups', { name: 'X', ext: '101', members: [999999] })).status,
        400,
      );
      assert.equal(
        (await admin('POST', '/groups', { name: 'X', ext: '101', members: [ids[0], ids[0]] })).status,
        400,
      );
      assert.equal(
        (await admin('POST', '/groups', { name: 'X', ext: '101', strategy: 'random' })).status,
        400,
      );
    });

    test('IVR: options point at existing targets, one per digit', async () => {
      const r = await admin('POST', '/ivr', {
        name: 'Меню',
        options: [{ digit: '1', target: { type: 'group', id: groupId } }],
        defaultTarget: { type: 'group', id: groupId },
      });
      assert.equal(r.status, 201);
      ivrId = r.json().id;
      assert.equal(r.json().timeoutSec, 8);
      const missing = await admin('POST', '/ivr', {
        name: 'X',
        options: [{ digit: '1', target: { type: 'employee', id: 999999 } }],
      });
      assert.equal(missing.status, 400);
      const twice = await admin('POST', '/ivr', {
        name: 'X',
        options: [
          { digit: '1', target: { type: 'group', id: groupId } },
          { digit: '1', target: { type: 'ivr', id: ivrId } },
        ],
      });
      assert.equal(twice.status, 400);
    });

    test('IVR greeting audio: an 8 kHz mono 16-bit WAV is stored and answered back; other audio is 415 naming it; DELETE is 204', async () => {
      const ivr = (await admin('POST', '/ivr', { name: 'Greeted', timeoutSec: 10 })).json();
      const path = `/api/v1/ivr/${ivr.id}/greeting-audio`;
      const upload = (raw: Buffer | string, contentType = 'audio/wav', id = ivr.id) =>
        server.request('PUT', `/api/v1/ivr/${id}/greeting-audio`, {
          host: s.host,
          headers: { authorization: `Bearer ${s.apiKey}` },
          raw,
          contentType,
        });
      const download = () =>
        fetch(`${server.baseUrl}${path}`, { headers: { host: s.host, authorization: `Bearer ${s.apiKey}` } });
      assert.equal((await download()).status, 404, 'none yet');
      const wav = toneWav(700, 1.5);
      const set = await upload(wav);
      assert.equal(set.status, 200, set.text);
      assert.deepEqual(set.json(), { seconds: 1.5 });
      const got = await download();
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('content-type'), 'audio/wav');
      const back = parseWav(Buffer.from(await got.arrayBuffer()));
      assert.deepEqual([back.sampleRate, back.channels, back.bitsPerSample], [8000, 1, 16]);
      assert.deepEqual(
        Buffer.from(back.samples.buffer, back.samples.byteOffset, back.samples.byteLength),
        wav.subarray(44),
      );
      // audio/x-wav (what some browsers send) replaces it.
      assert.equal((await upload(toneWav(500, 0.5), 'audio/x-wav')).json().seconds, 0.5);
      // Not what phones hear: refused with what was sent and how to convert it.
      const stereo = Buffer.from(toneWav(500, 0.5));
      stereo.writeUInt16LE(2, 22);
      const r44 = Buffer.from(toneWav(500, 0.5));
      r44.writeUInt32LE(44100, 24);
      for (const [body, reason] of [
        [stereo, /2 channels/],
        [r44, /44100 Hz/],
        [Buffer.from('not audio at all'), /not a WAV file/],
        [toneWav(500, 0.05), /less than 0\.1 s/],
      ] as const) {
        const r = await upload(body);
        assert.equal(r.status, 415, r.text);
        assert.match(r.text, reason);
        assert.match(r.text, /8 kHz mono 16-bit PCM WAV/);
        assert.match(String(r.headers['content-type']), /^text\/plain/);
      }
      const json = await s.admin('PUT', path, { audio: 'base64…' });
      assert.equal(json.status, 415, json.text);
      assert.equal((await upload(wav, 'audio/wav', 999_999)).status, 404);
      assert.equal((await download()).status, 200, 'the refusals changed nothing');
      assert.equal((await s.admin('DELETE', path)).status, 204);
      assert.equal((await download()).status, 404);
      assert.equal((await s.admin('DELETE', path)).status, 204, 'none is fine');
    });

    test('trunks: numbers are stored in E.164, one default at a time, duplicates refused', async () => {
      const a = await admin('POST', '/trunks', {
        number: '044 224 65 95',
        name: 'Головний',
        destination: { type: 'ivr', id: ivrId },
      });
      assert.equal(a.status, 201);
      assert.equal(a.json().number, '+380442246595');
      assert.equal(a.json().isDefault, true, 'the first trunk is the default');
      const b = await admin('POST', '/trunks', {
        number: '+380800218500',
        name: 'Гаряча лінія',
        isDefault: true,
      });
      assert.equal(b.json().isDefault, true);
      const list = (await admin('GET', '/trunks')).json();
      assert.deepEqual(
        list.map((t: { isDefault: boolean }) => t.isDefault),
        [false, true],
      );
      assert.equal((await admin('POST', '/trunks', { number: '380442246595', name: 'Дубль' })).status, 409);
      assert.equal((await admin('POST', '/trunks', { number: 'abc', name: 'X' })).status, 400);
    });

    test('deleting something still referenced is refused with 409 naming the reference', async () => {
      const emp = (await admin('GET', `/groups/${groupId}`)).json().members[0];
      const r = await admin('DELETE', `/employees/${emp}`);
      assert.equal(r.status, 409);
      assert.match(r.text, /Продажі/);
      const g = await admin('DELETE', `/groups/${groupId}`);
      assert.equal(g.status, 409);
      assert.match(g.text, /Меню/);
      const i = await admin('DELETE', `/ivr/${ivrId}`);
      assert.equal(i.status, 409);
      assert.match(i.text, /\+380442246595/);
    });

    test('deleting answers 204, then 404', async () => {
      const e = (await admin('POST', '/employees', { displayName: 'Тимчасовий', ext: '950' })).json();
      assert.equal((await admin('DELETE', `/employees/${e.id}`)).status, 204);
      assert.equal((await admin('GET', `/employees/${e.id}`)).status, 404);
      assert.equal((await admin('DELETE', `/employees/${e.id}`)).status, 404);
    });

    test('CRM connections: the secret is write-only (hasSecret), URLs must be http(s)', async () => {
      const r = await admin('POST', '/crm-connections', {
        name: 'My CRM',
        callSettingsUrl: 'https://crm.example/phonet/lookup',
        eventsUrl: 'https://crm.example/phonet/events',
        priority: 2,
        secret: 'whsec-0123456789abcdef',
      });
      assert.equal(r.status, 201);
      const c = r.json();
      assert.equal(c.hasSecret, true);
      assert.equal(c.secret, undefined);
      assert.equal(c.utmUrl, null);
      assert.ok(!(await admin('GET', '/crm-connections')).text.includes('whsec'));
      const cleared = (await admin('PATCH', `/crm-connections/${c.id}`, { secret: null })).json();
      assert.equal(cleared.hasSecret, false);
      assert.equal(cleared.eventsUrl, 'https://crm.example/phonet/events');
      assert.equal(
        (await admin('POST', '/crm-connections', { name: 'X', eventsUrl: 'ftp://x' })).status,
        400,
      );
    });

    test('SIP password: write-only (hasSipPassword), stored as the digest HA1 only, 204 to set and to remove', async () => {
      const e = (await admin('POST', '/employees', { displayName: 'Софтфон', ext: '960' })).json();
      assert.equal(e.hasSipPassword, false);
      const password = 'Sip-Pass_960!x';
      const set = await admin('PUT', `/employees/${e.id}/sip-password`, { password });
      assert.equal(set.status, 204, set.text);
      assert.equal(set.text, '');
      const shown = (await admin('GET', `/employees/${e.id}`)).json();
      assert.equal(shown.hasSipPassword, true);
      assert.deepEqual({ ...shown, hasSipPassword: false }, e, 'nothing else changed');
      const list = await admin('GET', '/employees');
      assert.equal(list.json().find((x: { id: number }) => x.id === e.id).hasSipPassword, true);
      assert.ok(!list.text.includes(password), 'the password is never answered');
      assert.ok(!(await s.get('/rest/users')).text.includes('hasSipPassword'), 'Phonet users unchanged');
      // What is stored: the HA1 of 960@office.localhost, not the password.
      const [cred] = (await server.built.store.sipCredentials.withIdentity()).filter(
        (c) => c.employeeId === e.id,
      );
      assert.equal(cred.ext, '960');
      assert.equal(cred.domain, 'office.localhost');
      assert.equal(cred.ha1, createHash('md5').update(`960:office.localhost:${password}`).digest('hex'));
      // Setting again replaces it; removing is idempotent.
      assert.equal(
        (await admin('PUT', `/employees/${e.id}/sip-password`, { password: 'another-pass' })).status,
        204,
      );
      assert.equal(
        (await server.built.store.sipCredentials.withIdentity()).filter((c) => c.employeeId === e.id).length,
        1,
      );
      assert.equal((await admin('DELETE', `/employees/${e.id}/sip-password`)).status, 204);
      assert.equal((await admin('GET', `/employees/${e.id}`)).json().hasSipPassword, false);
      assert.equal((await admin('DELETE', `/employees/${e.id}/sip-password`)).status, 204);
    });

    test('SIP password: bad ones are 400 with a reason that does not repeat them, an unknown employee 404', async () => {
      const e = (await admin('POST', '/employees', { displayName: 'Короткий', ext: '961' })).json();
      const put = (id: number, body: unknown) => admin('PUT', `/employees/${id}/sip-password`, body);
      const short = await put(e.id, { password: 'short7!' });
      assert.equal(short.status, 400);
      assert.match(short.text, /8 to 128 characters/);
      assert.ok(!short.text.includes('short7!'));
      const long = await put(e.id, { password: 'x'.repeat(129) });
      assert.equal(long.status, 400);
      assert.match(long.text, /8 to 128/);
      const spaced = await put(e.id, { password: 'has a space in it' });
      assert.equal(spaced.status, 400);
      assert.match(spaced.text, /printable ASCII/);
      assert.equal((await put(e.id, { password: 'пароль-кирилицею' })).status, 400);
      assert.equal((await put(e.id, { password: 12345678 })).status, 400);
      assert.equal((await put(e.id, {})).status, 400);
      assert.equal((await admin('GET', `/employees/${e.id}`)).json().hasSipPassword, false);
      const unknown = await put(987654, { password: 'long-enough-1' });
      assert.equal(unknown.status, 404);
      assert.match(unknown.text, /employee 987654 not found/);
      assert.equal((await admin('DELETE', '/employees/987654/sip-password')).status, 404);
    });

    test('SIP password: a new ext drops it (the HA1 holds the ext), a rename keeps it, and it goes with the employee', async () => {
      const e = (await admin('POST', '/employees', { displayName: 'Переїзд', ext: '962' })).json();
      await admin('PUT', `/employees/${e.id}/sip-password`, { password: 'moving-desks-962' });
      const renamed = (
        await admin('PATCH', `/employees/${e.id}`, { displayName: 'Переїзд 2', ext: '962' })
      ).json();
      assert.equal(renamed.hasSipPassword, true, 'same ext: kept');
      const moved = await admin('PATCH', `/employees/${e.id}`, { ext: '963' });
      assert.equal(moved.status, 200);
      assert.equal(moved.json().hasSipPassword, false, 'the answer says it is gone');
      assert.equal((await admin('GET', `/employees/${e.id}`)).json().hasSipPassword, false);
      assert.ok(!(await server.built.store.sipCredentials.withIdentity()).some((c) => c.employeeId === e.id));
      await admin('PUT', `/employees/${e.id}/sip-password`, { password: 'moving-desks-963' });
      assert.equal((await admin('DELETE', `/employees/${e.id}`)).status, 204);
      assert.ok(!(await server.built.store.sipCredentials.withIdentity()).some((c) => c.employeeId === e.id));
    });

    test('the API documentation is served: /openapi.json and the /docs page', async () => {
      const spec = (await server.request('GET', '/openapi.json')).json();
      assert.equal(spec.openapi, '3.0.3');
      assert.ok(spec.paths['/rest/security/authorize']);
      assert.ok(spec.paths['/api/v1/employees']);
      const docs = await server.request('GET', '/docs/');
      assert.equal(docs.status, 200);
      assert.match(docs.text, /swagger/i);
      const asset = await server.request('GET', '/docs/static/swagger-ui-bundle.js');
      assert.equal(asset.status, 200);
    });
  });
}
