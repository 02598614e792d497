// Starts support/app-child.ts (a Dzvin server process over a SQLite file) with `env`, and
// collects the lines it prints: for tests that SIGKILL a server and start it again.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export interface AppChild {
  p: ChildProcess;
  /** Every line printed so far (`ready`, `metric …`, `committed <uuid>`, `up <uuid>`). */
  lines: string[];
  exited: Promise<void>;
}

export function spawnAppChild(env: Record<string, string>): AppChild {
  const p = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'app-child.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let rest = '';
  p.stdout?.on('data', (c: Buffer) => {
    rest += c.toString();
    const all = rest.split('\n');
    rest = all.pop() ?? '';
    lines.push(...all);
  });
  const exited = new Promise<void>((resolve) => p.on('exit', () => resolve()));
  return { p, lines, exited };
}
