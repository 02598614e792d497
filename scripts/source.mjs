// Runs this repository from its TypeScript sources: `node --import ./scripts/source.mjs file.ts`.
//
// Our packages' `exports` point published installs at the compiled dist/ and, under the custom
// condition "dzvin-source", at src/*.ts. This preload turns that condition on for this process
// (a resolve hook) and for every process it starts (NODE_OPTIONS), and registers tsx, so tests,
// benches, `npm start` and the CLI in a clone need no build step. scripts/run-tests.mjs sets the
// same NODE_OPTIONS itself; packages/cli/bin/dzvin.js imports this file when it runs from a clone.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

export const SOURCE_CONDITION = 'dzvin-source';
const FLAG = `--conditions=${SOURCE_CONDITION}`;

if (!(process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(FLAG)) {
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, FLAG].filter(Boolean).join(' ');
}
// Always, even when the flag is set: a worker thread may not have it (env is shared, flags not).
const hook = `export function resolve(specifier, context, next) {
  return context.conditions.includes(${JSON.stringify(SOURCE_CONDITION)})
    ? next(specifier, context)
    : next(specifier, { ...context, conditions: [${JSON.stringify(SOURCE_CONDITION)}, ...context.conditions] });
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
registerTsx();
