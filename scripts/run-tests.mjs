#!/usr/bin/env node
// Test runner behind `npm test`.
//
// - Collects every `*.test.ts` under packages/*/test/ and bench/test/ (sorted). Extra CLI
//   arguments keep only files whose repo-relative path contains one of them
//   (`npm test -- contacts`).
// - Starts one throwaway PostgreSQL cluster for the whole run when the server binaries are
//   present and exports DZVIN_TEST_PG_URL to the tests. A DZVIN_TEST_PG_URL already set in the
//   environment is used as is (no cluster is started). DZVIN_TEST_PG_BINDIR forces the
//   directory holding initdb/pg_ctl/postgres (a directory without them means "no PostgreSQL").
// - Exports DZVIN_TEST_CHROMIUM when /usr/bin/chromium exists, DZVIN_TEST_NGINX when
//   /usr/sbin/nginx does (the reverse-proxy test).
// - Whatever is missing is reported loudly and its suites are skipped, unless
//   DZVIN_REQUIRE_ALL=1, which turns a missing PostgreSQL into a failure.
// - Runs `node --import tsx --test ...` with `--conditions=dzvin-source` in NODE_OPTIONS (our
//   packages from their sources) (a file's process exits once its tests are done, and a
//   file taking over 30 minutes fails: a failure fails the run, it never hangs it), then stops
//   PostgreSQL and removes its directory (also on SIGINT/SIGTERM), and exits with the test
//   process's exit code.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REQUIRE_ALL = process.env.DZVIN_REQUIRE_ALL === '1';
const CHROMIUM = '/usr/bin/chromium';
const NGINX = '/usr/sbin/nginx';
const PG_START_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Output helpers

function loud(title, lines) {
  const bar = '!'.repeat(78);
  const body = [bar, `!!! ${title}`, ...lines.map((l) => `!!!   ${l}`), bar].join('\n');
  process.stderr.write(`\n${body}\n\n`);
}

