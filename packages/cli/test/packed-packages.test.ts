// The packages as an integrator gets them (issue 17): `npm pack` of protocol, sdk, server and cli
// (their prepack compiles dist/), publint and arethetypeswrong on each tarball, `dzvin` installed
// globally from the tarballs into a temporary prefix and started (compiled JavaScript, no tsx),
// and fresh projects — plain ESM, CommonJS, TypeScript with moduleResolution node16 and bundler —
// that install the tarballs and use them against that Dzvin on loopback.
//
// Installs prefer the cache (`npm install --prefer-offline`): third-party tarballs come from the npm cache
// `npm ci` filled. better-sqlite3's native build is the one thing a cached install cannot make
// (its install script downloads or compiles it): the install skips scripts and copies the
// workspace's build of the same version, for the same Node. No process here resolves our packages
// to their sources: the "dzvin-source" condition is removed from the children's NODE_OPTIONS.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SUPPORT = path.join(ROOT, 'packages/cli/test/support/packed');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const ATTW = path.join(ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js');
const PACKAGES = ['protocol', 'sdk', 'server', 'cli'] as const;

const env: NodeJS.ProcessEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' };
env.NODE_OPTIONS = (env.NODE_OPTIONS ?? '')
  .split(/\s+/)
  .filter((o) => o && o !== '--conditions=dzvin-source')
  .join(' ');
for (const k of Object.keys(env))
  if (k.startsWith('npm_package_') || k === 'npm_lifecycle_event') delete env[k];

let tmp: string;
const tarballs = {} as Record<(typeof PACKAGES)[number], string>;
let server: ChildProcess | undefined;
let baseUrl: string;
let domain: string;
let apiKey: string;
let dzvinBin: string;

