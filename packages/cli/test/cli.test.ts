// The real `dzvin` binary (a child process, as a shell runs it) against a real server on loopback.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Session, startServer, type TestServer } from '../../server/test/support/harness.ts';
import { toneWav } from '../../server/test/support/wav.ts';
import { type Run, runDzvin } from './support/run.ts';

/** Runs `dzvin args…` with this file's HOME (plus PATH/TMPDIR), never the caller's DZVIN_*. */
const dzvin = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
  runDzvin(args, { HOME: home, ...env });

/**
 * A command line as a shell would split it: `groups add --name ${name} --members ${ids}` → argv,
 * the literal text split on spaces, each `${value}` part of one argument (even when empty).
 */
function cmd(strings: TemplateStringsArray, ...values: unknown[]): string[] {
  const out: string[] = [];
  let current: string | undefined;
  strings.forEach((literal, i) => {
    literal.split(/\s+/).forEach((piece, j) => {
      if (j > 0 && current !== undefined) {
        out.push(current);
        current = undefined;
      }
      if (piece) current = (current ?? '') + piece;
    });
    if (i < values.length) current = (current ?? '') + String(values[i]);
  });
  if (current !== undefined) out.push(current);
  return out;
}

/** A `--json` run that must succeed; its stdout parsed. */
// biome-ignore lint/suspicious/noExplicitAny: test convenience
async function json(args: string[], env: Record<string, string>): Promise<any> {
  const r = await dzvin([...args, '--json'], env);
  assert.equal(r.code, 0, `dzvin ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A loopback port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

let tmp: string;
let home: string;
let dbUrl: string;
let server: TestServer;
let acme: Session;
/** Connection by environment to the acme account. */
let acmeEnv: Record<string, string>;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-cli-test-'));
  home = path.join(tmp, 'home');
  fs.mkdirSync(home);
  dbUrl = `sqlite:${path.join(tmp, 'dzvin.sqlite')}`;
  // The server and the operator commands share this database, as on a real host.
  server = await startServer('sqlite', { config: { databaseUrl: dbUrl } });
  acme = await server.account('acme.localhost');
  acmeEnv = { DZVIN_URL: server.baseUrl, DZVIN_API_KEY: acme.apiKey };
});

after(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const authorize = (domain: string, apiKey: string) =>
  server.request('POST', '/rest/security/authorize', { body: { domain, apiKey } });

describe('dzvin account create / rotate-key (on the database)', () => {
  test('create prints a key once, noting it is stored only as a hash, and the key authorizes', async () => {
    const r = await dzvin(cmd`account create cli.localhost --name ${'CLI Ltd'} --country pl`, {
      DATABASE_URL: dbUrl,
    });
    assert.equal(r.code, 0, r.stderr);
    const key = /^API key: (\S+)$/m.exec(r.stdout)?.[1];
    assert.ok(key, r.stdout);
    assert.match(r.stdout, /only a hash/);
    assert.equal((await authorize('cli.localhost', key)).status, 200);
    const account = await server.built.store.accounts.byDomain('cli.localhost');
    assert.equal(account?.name, 'CLI Ltd');
    assert.equal(account?.defaultCountry, 'PL');
  });

  test('create --json prints {domain, apiKey}; a taken domain is refused with exit 1', async () => {
    const created = await json(cmd`account create Json.Localhost --api-key json-key-0123456789abcdef`, {
      DATABASE_URL: dbUrl,
    });
    assert.deepEqual(created, { domain: 'json.localhost', apiKey: 'json-key-0123456789abcdef' });
    const again = await dzvin(cmd`account create json.localhost`, { DATABASE_URL: dbUrl });
    assert.equal(again.code, 1);
    assert.equal(again.stderr, 'dzvin: account json.localhost already exists\n');
  });

  test('rotate-key gives a working new key and the old one stops working; an unknown domain is exit 1', async () => {
    const { domain, apiKey } = await json(cmd`account rotate-key json.localhost`, { DATABASE_URL: dbUrl });
    assert.equal(domain, 'json.localhost');
    assert.notEqual(apiKey, 'json-key-0123456789abcdef');
    assert.equal((await authorize('json.localhost', apiKey)).status, 200);
    assert.equal((await authorize('json.localhost', 'json-key-0123456789abcdef')).status, 403);
    const unknown = await dzvin(cmd`account rotate-key nobody.localhost`, { DATABASE_URL: dbUrl });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^dzvin: no account nobody\.localhost in SQLite /);
  });
});

describe('dzvin employees (over the admin API)', () => {
  test('add, list, get, update and remove round-trip with --json', async () => {
    const added = await json(
      cmd`employees add --name ${'Ірина Бондар'} --ext 205 --email iryna@acme.localhost --no-monitored`,
      acmeEnv,
    );
    assert.equal(added.displayName, 'Ірина Бондар');
    assert.equal(added.ext, '205');
    assert.equal(added.email, 'iryna@acme.localhost');
    assert.equal(added.monitored, false);

    const list = await json(cmd`employees list`, acmeEnv);
    assert.deepEqual(
      list.map((e: { ext: string }) => e.ext),
      ['001', '205'],
    );
    assert.deepEqual(await json(cmd`users get ${added.id}`, acmeEnv), added);

    // --data fills in what the flags do not say; the flags win where both do; '' clears the email.
    const updated = await json(
      cmd`employees update ${added.id} --presence offline --email ${''} --data ${'{"paused":true,"ext":"999"}'} --ext 206`,
      acmeEnv,
    );
    assert.deepEqual(updated, { ...added, presence: 'offline', email: null, paused: true, ext: '206' });

    assert.deepEqual(await json(cmd`employees remove ${added.id}`, acmeEnv), { id: added.id, deleted: true });
    const gone = await dzvin(cmd`employees get ${added.id}`, acmeEnv);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^dzvin: .+ \(HTTP 404\)\n$/);
  });

  test('sip-password: --generate prints a password once that the server keeps as the HA1; --password, --remove; bad use is exit 2', async () => {
    const gen = await json(cmd`employees sip-password 001 --generate`, acmeEnv);
    assert.equal(gen.ext, '001');
    assert.equal(gen.sipPassword, true);
    assert.match(gen.password, /^[A-Za-z2-9]{20}$/);
    const [cred] = await server.built.store.sipCredentials.withIdentity();
    assert.equal(cred.ext, '001');
    assert.equal(cred.ha1, createHash('md5').update(`001:acme.localhost:${gen.password}`).digest('hex'));
    const shown = await dzvin(cmd`employees list`, acmeEnv);
    assert.match(shown.stdout, /sip password/);
    assert.ok(!shown.stdout.includes(gen.password), 'never shown again');

    const plain = await dzvin(cmd`employees sip-password 001 --password ${'chosen-by-me-1'}`, acmeEnv);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^Set the SIP password of 001/);
    assert.ok(!plain.stdout.includes('chosen-by-me-1'));
    const short = await dzvin(cmd`employees sip-password 001 --password short`, acmeEnv);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /8 to 128 characters.*\(HTTP 400\)/);
    assert.equal((await dzvin(cmd`employees sip-password 001`, acmeEnv)).code, 2);
    assert.equal((await dzvin(cmd`employees sip-password 001 --generate --remove`, acmeEnv)).code, 2);
    const nobody = await dzvin(cmd`employees sip-password 777 --generate`, acmeEnv);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /no employee has ext 777/);

    assert.deepEqual(await json(cmd`employees sip-password 001 --remove`, acmeEnv), {
      ext: '001',
      id: cred.employeeId,
      sipPassword: false,
    });
    assert.equal((await json(cmd`employees get ${cred.employeeId}`, acmeEnv)).hasSipPassword, false);
  });

  test('without --json, list prints a table', async () => {
    const r = await dzvin(cmd`employees list`, acmeEnv);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /│ id │ ext │ name/);
    assert.match(r.stdout, /│ 001 │ Owner of acme\.localhost │/);
  });

  test('a duplicate ext is exit 1 with the server’s plain-text reason and status on stderr', async () => {
    const expected = await acme.admin('POST', '/api/v1/employees', { displayName: 'Twin', ext: '001' });
    assert.equal(expected.status, 409);
    const r = await dzvin(cmd`employees add --name Twin --ext 001`, acmeEnv);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `dzvin: ${expected.text} (HTTP 409)\n`);
  });

  test('friendly flags of groups, ivr and trunks become the admin API’s fields', async () => {
    const [owner] = await json(cmd`employees list`, acmeEnv);
    const group = await json(
      cmd`groups add --name Sales --ext 100 --strategy sequential --timeout 30 --members ${owner.id}`,
      acmeEnv,
    );
    assert.deepEqual(
      { strategy: group.strategy, ringTimeoutSec: group.ringTimeoutSec, members: group.members },
      { strategy: 'sequential', ringTimeoutSec: 30, members: [owner.id] },
    );
    const ivr = await json(
      cmd`ivr add --name Menu --option 1=group:${group.id} --option 2=employee:${owner.id} --default group:${group.id}`,
      acmeEnv,
    );
    assert.deepEqual(ivr.options, [
      { digit: '1', target: { type: 'group', id: group.id } },
      { digit: '2', target: { type: 'employee', id: owner.id } },
    ]);
    assert.deepEqual(ivr.defaultTarget, { type: 'group', id: group.id });
    const trunk = await json(
      cmd`trunks add --number +380442246595 --name Main --destination ivr:${ivr.id} --default`,
      acmeEnv,
    );
    assert.deepEqual(trunk.destination, { type: 'ivr', id: ivr.id });
    assert.equal(trunk.isDefault, true);
    assert.deepEqual(trunk.sipPeers, []);
    const peered = await json(
      cmd`trunks update ${trunk.id} --sip-peers ${'203.0.113.7, 2001:DB8::10'}`,
      acmeEnv,
    );
    assert.deepEqual(peered.sipPeers, ['203.0.113.7', '2001:db8::10']);
    const cleared = await json(cmd`trunks update ${trunk.id} --sip-peers none`, acmeEnv);
    assert.deepEqual(cleared.sipPeers, []);
    // The trunk's SIP carrier: one flag, the password write-only (never printed back).
    const carried = await json(
      cmd`trunks update ${trunk.id} --sip-carrier ${'acme:Tr0nk-pass@SIP.Carrier.example:5080;transport=tcp;register'}`,
      acmeEnv,
    );
    assert.deepEqual(carried.sipCarrier, {
      host: 'sip.carrier.example',
      port: 5080,
      transport: 'tcp',
      username: 'acme',
      hasPassword: true,
      register: true,
      // This server runs no SIP engine: nobody has registered it yet.
      registration: {
        state: 'pending',
        expiresAt: null,
        lastStatus: null,
        lastError: null,
        lastAttemptAt: null,
        nextAttemptAt: null,
        failures: 0,
      },
    });
    const listed = await dzvin(cmd`trunks list`, acmeEnv);
    assert.match(listed.stdout, /acme@sip\.carrier\.example:5080;transport=tcp;register/);
    assert.match(listed.stdout, /registration/);
    assert.match(listed.stdout, /pending/);
    assert.ok(!listed.stdout.includes('Tr0nk-pass'), 'the password is never shown');
    const badCarrier = await dzvin(
      cmd`trunks update ${trunk.id} --sip-carrier ${'host;transport=sctp'}`,
      acmeEnv,
    );
    assert.equal(badCarrier.code, 2, badCarrier.stderr);
    assert.match(badCarrier.stderr, /unknown parameter 'transport=sctp'/);
    const simulated = await json(cmd`trunks update ${trunk.id} --sip-carrier none`, acmeEnv);
    assert.equal(simulated.sipCarrier, null);
    // The IVR's recorded greeting: a WAV file uploaded as it is; what the server refuses says why.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-cli-greeting-'));
    const wav = path.join(dir, 'greeting.wav');
    fs.writeFileSync(wav, toneWav(600, 2));
    assert.deepEqual(await json(cmd`ivr greeting ${ivr.id} --file ${wav}`, acmeEnv), {
      id: ivr.id,
      greeting: true,
      seconds: 2,
    });
    const stored = await fetch(`${acme.server.baseUrl}/api/v1/ivr/${ivr.id}/greeting-audio`, {
      headers: { host: acme.host, authorization: `Bearer ${acme.apiKey}` },
    });
    assert.deepEqual(Buffer.from(await stored.arrayBuffer()), fs.readFileSync(wav));
    const notWav = path.join(dir, 'greeting.mp3');
    fs.writeFileSync(notWav, 'ID3 not a wav');
    const refused = await dzvin(cmd`ivr greeting ${ivr.id} --file ${notWav}`, acmeEnv);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /not a WAV file.*sox.*\(HTTP 415\)/s);
    assert.equal((await dzvin(cmd`ivr greeting ${ivr.id}`, acmeEnv)).code, 2, 'neither --file nor --remove');
    assert.deepEqual(await json(cmd`ivr greeting ${ivr.id} --remove`, acmeEnv), {
      id: ivr.id,
      greeting: false,
    });
  });

  test('bad usage is exit 2 and sends nothing', async () => {
    const before = (await acme.admin('GET', '/api/v1/groups')).json().length;
    const runs = await Promise.all(
      [
        cmd`no-such-command`,
        cmd`employees get abc`,
        cmd`groups add --name G --ext 1 --timeout soon`,
        cmd`groups add --name G --ext 1 --strategy random`,
        cmd`employees add --name ${'No ext'}`,
        cmd`employees update 1`,
        cmd`ivr add --name M --option 1=queue:2`,
        cmd`employees list --url ftp://127.0.0.1/`,
      ].map(async (args) => ({ args, r: await dzvin(args, acmeEnv) })),
    );
    for (const { args, r } of runs) {
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.notEqual(r.stderr, '');
    }
    assert.equal((await acme.admin('GET', '/api/v1/groups')).json().length, before);
    const noKey = await dzvin(cmd`employees list`, { DZVIN_URL: server.baseUrl });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /^dzvin: no API key/);
  });

  test('a server that cannot be reached is exit 3, naming the URL tried', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await dzvin(cmd`employees list`, { DZVIN_URL: url, DZVIN_API_KEY: acme.apiKey });
    assert.equal(r.code, 3);
    assert.equal(r.stderr, `dzvin: cannot connect to ${url} (ECONNREFUSED)\n`);
  });

  test('a wrong key is exit 1 with the server’s reason', async () => {
    const r = await dzvin(cmd`account show`, {
      DZVIN_URL: server.baseUrl,
      DZVIN_API_KEY: 'not-a-key-of-anyone-here',
    });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'dzvin: Invalid API key (HTTP 403)\n');
  });
});