function info(msg) {
  process.stderr.write(`[run-tests] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Test files

function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(p);
  }
}

function collectTestFiles(filters) {
  const dirs = [];
  const pkgs = path.join(ROOT, 'packages');
  for (const name of fs.existsSync(pkgs) ? fs.readdirSync(pkgs) : []) {
    dirs.push(path.join(pkgs, name, 'test'));
  }
  dirs.push(path.join(ROOT, 'bench', 'test'));
  const files = [];
  for (const d of dirs) walk(d, files);
  const rel = files.map((f) => path.relative(ROOT, f).split(path.sep).join('/'));
  rel.sort();
  return filters.length === 0 ? rel : rel.filter((f) => filters.some((s) => f.includes(s)));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

const PG_TOOLS = ['initdb', 'pg_ctl', 'postgres'];

function hasTools(dir) {
  return PG_TOOLS.every((t) => {
    try {
      fs.accessSync(path.join(dir, t), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function findPgBinDir() {
  if (process.env.DZVIN_TEST_PG_BINDIR !== undefined) {
    const d = process.env.DZVIN_TEST_PG_BINDIR;
    return d && hasTools(d) ? d : undefined;
  }
  // PATH first: a directory that has all three, or (for symlinks like /usr/local/bin/initdb)
  // the directory initdb really lives in.
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const initdb = path.join(dir, 'initdb');
    if (!fs.existsSync(initdb)) continue;
    let real;
    try {
      real = path.dirname(fs.realpathSync(initdb));
    } catch {
      continue;
    }
    if (hasTools(real)) return real;
    if (hasTools(dir)) return dir;
  }
  // Debian/Ubuntu layout, highest version first.
  const base = '/usr/lib/postgresql';
  let versions = [];
  try {
    versions = fs.readdirSync(base);
  } catch {
    return undefined;
  }
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a) || b.localeCompare(a));
  for (const v of versions) {
    const dir = path.join(base, v, 'bin');
    if (hasTools(dir)) return dir;
  }
  return undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(file, n = 40) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no server log)';
  }
}

/** State of the cluster we started; `cleanupPg` undoes whatever of it exists. */
const pg = { dir: undefined, dataDir: undefined, binDir: undefined, asPostgres: false, started: false };

/** Runs a PostgreSQL tool synchronously, as the `postgres` user when we are root. */
function runPgTool(tool, args, opts = {}) {
  const exe = path.join(pg.binDir, tool);
  const [cmd, argv] = pg.asPostgres ? ['runuser', ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
  return spawnSync(cmd, argv, { encoding: 'utf8', cwd: pg.dir, ...opts });
}

function cleanupPg() {
  if (pg.started) {
    pg.started = false;
    const r = runPgTool('pg_ctl', ['stop', '-D', pg.dataDir, '-m', 'immediate', '-w', '-t', '30'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (r.status !== 0) info(`pg_ctl stop failed: ${(r.stderr ?? '').trim() || r.error?.message}`);
  }
  if (pg.dir) {
    const dir = pg.dir;
    pg.dir = undefined;
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      info(`could not remove ${dir}: ${e.message}`);
    }
  }
}

/** Starts the cluster. Resolves to the URL, or throws an Error whose message is the reason. */
async function startPostgres() {
  pg.binDir = findPgBinDir();
  if (!pg.binDir) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in PATH or /usr/lib/postgresql/*/bin',
    );
  }
  pg.asPostgres = typeof process.getuid === 'function' && process.getuid() === 0;
  let uid;
  let gid;
  if (pg.asPostgres) {
    const id = (flag) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    const u = id('-u');
    const g = id('-g');
    if (u.status !== 0 || g.status !== 0) {
      throw new Error('running as root, but there is no `postgres` OS user to run initdb/postgres as');
    }
    uid = Number(u.stdout.trim());
    gid = Number(g.stdout.trim());
    if (spawnSync('runuser', ['--help'], { stdio: 'ignore' }).error) {
      throw new Error('running as root, but `runuser` is not available to drop to the postgres user');
    }
  }

  pg.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-pg-'));
  pg.dataDir = path.join(pg.dir, 'data');
  const sockDir = path.join(pg.dir, 'sock');
  const logFile = path.join(pg.dir, 'server.log');
  fs.mkdirSync(sockDir);
  if (pg.asPostgres) {
    for (const p of [pg.dir, sockDir]) fs.chownSync(p, uid, gid);
  }

  info(`starting PostgreSQL from ${pg.binDir} in ${pg.dir}`);
  const init = runPgTool('initdb', [
    '-D',
    pg.dataDir,
    '-A',
    'trust',
    '-U',
    'postgres',
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  if (init.status !== 0) {
    const out = `${init.stdout ?? ''}${init.stderr ?? ''}`.trim() || init.error?.message;
    throw new Error(`initdb failed (exit ${init.status}):\n${out}`);
  }
  const conf = path.join(pg.dataDir, 'postgresql.conf');
  fs.appendFileSync(
    conf,
    [
      '',
      '# dzvin test cluster',
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${sockDir}'`,
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 200',
      '',
    ].join('\n'),
  );

  // Binding port 0 and closing leaves a small race; retry with a new port if the start fails.
  let lastError = 'unknown error';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    fs.appendFileSync(conf, `port = ${port}\n`); // the last setting in the file wins
    pg.started = true; // from here on, try to stop it whatever happens
    const start = runPgTool('pg_ctl', [
      'start',
      '-D',
      pg.dataDir,
      '-l',
      logFile,
      '-w',
      '-t',
      String(PG_START_TIMEOUT_MS / 1000),
    ]);
    if (start.status === 0 && (await waitReady(port))) {
      return `postgres://postgres@127.0.0.1:${port}/postgres`;
    }
    lastError = `pg_ctl start failed (exit ${start.status}) on port ${port}: ${
      `${start.stdout ?? ''}${start.stderr ?? ''}`.trim() || start.error?.message || 'not ready in time'
    }`;
    cleanupStartAttempt();
  }
  throw new Error(`${lastError}\n--- PostgreSQL server log (tail) ---\n${tail(logFile)}`);
}

const pgBinDirFound = () => pg.binDir !== undefined;

function cleanupStartAttempt() {
  if (!pg.started) return;
  pg.started = false;
  runPgTool('pg_ctl', ['stop', '-D', pg.dataDir, '-m', 'immediate', '-w', '-t', '10'], { stdio: 'ignore' });
}

