#!/usr/bin/env node
// Dzvin runs its TypeScript sources directly through tsx: no build step between a clone and a running PBX.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