describe('dzvin login and profiles', () => {
  let xdg: Record<string, string>;
  let file: string;
  before(() => {
    xdg = { XDG_CONFIG_HOME: path.join(tmp, 'xdg') };
    file = path.join(tmp, 'xdg', 'dzvin', 'profiles.json');
  });

  test('login checks the key, saves the profile 0600 under XDG_CONFIG_HOME, and later commands use it', async () => {
    const r = await dzvin(cmd`login --url ${server.baseUrl} --api-key ${acme.apiKey} --profile acme`, xdg);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {
      acme: { url: server.baseUrl, apiKey: acme.apiKey, domain: 'acme.localhost' },
    });
    assert.equal((await json(cmd`account show --profile acme`, xdg)).domain, 'acme.localhost');
    assert.equal((await json(cmd`account show`, { ...xdg, DZVIN_PROFILE: 'acme' })).domain, 'acme.localhost');
  });

  test('login with a wrong key is exit 1 and saves nothing', async () => {
    const r = await dzvin(
      cmd`login --url ${server.baseUrl} --api-key wrong-key-0123456789 --profile bad`,
      xdg,
    );
    assert.equal(r.code, 1);
    assert.ok(!('bad' in JSON.parse(fs.readFileSync(file, 'utf8'))));
  });

  test('the default profile is read without --profile; flags beat the environment, which beats the profile', async () => {
    const other = await server.account('other.localhost');
    assert.equal((await dzvin(cmd`login --url ${server.baseUrl} --api-key ${acme.apiKey}`, xdg)).code, 0);
    assert.equal((await json(cmd`account show`, xdg)).domain, 'acme.localhost');
    const otherKey = { ...xdg, DZVIN_API_KEY: other.apiKey };
    assert.equal((await json(cmd`account show`, otherKey)).domain, 'other.localhost');
    assert.equal((await json(cmd`account show --api-key ${acme.apiKey}`, otherKey)).domain, 'acme.localhost');
    const closed = { ...xdg, DZVIN_URL: `http://127.0.0.1:${await closedPort()}` };
    assert.equal((await dzvin(cmd`account show`, closed)).code, 3);
    assert.equal((await json(cmd`account show --url ${server.baseUrl}`, closed)).domain, 'acme.localhost');
  });

  test('a profile named but missing is exit 2', async () => {
    const r = await dzvin(cmd`employees list --profile nope`, xdg);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no profile 'nope'/);
  });
});