async function waitReady(port) {
  const isready = path.join(pg.binDir, 'pg_isready');
  const haveIsready = fs.existsSync(isready);
  const deadline = Date.now() + PG_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (haveIsready) {
      const r = spawnSync(isready, [
        '-q',
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-t',
        '2',
      ]);
      if (r.status === 0) return true;
    } else if (await canConnect(port)) {
      return true;
    }
    await sleep(200);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Main

let child;
let signalled;

function onSignal(sig) {
  if (signalled) {
    // Second signal: stop waiting for the tests.
    child?.kill('SIGKILL');
    cleanupPg();
    process.exit(130);
  }
  signalled = sig;
  info(`received ${sig}, stopping tests and PostgreSQL`);
  if (child && child.exitCode === null && child.signalCode === null) child.kill(sig);
  else {
    cleanupPg();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  }
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);
process.on('exit', cleanupPg); // last resort; cleanupPg is synchronous and idempotent
process.on('uncaughtException', (e) => {
  process.stderr.write(`[run-tests] ${e?.stack ?? e}\n`);
  cleanupPg();
  process.exit(1);
});

async function main() {
  const filters = process.argv.slice(2);
  const files = collectTestFiles(filters);
  if (files.length === 0) {
    info(
      filters.length
        ? `no test files match ${filters.map((f) => JSON.stringify(f)).join(', ')}`
        : 'no test files found',
    );
    return 1;
  }

  const env = { ...process.env };
  // Our packages resolve to their TypeScript sources (the "dzvin-source" export condition, see
  // scripts/source.mjs), in the test process and in every process a test starts.
  const sourceFlag = '--conditions=dzvin-source';
  if (!(env.NODE_OPTIONS ?? '').split(/\s+/).includes(sourceFlag)) {
    env.NODE_OPTIONS = [env.NODE_OPTIONS, sourceFlag].filter(Boolean).join(' ');
  }

  if (env.DZVIN_TEST_PG_URL) {
    info(`using the PostgreSQL server given in DZVIN_TEST_PG_URL (${env.DZVIN_TEST_PG_URL})`);
  } else {
    try {
      env.DZVIN_TEST_PG_URL = await startPostgres();
      info(`PostgreSQL is up: ${env.DZVIN_TEST_PG_URL}`);
    } catch (e) {
      cleanupPg();
      const reason = e instanceof Error ? e.message : String(e);
      if (signalled) return signalled === 'SIGINT' ? 130 : 143;
      if (REQUIRE_ALL) {
        loud('PostgreSQL is required (DZVIN_REQUIRE_ALL=1) but is not available:', reason.split('\n'));
        return 1;
      }
      loud('POSTGRESQL IS NOT AVAILABLE - THE POSTGRESQL TEST SUITES WILL BE SKIPPED', [
        ...reason.split('\n'),
        '',
        pgBinDirFound()
          ? 'Fix the PostgreSQL start-up above to run them,'
          : 'Install the PostgreSQL server (e.g. `apt-get install postgresql`) to run them,',
        'or set DZVIN_TEST_PG_URL to a server you can create databases on.',
        'Set DZVIN_REQUIRE_ALL=1 to make this a failure.',
      ]);
    }
  }

  if (env.DZVIN_TEST_CHROMIUM && fs.existsSync(env.DZVIN_TEST_CHROMIUM)) {
    info(`using Chromium from DZVIN_TEST_CHROMIUM (${env.DZVIN_TEST_CHROMIUM})`);
  } else if (fs.existsSync(CHROMIUM)) {
    env.DZVIN_TEST_CHROMIUM = CHROMIUM;
  } else {
    delete env.DZVIN_TEST_CHROMIUM;
    loud('CHROMIUM IS NOT AVAILABLE - BROWSER TEST SUITES WILL BE SKIPPED', [
      `${CHROMIUM} does not exist. Install it (e.g. \`apt-get install chromium\`) to run them.`,
    ]);
  }

  if (env.DZVIN_TEST_NGINX && fs.existsSync(env.DZVIN_TEST_NGINX)) {
    info(`using nginx from DZVIN_TEST_NGINX (${env.DZVIN_TEST_NGINX})`);
  } else if (fs.existsSync(NGINX)) {
    env.DZVIN_TEST_NGINX = NGINX;
  } else {
    delete env.DZVIN_TEST_NGINX;
    loud('NGINX IS NOT AVAILABLE - THE REVERSE-PROXY TEST SUITE WILL BE SKIPPED', [
      `${NGINX} does not exist. Install it (e.g. \`apt-get install nginx-light\`) to run it.`,
    ]);
  }

  if (signalled) {
    cleanupPg();
    return signalled === 'SIGINT' ? 130 : 143;
  }

  info(`running ${files.length} test file(s)`);
  // A failed test can leave what it would have closed at its end (a receiver, a server) open: the
  // file's process then never exits and the run would hang until CI's limit. Force the exit once
  // a file's tests are done, and give up on a file (Node 20 applies --test-timeout to each file as
  // well as to each test) after 30 minutes: the slowest file takes about 2.
  const args = [
    '--import',
    'tsx',
    // Lets each file's last results reach the runner before --test-force-exit ends it.
    '--import',
    path.join(ROOT, 'scripts/test-drain.mjs'),
    '--test',
    '--test-concurrency=2',
    '--test-force-exit',
    '--test-timeout=1800000',
    '--test-reporter=spec',
    ...files,
  ];
  child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: 'inherit' });
  const code = await new Promise((resolve) => {
    child.on('error', (e) => {
      info(`could not start the test process: ${e.message}`);
      resolve(1);
    });
    child.on('exit', (c, sig) => {
      if (c !== null) resolve(c);
      else resolve(128 + (os.constants.signals[sig] ?? 1));
    });
  });
  cleanupPg();
  return code;
}

main().then(
  (code) => {
    cleanupPg();
    process.exit(code);
  },
  (e) => {
    process.stderr.write(`[run-tests] ${e?.stack ?? e}\n`);
    cleanupPg();
    process.exit(1);
  },
);
