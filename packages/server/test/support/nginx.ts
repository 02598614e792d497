// Debian's nginx running the sample site config (deploy/nginx/dzvin.conf) for tests: in the
// foreground, its prefix, pid, logs and temp paths in a temp dir, stopped by PID. Only the
// addresses change (the upstream processes, Kamailio's WebSocket port, the listen port) and, with
// `tls`, the commented-out certificate lines are filled with a self-signed certificate made by
// openssl in that dir; every limit and timeout is used as shipped.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipOrFail } from './kamailio.ts';
import { sleep, until } from './wait.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const NGINX_SAMPLE = path.join(ROOT, 'deploy/nginx/dzvin.conf');
const DEFAULT_NGINX = '/usr/sbin/nginx';
const OPENSSL = '/usr/bin/openssl';

/** Every nginx started here that still runs: killed if the test process exits first. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export function nginxPath(): string | undefined {
  const env = process.env.DZVIN_TEST_NGINX;
  if (env && fs.existsSync(env)) return env;
  return fs.existsSync(DEFAULT_NGINX) ? DEFAULT_NGINX : undefined;
}

/** Why nginx with TLS cannot run here, or false. Throws under DZVIN_REQUIRE_ALL=1. */
export function nginxTlsSkipReason(): string | false {
  const missing: string[] = [];
  if (!nginxPath())
    missing.push(`nginx (${process.env.DZVIN_TEST_NGINX ?? DEFAULT_NGINX}; apt-get install nginx-light)`);
  if (!fs.existsSync(OPENSSL)) missing.push(`${OPENSSL} (apt-get install openssl)`);
  return skipOrFail('nginx', missing);
}

export interface SiteAddresses {
  /** host:port of each Dzvin process (the `upstream dzvin` lines). */
  upstreams: string[];
  listenPort: number;
  /** host:port of Kamailio's WebSocket listener (`location = /sip`'s proxy_pass). */
  sip?: string;
  /** Certificate and key files: `listen … ssl` with them. */
  tls?: { cert: string; key: string };
}

/** The sample file with these addresses (and certificate); nothing else changes. */
export function renderSite(a: SiteAddresses): string {
  let out = fs.readFileSync(NGINX_SAMPLE, 'utf8');
  const server = /^( *)server 127\.0\.0\.1:\d+( [^;\n]*)?;\n/gm;
  const lines = [...out.matchAll(server)];
  assert.ok(lines.length >= 2, 'the sample upstream lists 127.0.0.1:<port> servers');
  const [indent, params] = [lines[0][1], lines[0][2] ?? ''];
  let first = true;
  out = out.replace(server, () => {
    if (!first) return '';
    first = false;
    return a.upstreams.map((u) => `${indent}server ${u}${params};\n`).join('');
  });
  assert.equal(
    [...out.matchAll(/^ *listen (80|\[::\]:80);\n/gm)].length,
    2,
    'the sample listens on 80 and [::]:80',
  );
  out = out.replace(/^( *)listen 80;\n/m, `$1listen 127.0.0.1:${a.listenPort}${a.tls ? ' ssl' : ''};\n`);
  out = out.replace(/^ *listen \[::\]:80;\n/m, '');
  if (a.tls) {
    const cert = /^( *)# ssl_certificate +\S+;\n/m;
    const key = /^( *)# ssl_certificate_key +\S+;\n/m;
    assert.match(out, cert, 'the sample has a commented-out ssl_certificate line');
    assert.match(out, key, 'the sample has a commented-out ssl_certificate_key line');
    out = out
      .replace(cert, `$1ssl_certificate ${a.tls.cert};\n`)
      .replace(key, `$1ssl_certificate_key ${a.tls.key};\n`);
  }
  if (a.sip) {
    const sip = /^( *)proxy_pass http:\/\/127\.0\.0\.1:8088;\n/gm;
    assert.equal([...out.matchAll(sip)].length, 1, 'location = /sip proxies to 127.0.0.1:8088');
    out = out.replace(sip, `$1proxy_pass http://${a.sip};\n`);
  }
  return out;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A self-signed certificate for 127.0.0.1 and localhost in `dir`. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    OPENSSL,
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  fs.chmodSync(key, 0o644);
  return { cert, key };
}

