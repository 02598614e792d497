import { Worker } from 'node:worker_threads';

/**
 * Starts the worker thread `./<name>.js` next to `callerUrl` (the caller's `import.meta.url`), or
 * `./<name>.ts` when the caller runs from the TypeScript sources (this repository). Workers do not
 * inherit the main thread's loader hooks on Node 20: from the sources the worker registers tsx
 * itself and resolves our packages to their sources (scripts/source.mjs's condition; a process
 * started with `--import ./scripts/source.mjs` has it in NODE_OPTIONS for its children only).
 *
 * @example
 * const worker = spawnWorker(import.meta.url, 'media-worker', MEDIA_WORKER);
 */
export function spawnWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => m.register()).then(() => import(${JSON.stringify(entry)}))`;
  const execArgv = [...process.execArgv, '--conditions=dzvin-source'];
  return new Worker(code, { eval: true, workerData, execArgv });
}
