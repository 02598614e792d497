// `dzvin contacts import|export`: the real binary (a child process) against a real server on
// loopback; what it imported is checked through the documented REST API (the SDK).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PhonetClient } from '@dzvin/sdk';
import { startServer, type TestServer } from '../../server/test/support/harness.ts';
import { parseCsv } from '../src/csv.ts';
import { type Run, runDzvin } from './support/run.ts';

let tmp: string;
let home: string;
let server: TestServer;
/** Connection environment and an SDK client per account. */
const accounts: Record<string, { env: Record<string, string>; client: PhonetClient }> = {};

const dzvin = (account: string, args: string[]): Promise<Run> =>
  runDzvin(args, { HOME: home, ...accounts[account].env });
const file = (name: string, text: string) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
};

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-cli-contacts-'));
  home = path.join(tmp, 'home');
  fs.mkdirSync(home);
  server = await startServer('sqlite');
  for (const name of ['acme', 'beta', 'gamma', 'delta', 'epsilon']) {
    const s = await server.account(`${name}.localhost`);
    accounts[name] = {
      env: { DZVIN_URL: server.baseUrl, DZVIN_API_KEY: s.apiKey },
      client: new PhonetClient({ domain: s.domain, apiKey: s.apiKey, baseUrl: server.baseUrl }),
    };
  }
});

after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const phone = (i: number) => `+38050${String(1_000_000 + i)}`;

