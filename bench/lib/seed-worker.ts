// Worker thread of seedContacts: builds chunks of contacts while the main thread writes.
import { parentPort, workerData } from 'node:worker_threads';
import { buildSeedChunk, type SeedAccount } from './seed-contacts.ts';

const account = workerData as SeedAccount;
parentPort!.on('message', async (m: { from: number; to: number }) => {
  const { built, need } = await buildSeedChunk(m.from, m.to, account);
  parentPort!.postMessage({ from: m.from, built, need });
});
