// Every PhonetClient method against a real Dzvin on loopback (this is also the server's contract
// test): contacts and notes, users, calls, history pagination, recordings.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PhonetNotFoundError, PhonetValidationError } from '@dzvin/sdk';
import { createManualClock } from '../../server/src/index.ts';
import { contactBody } from '../../server/test/support/harness.ts';
import { type SdkFixture, startDzvin } from './support/dzvin.ts';

const clock = createManualClock(Date.UTC(2026, 10, 26, 9));

describe('PhonetClient against a real Dzvin', () => {
  let f: SdkFixture;
  before(async () => {
    f = await startDzvin('sdk.localhost', { clock });
  });
  after(() => f.close());

  test('authorizes lazily, once, on the first request; users.list and users.status', async () => {
    const client = f.newClient();
    assert.equal(client.authorizations, 0);
    assert.equal(client.hasSession, false);
    const users = await client.users.list();
    assert.equal(client.authorizations, 1);
    assert.deepEqual(
      users.map((u) => [u.ext, u.email]),
      [['001', 'owner@sdk.localhost']],
    );
    assert.deepEqual(await client.users.status(), { status: 0 });
    assert.equal(client.authorizations, 1, 'the session is kept');
    assert.equal(client.baseUrl, f.server.baseUrl);
    assert.equal(
      new (client.constructor as typeof import('@dzvin/sdk').PhonetClient)({
        domain: 'x.example',
        apiKey: 'k',
      }).baseUrl,
      'https://x.example',
    );
  });

  test('contacts: batch, list over pages, search, byNumber in another spelling, get, update, delete', async () => {
    const { client } = f;
    const r = await client.contacts.batch(
      [
        contactBody({ first: 'Іван', last: 'Іваненко', phones: ['+380442246595'], company: 'Phonet' }),
        contactBody({ first: 'Марія', phones: ['+380505826633'], email: 'maria@example.com' }),
        contactBody({ first: 'Петро', phones: ['+380671112233'] }),
        contactBody({ first: 'Bad', email: 'not an email' }),
      ],
      { merge: false },
    );
    assert.equal(r.succeeded, 3);
    assert.equal(r.failed, 1);
    assert.equal(r.errors[0].index, 3);

    const pages: number[] = [];
    for await (const page of client.contacts.list({ pageSize: 2 }).pages()) pages.push(page.length);
    assert.deepEqual(pages, [2, 1], 'pages until a short page');
    const all = await client.contacts.list().toArray();
    assert.equal(all.length, 3);
    assert.equal(
      (await client.contacts.list({ pageSize: 1 }).toArray(2)).length,
      2,
      'toArray(max) stops early',
    );

    const found = await client.contacts.search('Phonet').toArray();
    assert.deepEqual(
      found.map((c) => c.firstName),
      ['Іван'],
    );
    const [ivan] = await client.contacts.byNumber('044 224 65 95');
    assert.equal(ivan.lastName, 'Іваненко');
    assert.deepEqual(await client.contacts.byNumber('+380999999999'), []);

    const got = await client.contacts.get(ivan.id);
    assert.equal(got.companyTitle, 'Phonet');
    await client.contacts.update({
      id: got.id,
      fields: got.fields.map((fl) =>
        fl.enumCode === 'Компания' ? { ...fl, values: fl.values.map((v) => ({ ...v, value: 'Dzvin' })) } : fl,
      ),
    });
    assert.equal((await client.contacts.get(ivan.id)).companyTitle, 'Dzvin');

    const modifiedSince = await client.contacts
      .list({ filterBy: 'modified', from: clock.now() - 1000, to: clock.now() + 1000 })
      .toArray();
    assert.ok(modifiedSince.some((c) => c.id === ivan.id));

    await client.contacts.delete(ivan.id);
    await assert.rejects(client.contacts.get(ivan.id), PhonetNotFoundError);
    assert.equal((await client.contacts.list().toArray()).length, 2);
  });

  test('contacts.notes(id): list, create, update, delete', async () => {
    const { client } = f;
    const [maria] = await client.contacts.byNumber('0505826633');
    const notes = client.contacts.notes(maria.id);
    assert.deepEqual(await notes.list(), []);
    const note = await notes.create({ content: 'Wants a quote', noteType: 0 });
    assert.equal(note.content, 'Wants a quote');
    assert.equal(note.elementId, maria.id);
    await notes.update({ id: note.id, content: 'Quote sent' });
    assert.deepEqual(
      (await notes.list()).map((n) => n.content),
      ['Quote sent'],
    );
    const byNote = await f.client.contacts.list({ searchNoteText: 'Quote' }).toArray();
    assert.deepEqual(
      byNote.map((c) => c.id),
      [maria.id],
    );
    await notes.delete(note.id);
    assert.deepEqual(await notes.list(), []);
    await assert.rejects(client.contacts.notes(99_999_999).list(), PhonetNotFoundError);
  });

  test('contacts.batch splits uploads above 1000 and keeps error indexes global', async () => {
    const many = Array.from({ length: 1001 }, (_, i) =>
      contactBody({ first: `Bulk ${i}`, phones: [`+38067${String(2_000_000 + i)}`] }),
    );
    many[1000] = contactBody({ first: 'Broken', email: 'nope' });
    f.log.clear();
    const r = await f.client.contacts.batch(many, { merge: false });
    assert.equal(f.log.count(/^POST \/rest\/crm\/contacts\/v2\/batch/), 2);
    assert.deepEqual([r.succeeded, r.failed], [1000, 1]);
    assert.equal(r.errors[0].index, 1000);
  });

  test('calls.make, calls.active, a full call, recordings.url / download / saveTo (mixed, rx, tx, range)', async () => {
    const { client, admin } = f;
    const [owner] = await admin.employees.list();
    await admin.trunks.create({
      number: '+380442246595',
      name: 'Головний',
      destination: { type: 'employee', id: owner.id },
      isDefault: true,
    });
    await admin.sim.talkTime({ minSec: 2, maxSec: 2 });
    const { uuid } = await client.calls.make({ legExt: '001', otherLegNum: '+380993034330' });
    const active = await client.calls.active();
    assert.equal(active.length, 1);
    assert.equal(active[0].lastEvent, 'call.dial');
    assert.equal(active[0].leg?.ext, '001');
    await assert.rejects(
      client.recordings.download(uuid),
      PhonetNotFoundError,
      'no recording before the end',
    );

    await clock.advance(3000);
    await clock.advance(4000);
    assert.equal((await client.calls.active())[0].lastEvent, 'call.bridge');
    await clock.advance(2000);
    await f.server.built.simulator.engine.idle();
    assert.deepEqual(await client.calls.active(), []);

    const [h] = await client.calls.company({ from: clock.now() - 60_000, to: clock.now() }).toArray();
    assert.equal(h.uuid, uuid);
    assert.equal(h.billSecs, 2);
    assert.equal(client.recordings.url(uuid), `${f.server.baseUrl}/rest/public/calls/${uuid}/audio`);
    assert.equal(
      client.recordings.url(uuid, { track: 'rx' }),
      `${f.server.baseUrl}/rest/public/calls/${uuid}-rx/audio`,
    );
    assert.equal(h.audioRecUrl, client.recordings.url(uuid));

    for (const track of ['mixed', 'rx', 'tx'] as const) {
      const rec = await client.recordings.download(uuid, { track });
      assert.equal(rec.status, 200);
      assert.equal(rec.contentType, 'audio/wav');
      const chunks: Uint8Array[] = [];
      for await (const c of rec.body) chunks.push(c);
      const wav = Buffer.concat(chunks);
      assert.equal(wav.length, rec.size);
      assert.equal(wav.subarray(0, 4).toString('latin1'), 'RIFF');
      assert.ok(wav.length > 2 * 8000 * 1.5, `about 2 s of 8 kHz 16-bit audio (${wav.length} bytes)`);
    }
    const head = await client.recordings.download(uuid, { range: { start: 0, end: 43 } });
    assert.equal(head.status, 206);
    assert.equal(Buffer.from(await head.arrayBuffer()).length, 44);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-rec-'));
    try {
      const file = path.join(dir, 'call.wav');
      const bytes = await client.recordings.saveTo(uuid, file, { track: 'tx' });
      assert.equal(fs.statSync(file).size, bytes);
      assert.ok(bytes > 44);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('calls.hangup ends a ringing call', async () => {
    const { uuid } = await f.client.calls.make({
      legExt: 1 as unknown as string,
      otherLegNum: '+380993034331',
    });
    assert.equal((await f.client.calls.active()).length, 1);
    await f.client.calls.hangup(uuid);
    await f.server.built.simulator.engine.idle();
    assert.deepEqual(await f.client.calls.active(), []);
    await assert.rejects(f.client.calls.hangup('ffffffffffffffffffffffffffffffff'), PhonetNotFoundError);
  });

  test('company/missed/users page through offset/limit until the short page (130 calls)', async () => {
    const { client, admin } = f;
    await clock.advance(60_000);
    const from = clock.now();
    const N = 130;
    for (let i = 0; i < N; i++) {
      const { uuid } = await admin.sim.incoming({
        from: `+38050${String(1_000_000 + i)}`,
        trunk: '+380442246595',
      });
      await admin.sim.hangup(uuid);
      await clock.advance(100);
    }
    await f.server.built.simulator.engine.idle();
    const to = clock.now();

    f.log.clear();
    const company = await client.calls
      .company({ from, to, pageSize: 20, directions: ['incoming'] })
      .toArray();
    assert.equal(company.length, N);
    assert.equal(new Set(company.map((c) => c.uuid)).size, N, 'no record twice');
    assert.ok(
      company.every((c, i) => i === 0 || company[i - 1].endAt >= c.endAt),
      'newest first',
    );
    assert.equal(f.log.count(/company\.api/), 7, '6 full pages of 20 and a short one');
    assert.ok(f.log.lines.every((l) => !l.includes('company.api') || l.includes('directions=4')));
    const offsets = f.log.lines.map((l) => Number(/offset=(\d+)/.exec(l)?.[1]));
    assert.deepEqual(offsets, [0, 20, 40, 60, 80, 100, 120]);

    assert.equal((await client.calls.company({ from, to, directions: ['outgoing'] }).toArray()).length, 0);
    f.log.clear();
    assert.equal((await client.calls.missed({ from, to }).toArray()).length, N);
    assert.equal(f.log.count(/missed\.api/), 3, '50 + 50 + 30');

    let seen = 0;
    for await (const leg of client.calls.users({ from, to, pageSize: 50 })) {
      assert.equal(leg.leg?.ext, '001');
      seen++;
    }
    assert.equal(seen, N);

    await admin.sim.pause('001');
    await admin.sim.unpause('001');
    const pauses = await client.calls
      .users({ from, to: clock.now() + 1, directions: ['pause', 64] })
      .toArray();
    assert.deepEqual(pauses.map((p) => p.lgDirection).sort(), [32, 64]);

    // pageSize exactly dividing the total: one extra (empty) request ends the iteration.
    f.log.clear();
    assert.equal((await client.calls.company({ from, to, pageSize: 10 }).toArray()).length, N);
    assert.equal(f.log.count(/company\.api/), 14);
    assert.throws(() => client.calls.company({ from, to, pageSize: 51 }), RangeError);
  });

  test('the server refusing a parameter is a PhonetValidationError naming it', async () => {
    const e = await f.client.calls.make({ legExt: '001', otherLegNum: 'call me' }).catch((x) => x);
    assert.ok(e instanceof PhonetValidationError);
    assert.equal(e.status, 400);
    assert.match(e.text, /otherLegNum/);
    assert.deepEqual(e.request, { method: 'POST', path: '/rest/user/makeCall' });
  });
});
