// Shutdown order (issue 14): `built.close()` is `app.close()`, and the parts' onClose hooks run
// in reverse of how buildApp opened them. What that order must guarantee, seen from outside: a
// call still ringing when the process stops is ended and saved, its hangup event lands in the
// outbox (the capture and the dispatcher close after the engine, the database after them all).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { buildApp, defaultConfig } from '../src/index.ts';
import { createStore } from '../src/store/create-store.ts';
import { openDatabase } from '../src/store/db.ts';
import { startCrmReceiver } from './support/crm-receiver.ts';
import { createTestDatabaseUrl, DIALECTS, dialectSkipReason } from './support/dialects.ts';

for (const dialect of DIALECTS) {
  describe(`shutdown [${dialect}]`, { skip: dialectSkipReason(dialect) }, () => {
    test('a call in progress when the app closes is ended and saved, and its hangup is in the outbox', async () => {
      const db = await createTestDatabaseUrl(dialect);
      const recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-shutdown-'));
      const crm = await startCrmReceiver('/events');
      crm.answer = () => ({ status: 200, body: '{}' });
      const config = defaultConfig({ databaseUrl: db.url, port: 0, logLevel: 'warn', recordingsDir });
      const built = await buildApp(config, { logger: false });
      try {
        await built.app.listen({ host: '127.0.0.1', port: 0 });
        const { services, simulator } = built;
        const { account } = await services.accounts.create({
          domain: 'stop.localhost',
          defaultCountry: 'UA',
        });
        const e = await services.directory.employees.create(account, { displayName: 'Owner', ext: '001' });
        await services.directory.trunks.create(account, {
          number: '+380443334455',
          name: 'Main',
          destination: { type: 'employee', id: e.id },
          isDefault: true,
        });
        await services.directory.crm.create(account, { name: 'CRM', eventsUrl: crm.url, priority: 1 });
        // Nobody answers: the call is still ringing when the process stops.
        simulator.sim.setEmployeeBehaviour(account.id, '001', { mode: 'manual' });
        const { uuid } = await simulator.sim.incoming(account, '+380501112233', '+380443334455');
        assert.equal(simulator.sim.activeCount(), 1);

        await built.close();
        assert.equal(simulator.sim.activeCount(), 0);
        // A second close (the harness's, main.ts's second signal) changes nothing.
        await built.close();

        const again = await openDatabase(db.url);
        try {
          assert.ok(await createStore(again.db).calls.byUuid(uuid), 'the call is in the history');
          const events = (await again.db.selectFrom('outbox').select(['event', 'payload']).execute())
            .filter((r) => (JSON.parse(r.payload) as { uuid?: string }).uuid === uuid)
            .map((r) => r.event);
          assert.ok(events.includes('call.hangup'), `outbox events of the call: ${events.join(', ')}`);
        } finally {
          await again.close();
        }
      } finally {
        await built.close();
        await crm.close();
        await db.drop();
        fs.rmSync(recordingsDir, { recursive: true, force: true });
      }
    });
  });
}
