// One Dzvin server process of the load and fault parts of `npm run proof` (bench/lib/proof-load.ts):
// buildApp with the configuration parseConfig reads from the environment the proof sets
// (DATABASE_URL of the shared PostgreSQL, DZVIN_WEBHOOK_* …), on 127.0.0.1:0, Dzvin's log (errors
// only) on stdout, where the proof counts it. Several of these run over one database; the proof
// SIGKILLs and restarts them.
//
// IPC: sends `{port}` once listening. Answers
// - `{cmd:'setup', …}` with `{setup:{…}}`: creates the proof's office (the call-centre of
//   bench:calls, smaller) and a CRM connection whose events URL is the proof's receiver (done by
//   one process only: the rest read the same database);
// - `{cmd:'profile-start'}` / `{cmd:'profile-stop', file}`: a CPU profile of this process through
//   node:inspector, written to `file`, answered with `{profiled:file}`.
// Exits cleanly (graceful close) on SIGTERM/SIGINT or when the proof goes away.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { buildApp, parseConfig } from '../../packages/server/src/index.ts';
import { seededRandom } from '../lib/calls-harness.ts';
import { buildOffice, type OfficePlan } from '../lib/calls-office.ts';

export interface SetupRequest {
  cmd: 'setup';
  plan: OfficePlan;
  eventsUrl: string;
  seed: number;
}
export interface SetupReply {
  accountId: number;
  domain: string;
  apiKey: string;
  connectionId: number;
  employees: number;
  trunks: number;
}

const config = { ...parseConfig(process.env), host: '127.0.0.1', port: 0 };
const built = await buildApp(config, { logger: true });
await built.app.listen({ host: config.host, port: 0 });
process.send?.({ port: (built.app.server.address() as AddressInfo).port, pid: process.pid });

let session: Session | null = null;
process.on(
  'message',
  async (m: { cmd?: string; file?: string; plan?: OfficePlan; eventsUrl?: string; seed?: number }) => {
    try {
      if (m.cmd === 'setup' && m.plan && m.eventsUrl) {
        const office = await buildOffice(built, m.plan, seededRandom(m.seed ?? 1));
        const account = await built.store.accounts.byId(office.accountId);
        if (!account) throw new Error('the office account is gone');
        const crm = await built.services.directory.crm.create(account, {
          name: 'Proof receiver',
          eventsUrl: m.eventsUrl,
        });
        const reply: SetupReply = {
          accountId: office.accountId,
          domain: office.domain,
          apiKey: office.apiKey,
          connectionId: crm.id,
          employees: office.employees,
          trunks: office.trunks.length,
        };
        process.send?.({ setup: reply });
      } else if (m.cmd === 'profile-start') {
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 1000 });
        await session.post('Profiler.start');
        process.send?.({ profiling: true });
      } else if (m.cmd === 'profile-stop' && session && m.file) {
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        session = null;
        writeFileSync(m.file, JSON.stringify(profile));
        process.send?.({ profiled: m.file });
      }
    } catch (err) {
      process.send?.({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  },
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await built.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.on('disconnect', stop);