export interface Nginx {
  port: number;
  /** http(s)://127.0.0.1:port */
  base: string;
  dir: string;
  errorLog(): string;
  accessLog(): string;
  stop(): Promise<void>;
}

/**
 * nginx with the rendered sample, around it what Debian's /etc/nginx/nginx.conf sets around
 * sites-enabled/*. `port` fixes the listen port (a caller that must know the origin first);
 * otherwise a free one, retried when taken meanwhile.
 */
export async function startNginx(
  a: Omit<SiteAddresses, 'listenPort' | 'tls'> & { tls?: boolean; port?: number },
): Promise<Nginx> {
  const found = nginxPath();
  assert.ok(found, 'nginx is installed');
  const bin: string = found;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-nginx-'));
  // nginx started as root runs its workers as nobody: they must reach the temp paths in here.
  fs.chmodSync(dir, 0o755);
  const tls = a.tls ? selfSignedCert(dir) : undefined;
  const conf = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'error.log');
  const read = (f: string) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  for (let attempt = 1; ; attempt++) {
    const port = a.port ?? (await freePort());
    fs.writeFileSync(path.join(dir, 'dzvin.conf'), renderSite({ ...a, listenPort: port, tls }));
    fs.writeFileSync(
      conf,
      [
        'daemon off;',
        'worker_processes 1;',
        `pid ${dir}/nginx.pid;`,
        `error_log ${errorLog} info;`,
        'events { worker_connections 512; }',
        'http {',
        '  sendfile on;',
        '  tcp_nopush on;',
        '  types_hash_max_size 2048;',
        '  default_type application/octet-stream;',
        `  access_log ${dir}/access.log;`,
        '  ssl_protocols TLSv1.2 TLSv1.3;',
        '  gzip on;',
        `  client_body_temp_path ${dir}/body;`,
        `  proxy_temp_path ${dir}/proxy;`,
        `  fastcgi_temp_path ${dir}/fastcgi;`,
        `  uwsgi_temp_path ${dir}/uwsgi;`,
        `  scgi_temp_path ${dir}/scgi;`,
        `  include ${dir}/dzvin.conf;`,
        '}',
        '',
      ].join('\n'),
    );
    const args = ['-p', `${dir}/`, '-c', conf, '-e', errorLog];
    const check = spawnSync(bin, [...args, '-t'], { encoding: 'utf8' });
    assert.equal(check.status, 0, `nginx -t rejects the sample config:\n${check.stderr}${check.stdout}`);
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (c) => {
      out += c;
    });
    child.stderr?.on('data', (c) => {
      out += c;
    });
    running.add(child);
    const exited = new Promise<void>((r) =>
      child.once('exit', () => {
        running.delete(child);
        r();
      }),
    );
    const up = await until(
      async () =>
        child.exitCode !== null
          ? 'exited'
          : await new Promise<string | false>((r) => {
              const s = net.connect(port, '127.0.0.1', () => {
                s.destroy();
                r('up');
              });
              s.on('error', () => r(false));
            }),
      'nginx to listen',
    ).catch(() => 'timeout');
    if (up === 'up') {
      return {
        port,
        base: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
        dir,
        errorLog: () => read(errorLog),
        accessLog: () => read(path.join(dir, 'access.log')),
        async stop() {
          await stopChild(child, exited);
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await stopChild(child, exited);
    if (a.port || attempt >= 3 || !/Address already in use/.test(read(errorLog) + out)) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start (${up}):\n${out}\n${read(errorLog)}`);
    }
  }
}

/**
 * SIGTERM (nginx's fast shutdown: open WebSockets are closed, where SIGQUIT would wait for them),
 * SIGKILL after 10 s.
 */
async function stopChild(child: ChildProcess, exited: Promise<void>) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
  }
}
