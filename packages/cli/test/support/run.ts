// Runs the real `dzvin` binary as a shell would, for the CLI tests.
import { execFile } from 'node:child_process';
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
      { env: { ...base, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err); // timeout or could not start
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}
