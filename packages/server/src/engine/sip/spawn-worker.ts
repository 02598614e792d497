import { Worker } from 'node:worker_threads';

/**
 * Starts the worker thread `./<name>.js` next to `callerUrl` (the caller's `import.meta.url`), or
 * `./<name>.ts` when the caller runs from the TypeScript sources (this repository). Workers do not
 * inherit the main thread's loader hooks on Node 20: from the sources the worker registers tsx
 * itself and resolves our packages to their sources (scripts/source.mjs's condition; a process
 * started with `--import ./scripts/source.mjs` has it in NODE_OPTIONS for its children only).
 * The worker gets the main thread's options except those a worker refuses (V8's and per-process
 * ones: `node --max-old-space-size=4096 packages/cli/bin/dzvin.js serve` from a clone otherwise
 * ended at the first worker with ERR_WORKER_INVALID_EXEC_ARGV); they apply to the whole process
 * anyway. A built worker (no execArgv given) inherits them the same way, and Node drops those.
 *
 * @example
 * const worker = spawnWorker(import.meta.url, 'media-worker', MEDIA_WORKER);
 */
export function spawnWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => m.register()).then(() => import(${JSON.stringify(entry)}))`;
  let execArgv = [...process.execArgv, '--conditions=dzvin-source'];
  for (;;) {
    try {
      return new Worker(code, { eval: true, workerData, execArgv });
    } catch (err) {
      const refused = refusedOptions(err);
      const kept = execArgv.filter((a) => !refused.has(a));
      if (kept.length === execArgv.length) throw err;
      execArgv = kept;
    }
  }
}

/** The options a `new Worker` refused, from its ERR_WORKER_INVALID_EXEC_ARGV (`…flags: --a, --b`). */
function refusedOptions(err: unknown): Set<string> {
  const e = err as { code?: string; message?: string };
  if (e?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || !e.message) return new Set();
  const list = e.message.slice(e.message.indexOf(': ') + 2);
  return new Set(list.split(', ').map((a) => a.trim()));
}