let lastStderr = '';
function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeout = 240_000,
  extraEnv: NodeJS.ProcessEnv = {},
): string {
  const r = spawnSync(cmd, args, {
    cwd,
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 * 1024 * 1024,
  });
  lastStderr = r.stderr ?? '';
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${r.stdout}\n${r.stderr}${r.error ?? ''}`,
  );
  return r.stdout;
}

function project(name: string, type: 'module' | 'commonjs'): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, private: true, type }));
  run('npm', ['install', '--prefer-offline', '--no-package-lock', tarballs.protocol, tarballs.sdk], dir);
  return dir;
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-packed-'));
  const packed = JSON.parse(
    run(
      'npm',
      ['pack', '--json', '--pack-destination', tmp, ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])],
      ROOT,
      600_000,
      // prepack's tsc emits without re-checking the sources (npm run typecheck does); the
      // declarations it writes are type-checked below from an integrator's project.
      { DZVIN_BUILD_NO_CHECK: '1' },
    ),
  ) as { name: string; filename: string }[];
  for (const p of PACKAGES) {
    const entry = packed.find((e) => e.name === `@dzvin/${p}`);
    assert.ok(entry, `npm pack made no @dzvin/${p}`);
    tarballs[p] = path.join(tmp, entry.filename);
  }

  // `npm i -g ./dzvin-cli-*.tgz` into a prefix of our own.
  const prefix = path.join(tmp, 'global');
  run(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--ignore-scripts',
      ...PACKAGES.map((p) => tarballs[p]),
    ],
    tmp,
  );
  // Fresh resolution, no root overrides: every dependency must still run on Node 20.
  assert.doesNotMatch(lastStderr, /EBADENGINE/, lastStderr);
  const sqlite = path.join(prefix, 'lib/node_modules/@dzvin/server/node_modules/better-sqlite3');
  assert.ok(fs.existsSync(sqlite), 'better-sqlite3 is installed with the server');
  fs.cpSync(path.join(ROOT, 'node_modules/better-sqlite3/build'), path.join(sqlite, 'build'), {
    recursive: true,
  });
  dzvinBin = path.join(prefix, 'bin/dzvin');

  const data = path.join(tmp, 'serve');
  fs.mkdirSync(data);
  server = spawn(dzvinBin, ['serve'], {
    cwd: data,
    env: { ...env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  server.stderr?.on('data', (c) => {
    err += c;
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`dzvin serve did not start:\n${out}\n${err}`)), 60_000);
    server?.once('exit', (code) => reject(new Error(`dzvin serve exited (${code}):\n${out}\n${err}`)));
    server?.stdout?.on('data', (c) => {
      out += c;
      const listening = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      const key = /API key:\s+(\S+)/.exec(out);
      const demo = /Demo account: (\S+)/.exec(out);
      if (listening && key && demo && /Try:/.test(out)) {
        clearTimeout(t);
        [baseUrl, apiKey, domain] = [listening[1], key[1], demo[1]];
        resolve();
      }
    });
  });
});

after(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server?.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// The tests run concurrently: the TypeScript one (first) spends most of its time in two tsc
// processes, which check while the others run (the synchronous steps still take turns).
describe('the packed packages', { concurrency: true }, () => {
  test('TypeScript: tsc --noEmit passes with moduleResolution node16 (ESM and .cts) and bundler', async () => {
    const dir = project('ts-app', 'module');
    fs.copyFileSync(path.join(SUPPORT, 'check.ts'), path.join(dir, 'check.ts'));
    fs.copyFileSync(path.join(SUPPORT, 'check-cjs.cts'), path.join(dir, 'check-cjs.cts'));
    const base = {
      strict: true,
      noEmit: true,
      target: 'es2022',
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules/@types')],
    };
    // node16 with tsc's default skipLibCheck: false also checks every shipped .d.ts (ESM and
    // CJS copies). bundler resolves the same files through other conditions; checking them a
    // second time would only repeat typebox's own declarations (~30 s of CPU), so it skips them.
    const configs = {
      'tsconfig.node16.json': {
        compilerOptions: { ...base, skipLibCheck: false, module: 'node16', moduleResolution: 'node16' },
        files: ['check.ts', 'check-cjs.cts'],
      },
      'tsconfig.bundler.json': {
        compilerOptions: { ...base, skipLibCheck: true, module: 'esnext', moduleResolution: 'bundler' },
        files: ['check.ts'],
      },
    };
    // Both at once (two cores): tsc is single-threaded.
    const results = await Promise.all(
      Object.entries(configs).map(([file, config]) => {
        fs.writeFileSync(path.join(dir, file), JSON.stringify(config));
        return new Promise<string>((resolve) => {
          execFile(process.execPath, [TSC, '-p', file], { cwd: dir, env, timeout: 180_000 }, (err, out) =>
            resolve(err ? `${file}: ${err.message}\n${out}` : ''),
          );
        });
      }),
    );
    assert.deepEqual(results.filter(Boolean), []);
  });

  test('publint finds nothing in any tarball (warnings included)', async () => {
    for (const p of PACKAGES) {
      const buf = fs.readFileSync(tarballs[p]);
      const tarball = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
      const { messages, pkg } = await publint({ pack: { tarball }, level: 'suggestion', strict: true });
      assert.deepEqual(
        messages.map((m) => `${m.type}: ${formatMessage(m, pkg)}`),
        [],
        `@dzvin/${p}`,
      );
    }
  });

  test('arethetypeswrong finds no problem (node16 ESM and CJS, bundler; server: ESM only)', () => {
    for (const [p, profile] of [
      ['protocol', 'node16'],
      ['sdk', 'node16'],
      ['server', 'esm-only'],
    ] as const) {
      run(process.execPath, [ATTW, tarballs[p], '--profile', profile, '--format', 'table-flipped'], tmp);
    }
  });

  test('ship compiled JavaScript with declarations and maps, no tsx, no dev dependencies', () => {
    for (const p of PACKAGES) {
      const listing = run('tar', ['-tzf', tarballs[p]], tmp).split('\n');
      assert.ok(listing.includes('package/dist/index.js') || listing.includes('package/dist/main.js'), p);
      if (p !== 'cli')
        assert.ok(
          listing.includes('package/dist/index.d.ts') && listing.includes('package/dist/index.js.map'),
          p,
        );
      assert.ok(!listing.some((f) => f.startsWith('package/test/')), `${p} ships no tests`);
      const manifest = JSON.parse(run('tar', ['-xzOf', tarballs[p], 'package/package.json'], tmp));
      assert.equal(manifest.devDependencies, undefined, p);
      assert.ok(!('tsx' in (manifest.dependencies ?? {})), `${p} needs no tsx`);
    }
    const server = run('tar', ['-tzf', tarballs.server], tmp).split('\n');
    assert.ok(server.includes('package/public/index.html'), 'the server ships the built console');
  });

  test('the globally installed dzvin runs compiled JavaScript: serve (started above), calls, listen', async () => {
    assert.ok(!fs.existsSync(path.join(tmp, 'global/lib/node_modules/tsx')), 'tsx is not installed');
    assert.ok(!fs.existsSync(path.join(tmp, 'global/lib/node_modules/@dzvin/cli/node_modules/tsx')));
    assert.match(run(dzvinBin, ['--version'], tmp), /^0\.1\.0/);
    const home = path.join(tmp, 'home');
    fs.mkdirSync(home, { recursive: true });
    const as = { ...env, HOME: home, DZVIN_URL: baseUrl, DZVIN_DOMAIN: domain, DZVIN_API_KEY: apiKey };
    const active = spawnSync(dzvinBin, ['calls', 'active', '--json'], {
      cwd: tmp,
      env: as,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(active.status, 0, active.stderr);
    assert.ok(Array.isArray(JSON.parse(active.stdout)), active.stdout);
    const employees = spawnSync(dzvinBin, ['employees', 'list', '--json'], {
      cwd: tmp,
      env: as,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(employees.status, 0, employees.stderr);
    assert.ok(
      JSON.parse(employees.stdout).some((e: { ext: string }) => e.ext === '001'),
      employees.stdout,
    );
    await new Promise<void>((resolve, reject) => {
      const listen = spawn(dzvinBin, ['listen', '--port', '0'], {
        cwd: tmp,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      let found = false;
      // The other tests run meanwhile and block the event loop while they wait for their
      // commands, so the timer may fire late with output still unread: setImmediate lets the
      // pending output be read first.
      const t = setTimeout(
        () =>
          setImmediate(() => {
            if (found) return;
            listen.kill();
            reject(new Error(`dzvin listen printed no address: ${text}`));
          }),
        60_000,
      );
      const onData = (c: Buffer) => {
        text += c;
        if (!found && /127\.0\.0\.1:\d+/.test(text)) {
          found = true;
          clearTimeout(t);
          listen.kill('SIGINT');
          listen.once('exit', () => resolve());
        }
      };
      listen.stdout.on('data', onData);
      listen.stderr.on('data', onData);
    });
  });

  test('plain ESM: sign in, list users, make a call, its webhooks through createWebhookHandler, history', () => {
    const dir = project('esm-app', 'module');
    fs.copyFileSync(path.join(SUPPORT, 'integrator.mjs'), path.join(dir, 'app.mjs'));
    const r = JSON.parse(
      run(process.execPath, ['app.mjs', baseUrl, domain, apiKey], dir, 60_000).trim().split('\n').at(-1) ??
        '',
    );
    assert.ok(r.users.includes('001'), JSON.stringify(r));
    assert.deepEqual(r.events.slice(0, 1), ['call.dial']);
    assert.ok(r.events.includes('call.hangup'), JSON.stringify(r));
    assert.ok(r.history.includes(r.uuid), 'the call is in the paged history');
    assert.equal(r.contactSchema, true);
  });

  test('CommonJS: require() of the sdk, its subpaths and the protocol', () => {
    const dir = project('cjs-app', 'commonjs');
    fs.copyFileSync(path.join(SUPPORT, 'integrator.cjs'), path.join(dir, 'app.cjs'));
    const r = JSON.parse(
      run(process.execPath, ['app.cjs', baseUrl, domain, apiKey], dir, 60_000).trim().split('\n').at(-1) ??
        '',
    );
    assert.deepEqual(r, {
      users: r.users,
      delivered: 200,
      got: ['call.dial'],
      sameHandler: true,
      contactSchema: true,
      fixture: true,
    });
    assert.ok(r.users.includes('001'));
  });

  test('npm publish --dry-run is clean for each public package', () => {
    for (const p of PACKAGES) {
      const r = spawnSync('npm', ['publish', '--dry-run', '--ignore-scripts', tarballs[p]], {
        cwd: tmp,
        env,
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `${p}: ${r.stderr}`);
      // Not being logged in to the registry is this machine's state, not the package's.
      const warnings = r.stderr
        .split('\n')
        .filter((l) => /npm warn/i.test(l) && !/requires you to be logged in/.test(l));
      assert.deepEqual(warnings, [], `${p}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`name: +@dzvin/${p}`), 'the dry run names the package');
    }
  });
});
