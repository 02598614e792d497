#!/usr/bin/env node
// Installed from a package, `dzvin` runs the compiled JavaScript in dist/ (built by `npm pack`).
// In a clone of the repository (src/ is here; the package ships only bin/ and dist/) it runs the
// TypeScript sources through tsx instead, our workspace packages resolved to their sources
// (scripts/source.mjs), so `npm ci && npm start` needs no build step.
import { existsSync } from 'node:fs';

const source = new URL('../src/main.ts', import.meta.url);
const fromSource = new URL('../../../scripts/source.mjs', import.meta.url);
if (existsSync(source) && existsSync(fromSource)) {
  await import(fromSource.href);
  await import(source.href);
} else {
  await import('../dist/main.js');
}
