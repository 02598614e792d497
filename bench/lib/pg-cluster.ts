// A throwaway PostgreSQL cluster for a bench (the approach of scripts/run-tests.mjs): initdb
// under os.tmpdir() (as the `postgres` user through runuser when we are root), loopback only,
// fsync off; stopped and removed by `stop()`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function findBinDir(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':'))
    if (fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl')))
      return path.dirname(fs.realpathSync(path.join(dir, 'initdb')));
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return null;
  for (const v of fs.readdirSync(base).sort((a, b) => Number(b) - Number(a))) {
    const dir = path.join(base, v, 'bin');
    if (fs.existsSync(path.join(dir, 'initdb'))) return dir;
  }
  return null;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

export interface PgCluster {
  url: string;
  stop(): void;
}

/** Starts a cluster, or answers null with the reason when PostgreSQL is not installed. */
export async function startPgCluster(): Promise<PgCluster | { missing: string }> {
  const bin = findBinDir();
  if (!bin) return { missing: 'PostgreSQL server binaries not found' };
  const asPostgres = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-bench-pg-'));
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock);
  if (asPostgres) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    for (const p of [dir, sock]) fs.chownSync(p, uid, gid);
  }
  const run = (tool: string, args: string[]) => {
    const exe = path.join(bin, tool);
    const [cmd, argv] = asPostgres ? ['runuser', ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
    return spawnSync(cmd, argv, { encoding: 'utf8', cwd: dir });
  };
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
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  fs.appendFileSync(
    path.join(data, 'postgresql.conf'),
    `\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${sock}'\nport = ${port}\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n`,
  );
  const start = run('pg_ctl', ['start', '-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '30']);
  const stop = () => {
    run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30']);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  if (start.status !== 0) {
    stop();
    throw new Error(`pg_ctl start failed: ${start.stderr}`);
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop };
}
