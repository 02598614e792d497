// A throwaway PostgreSQL cluster for the benches (webhooks) and the proof (as scripts/run-tests.mjs starts one for
// the tests): Debian's server binaries, initdb in a temp dir, 127.0.0.1 on a free port, run as the
// `postgres` OS user when we are root. `null` when no PostgreSQL is installed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Cluster {
  url: string;
  /** The cluster's data directory (its postmaster.pid names the server process). */
  dataDir: string;
  /** `pg_ctl <action>` on this cluster (the proof stops and starts it as a fault); true when it succeeded. */
  ctl(action: 'start' | 'stop'): boolean;
  stop(): void;
}

function binDir(): string | null {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base) : [];
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const v of versions) {
    const dir = path.join(base, v, 'bin');
    if (['initdb', 'pg_ctl', 'postgres'].every((t) => fs.existsSync(path.join(dir, t)))) return dir;
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<Cluster | null> {
  const bin = binDir();
  if (!bin) return null;
  const root = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-proof-pg-'));
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock);
  if (root) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    for (const p of [dir, sock]) fs.chownSync(p, uid, gid);
  }
  const run = (tool: string, args: string[]) => {
    const exe = path.join(bin, tool);
    const [cmd, argv] = root ? ['runuser', ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
    return spawnSync(cmd, argv, { encoding: 'utf8', cwd: dir });
  };
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  const init = run('initdb', [
    '-D',
    data,
    '-A',
    'trust',
    '-U',
    'postgres',
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  if (init.status !== 0) {
    cleanup();
    throw new Error(`initdb failed: ${init.stderr}`);
  }
  const port = await freePort();
  fs.appendFileSync(
    path.join(data, 'postgresql.conf'),
    `\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${sock}'\nport = ${port}\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n`,
  );
  const start = run('pg_ctl', ['start', '-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '30']);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-t', '30']);
    cleanup();
  };
  process.on('exit', stop);
  if (start.status !== 0) {
    stop();
    throw new Error(`pg_ctl start failed: ${start.stderr}`);
  }
  const ctl = (action: 'start' | 'stop') =>
    !stopped &&
    run(
      'pg_ctl',
      action === 'stop'
        ? ['stop', '-D', data, '-m', 'fast', '-w', '-t', '30']
        : ['start', '-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '30'],
    ).status === 0;
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, dataDir: data, ctl, stop };
}
