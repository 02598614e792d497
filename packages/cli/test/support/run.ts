// Runs the real `dzvin` binary as a shell would, for the CLI tests.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/dzvin.js', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `dzvin args…` with only the environment given (plus PATH and TMPDIR), never the caller's
 * DZVIN_*; pass HOME in `env`.
 */
export function runDzvin(args: string[], env: Record<string, string>): Promise<Run> {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (process.env.TMPDIR) base.TMPDIR = process.env.TMPDIR;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...base, ...env }, timeout: 60_000, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err); // timeout or could not start
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

/** A `dzvin` left running (`listen`, `events tail`): its output so far, and how to end it. */
export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the output so far matches `re` (stream: stdout or stderr); rejects after `ms`. */
  waitFor(stream: 'stdout' | 'stderr', re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal's name) once it has ended. */
  exited: Promise<number | string>;
}

/** Starts `dzvin args…` as a long-running child with only the environment given (plus PATH/TMPDIR). */
export function spawnDzvin(args: string[], env: Record<string, string>): Running {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (process.env.TMPDIR) base.TMPDIR = process.env.TMPDIR;
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...base, ...env }, stdio: 'pipe' });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (t: string) => {
    out.stdout += t;
  });
  child.stderr.setEncoding('utf8').on('data', (t: string) => {
    out.stderr += t;
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    async waitFor(stream, re, ms = 20_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = re.exec(out[stream]);
        if (m) return m;
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${re} on ${stream}; stdout: ${out.stdout}\nstderr: ${out.stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}