describe('dzvin contacts import', () => {
  test('10,000 contacts from CSV: bad rows reported by row with reasons, exit 1, the good ones readable over REST', async () => {
    const N = 10_000;
    const BAD_PHONE = 17;
    const BAD_EMAIL = 4242;
    const SHORT = 9998;
    const lines = ['firstName,lastName,phone,email,company,Посада'];
    for (let i = 0; i < N; i++) {
      const tel = i === BAD_PHONE ? 'not-a-phone' : phone(i);
      const email = i === BAD_EMAIL ? 'nope' : `c${i}@example.com`;
      lines.push(
        i === SHORT
          ? `Short${i},Row`
          : `Ім'я${i},Прізвище${i},${tel},${email},"Acme, Ltd ""${i % 7}""",Менеджер`,
      );
    }
    const csv = file('big.csv', `${lines.join('\r\n')}\r\n`);
    const r = await dzvin('acme', ['contacts', 'import', csv]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^Imported ${N - 3} of ${N} contacts from .*big\\.csv\\.\\n3 failed:\\n`),
    );
    // The header is row 1, so contact i is on row i + 2.
    assert.match(r.stdout, new RegExp(`  row ${BAD_PHONE + 2}: .*'not-a-phone' is not a phone number\\n`));
    assert.match(r.stdout, new RegExp(`  row ${BAD_EMAIL + 2}: .*'nope' is not an e-mail address\\n`));
    assert.match(r.stdout, new RegExp(`  row ${SHORT + 2}: has 2 cells, the header has 6\\n`));
    assert.equal(
      r.stderr,
      `dzvin: 3 of ${N} contacts were not imported\n`,
      'no progress bar when stderr is not a TTY',
    );

    const all = await accounts.acme.client.contacts.list().toArray();
    assert.equal(all.length, N - 3);
    const [found] = await accounts.acme.client.contacts.byNumber(phone(1234));
    assert.equal(found.firstName, "Ім'я1234");
    assert.equal(found.lastName, 'Прізвище1234');
    assert.equal(found.companyTitle, 'Acme, Ltd "2"');
    const custom = found.fields.find((f) => f.enumCode === 'Посада');
    assert.equal(custom?.values[0].value, 'Менеджер');
    assert.deepEqual(await accounts.acme.client.contacts.byNumber(phone(BAD_EMAIL)), []);

    // Export pages through all of them.
    const exported = await dzvin('acme', ['contacts', 'export', '--csv']);
    assert.equal(exported.code, 0, exported.stderr);
    const rows = parseCsv(exported.stdout);
    assert.deepEqual(rows[0].cells, [
      'id',
      'firstName',
      'lastName',
      'company',
      'category',
      'phones',
      'emails',
      'Посада',
    ]);
    assert.equal(rows.length, N - 3 + 1);
    assert.equal(new Set(rows.slice(1).map((x) => x.cells[0])).size, N - 3, 'every contact once');
    const json = await dzvin('acme', ['contacts', 'export', '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).length, N - 3);
  });

  test('--json prints the summary for scripts; flat JSON objects import too', async () => {
    const input = file(
      'flat.json',
      JSON.stringify([
        { firstName: 'Олена', phones: ['+380671112233', '0442246595'], emails: 'olena@example.com' },
        { name: 'Bad', phone: 'call me' },
        'not an object',
      ]),
    );
    const r = await dzvin('epsilon', ['contacts', 'import', input, '--json']);
    assert.equal(r.code, 1);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.total, 3);
    assert.equal(summary.succeeded, 1);
    assert.equal(summary.failed, 2);
    assert.deepEqual(
      summary.errors.map((e: { row: number }) => e.row),
      [2, 3],
    );
    assert.match(summary.errors[0].reason, /'call me' is not a phone number/);
    assert.equal(summary.errors[1].reason, 'is not an object');
    const [olena] = await accounts.epsilon.client.contacts.byNumber('+380442246595');
    assert.equal(olena.firstName, 'Олена');
  });

  test('bad files and bad usage are exit 2 and import nothing', async () => {
    const before = (await accounts.delta.client.contacts.list().toArray()).length;
    const cases: [string[], RegExp][] = [
      [['contacts', 'import', path.join(tmp, 'missing.csv')], /^dzvin: cannot read .*missing\.csv/],
      [['contacts', 'import', file('open.csv', 'name,phone\n"Ivan,+380501234567\n')], /never closes/],
      [['contacts', 'import', file('empty.csv', '')], /the CSV file is empty/],
      [['contacts', 'import', file('bad.json', '{"contacts": 5}')], /expected a JSON array/],
      [['contacts', 'import', file('x.csv', 'a\n1\n'), '--chunk', '5000'], /expected 1 to 1000/],
      [['contacts', 'export', '--json', '--csv'], /choose one/],
    ];
    for (const [args, re] of cases) {
      const r = await dzvin('delta', args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '');
    }
    assert.equal((await accounts.delta.client.contacts.list().toArray()).length, before);
  });
});

describe('dzvin contacts export / import round trip', () => {
  test('JSON and CSV exports import into other accounts as the same contacts; --update edits by id', async () => {
    const people = [
      {
        firstName: 'Іван',
        lastName: 'Іваненко',
        phones: '+380442246595; +380505826633',
        emails: 'ivan@example.com',
        company: 'Phonet, "UA"',
        category: 'VIP',
        Посада: 'Директор',
      },
      { firstName: 'Anna', phone: '+380671234567', note: 'line one\nline two' },
      { lastName: 'Без імені', email: 'x@example.org' },
    ];
    const r = await dzvin('beta', ['contacts', 'import', file('people.json', JSON.stringify(people))]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Imported 3 of 3 contacts from ${path.join(tmp, 'people.json')}.\n`);

    const csvOf = async (account: string) => {
      const x = await dzvin(account, ['contacts', 'export', '--csv']);
      assert.equal(x.code, 0, x.stderr);
      // Ids differ between accounts; rows are compared without them, in a stable order.
      const [head, ...rows] = parseCsv(x.stdout).map((row) => row.cells.slice(1));
      return { text: x.stdout, head, rows: rows.map((c) => JSON.stringify(c)).sort() };
    };
    const beta = await csvOf('beta');
    assert.deepEqual(beta.head, [
      'firstName',
      'lastName',
      'company',
      'category',
      'phones',
      'emails',
      'Посада',
      'note',
    ]);
    assert.ok(
      beta.rows.includes(
        JSON.stringify([
          'Іван',
          'Іваненко',
          'Phonet, "UA"',
          'VIP',
          '+380442246595; +380505826633',
          'ivan@example.com',
          'Директор',
          '',
        ]),
      ),
      beta.text,
    );

    const json = await dzvin('beta', ['contacts', 'export', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const viaJson = await dzvin('gamma', ['contacts', 'import', file('beta.json', json.stdout)]);
    assert.equal(viaJson.code, 0, viaJson.stderr);
    assert.deepEqual(await csvOf('gamma'), { ...beta, text: (await csvOf('gamma')).text });

    const viaCsv = await dzvin('delta', ['contacts', 'import', file('beta.csv', beta.text)]);
    assert.equal(viaCsv.code, 0, viaCsv.stderr);
    const delta = await csvOf('delta');
    assert.deepEqual(delta.rows, beta.rows);

    // The human table.
    const table = await dzvin('beta', ['contacts', 'export']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /Іван Іваненко .*\+380442246595, \+380505826633/);
    assert.match(table.stdout, /3 contacts\.\n$/);

    // --update: the id column edits that contact instead of creating one.
    const [anna] = await accounts.beta.client.contacts.byNumber('+380671234567');
    const edit = file('edit.csv', `id,firstName,phone\n${anna.id},Ганна,+380671234567\n`);
    const updated = await dzvin('beta', ['contacts', 'import', edit, '--update']);
    assert.equal(updated.code, 0, updated.stderr);
    assert.equal((await accounts.beta.client.contacts.get(anna.id)).firstName, 'Ганна');
    assert.equal((await accounts.beta.client.contacts.list().toArray()).length, 3);
  });
});
