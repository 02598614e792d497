// The web console in a real browser (Debian's Chromium via playwright-core) against a real Dzvin
// on 127.0.0.1: the built bundle served at `/`, the documented session, live calls over SSE.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Locator, Page } from 'playwright-core';
import { type CrmReceiver, startCrmReceiver } from '../../server/test/support/crm-receiver.ts';
import {
  contactBody,
  createContacts,
  type Session,
  startServer,
  type TestServer,
} from '../../server/test/support/harness.ts';
import { toneWav } from '../../server/test/support/wav.ts';
import { buildConsole } from '../src/build.ts';
import { browserSkip, launchChromium, SCREENSHOTS } from './support/browser.ts';

const skip = browserSkip();
const MAIN_TRUNK = '+380442246595';
const CALLER = '+380501234567';

/** What the test reads of an <audio> element (the test is type-checked without DOM types). */
interface AudioState {
  currentSrc: string;
  src: string;
  readyState: number;
  duration: number;
  error: { message: string } | null;
}

/** Waits until the audio element has loaded `suffix` far enough to know its duration. */
async function loaded(audio: Locator, suffix: string) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const st = await audio.evaluate((el) => {
      const a = el as unknown as AudioState;
      return {
        src: a.currentSrc || a.src,
        readyState: a.readyState,
        duration: a.duration,
        error: a.error?.message,
      };
    });
    if (st.src.endsWith(suffix) && st.readyState >= 1 && st.duration > 0) return st;
    if (Date.now() > deadline) throw new Error(`audio did not load: ${JSON.stringify(st)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the web console', { skip }, () => {
  let server: TestServer;
  let s: Session;
  let browser: Browser;
  let page: Page;
  let contactId = 0;
  let crm: CrmReceiver | undefined;
  const shot = async (name: string) => {
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
  };

  before(async () => {
    await buildConsole();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startServer('sqlite', {
      config: {
        webhooks: {
          retryBaseMs: 30,
          retryCapMs: 100,
          retryForMs: 300,
          timeoutMs: 2_000,
          concurrencyPerConnection: 4,
          leaseMs: 60_000,
        },
      },
    });
    s = await server.account('console.localhost');
    // A small office: Олена (001, the API user), Андрій (002), Марія (003), sales group 100,
    // the main trunk ringing Олена, whose phone rings until someone answers from the console.
    const emps = (await s.admin('GET', '/api/v1/employees')).json();
    await s.admin('PATCH', `/api/v1/employees/${emps[0].id}`, { displayName: 'Олена Коваленко' });
    const a = (
      await s.admin('POST', '/api/v1/employees', { displayName: 'Андрій Мельник', ext: '002' })
    ).json();
    const m = (
      await s.admin('POST', '/api/v1/employees', { displayName: 'Марія Бондар', ext: '003' })
    ).json();
    const g = (
      await s.admin('POST', '/api/v1/groups', {
        name: 'Продажі',
        ext: '100',
        members: [emps[0].id, a.id, m.id],
      })
    ).json();
    const r1 = await s.admin('POST', '/api/v1/trunks', {
      number: MAIN_TRUNK,
      name: 'Головний',
      destination: { type: 'employee', id: emps[0].id },
      isDefault: true,
    });
    assert.equal(r1.status, 201, r1.text);
    await s.admin('POST', '/api/v1/trunks', {
      number: '+380800218500',
      name: 'Продажі',
      destination: { type: 'group', id: g.id },
    });
    await s.admin('PUT', '/api/v1/sim/behaviours/employees/001', { mode: 'manual' });
    await s.admin('PUT', '/api/v1/sim/talk-time', { minSec: 600, maxSec: 600 });
    [contactId] = await createContacts(s, [
      contactBody({ first: 'Ірина', last: 'Шевченко', phones: [CALLER], company: 'Квітка' }),
      contactBody({ first: 'Богдан', last: 'Ткаченко', phones: ['+380671112233'] }),
    ]);
    crm = await startCrmReceiver('/events');
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'uk-UA' });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await crm?.close();
  });

  test('signs in with the account domain and API key and opens Live', async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.fill('input[name=domain]', 'console.localhost');
    await page.fill('input[name=apiKey]', 'wrong-key-0000000000000000000000');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error[role=alert]');
    await shot('sign-in');
    await page.fill('input[name=apiKey]', s.apiKey);
    await page.click('button[type=submit]');
    await page.waitForSelector('#page[data-page=live]');
    await page.waitForSelector('.conn.open');
    assert.match((await page.textContent('.who')) ?? '', /console\.localhost/);
  });

  test('an incoming call placed through the simulator shows on Live, is answered, transferred and hung up from its card, and moves to History with a playable recording', async () => {
    const placed = await s.admin('POST', '/api/v1/sim/calls', { from: CALLER, trunk: MAIN_TRUNK });
    assert.equal(placed.status, 201, placed.text);
    // How soon is bench:console's figure (call placed → card on Live), not this test's.
    const card = page.locator('[data-testid=live-call]').first();
    await card.waitFor({ timeout: 15_000 });
    const text = (await card.textContent()) ?? '';
    assert.match(text, /Ірина Шевченко/, 'the CRM name from otherLegs');
    assert.match(text, /Олена Коваленко/);
    await card.getByRole('button', { name: 'Відповісти' }).click();
    await page.waitForSelector('[data-testid=live-call].talking', { timeout: 3000 });
    await page.waitForTimeout(1500); // some seconds of recording
    await shot('live');
    // Blind transfer from the card: Андрій's phone rings with the caller.
    await card.getByRole('button', { name: 'Переадресувати' }).click();
    await card.getByLabel('Переадресувати на внутрішній').fill('002');
    await card.getByRole('button', { name: 'OK' }).click();
    await page.locator('[data-testid=live-call]', { hasText: 'Андрій Мельник' }).waitFor({ timeout: 3000 });
    await page.locator('[data-testid=live-call] button.danger').first().click();
    await page.waitForSelector('[data-testid=live-call]', { state: 'detached', timeout: 3000 });

    await page.click('nav a[href="#/history"]');
    const row = page.locator('[data-testid=history-row]').first();
    await row.waitFor({ timeout: 5000 });
    assert.match((await row.textContent()) ?? '', /відповіли/);
    await row.getByRole('button', { name: /Слухати/ }).click();
    const audio = row.locator('audio');
    await audio.waitFor();
    const mixed = await loaded(audio, '/audio');
    assert.ok(mixed.duration > 0.5, `recording of ${mixed.duration} s`);
    // The caller's (rx) track loads too.
    await row.locator('select').selectOption('-rx');
    const rx = await loaded(audio, '-rx/audio');
    assert.ok(rx.duration > 0.5, `rx recording of ${rx.duration} s`);
    await shot('history');
  });

  test('a contact edited in the console is what the REST API returns, notes included', async () => {
    await page.click('nav a[href="#/contacts"]');
    await page.fill('input[name=q]', 'Шевченко');
    await page.press('input[name=q]', 'Enter');
    await page.locator('[data-testid=contact-list] button', { hasText: 'Ірина Шевченко' }).click();
    const editor = page.locator('[data-testid=contact-editor]');
    await editor.waitFor();
    await editor.locator('input[name="field-Имя-0"]').fill('Ірина-Марія');
    await editor.getByRole('button', { name: 'Зберегти' }).click();
    await editor.getByRole('status').waitFor();
    const c = (await s.get(`/rest/crm/contacts/v2/${contactId}`)).json();
    assert.equal(c.firstName, 'Ірина-Марія');
    assert.equal(c.lastName, 'Шевченко');
    await editor.locator('textarea[name=note]').fill('Передзвонити завтра');
    await editor.getByRole('button', { name: 'Додати нотатку' }).click();
    await editor.locator('li.note', { hasText: 'Передзвонити завтра' }).waitFor();
    const notes = (await s.get(`/rest/crm/contacts/v2/${contactId}/notes`)).json();
    assert.deepEqual(
      notes.map((n: { content: string }) => n.content),
      ['Передзвонити завтра'],
    );
    // Search by number finds the contact too.
    await page.fill('input[name=q]', '0501234567');
    await page.press('input[name=q]', 'Enter');
    await page.locator('[data-testid=contact-list] button', { hasText: 'Ірина-Марія Шевченко' }).waitFor();
    await shot('contacts');
  });

  test('a delivery the CRM refused (500) is replayed from the Integrations log once the CRM is fixed', async () => {
    crm!.answer = () => ({ status: 500, body: 'CRM is down for maintenance' });
    await page.click('nav a[href="#/integrations"]');
    await page.getByText('CRM не підключено').waitFor();
    await page.fill('form input[name=name]', 'Моя CRM');
    await page.fill('form input[name=eventsUrl]', crm!.url);
    await page.getByRole('button', { name: 'Додати' }).first().click();
    await page.locator('[data-testid=connections] tr', { hasText: 'Моя CRM' }).waitFor();
    await page.getByRole('button', { name: 'Надіслати тест' }).click();
    const row = page.locator('[data-testid=delivery-row]').first();
    await page.waitForSelector(
      '[data-testid=delivery-row][data-status=dead], [data-testid=delivery-row][data-status=failed]',
      {
        timeout: 10_000,
      },
    );
    const failedText = (await row.textContent()) ?? '';
    assert.match(failedText, /500/);
    assert.match(failedText, /CRM is down/);
    assert.ok(crm!.requests.length >= 1);
    await shot('integrations');
    const before = crm!.requests.length;
    crm!.answer = () => ({ status: 200, body: '{}' });
    await row.getByRole('button', { name: 'Повторити' }).click();
    await page.waitForSelector('[data-testid=delivery-row][data-status=delivered]', { timeout: 10_000 });
    assert.equal(crm!.requests.length, before + 1);
    assert.equal(crm!.requests.at(-1)?.json?.event, 'call.dial');
    // Every attempt of the delivery: each request the CRM got, the refusals first.
    const delivered = page.locator('[data-testid=delivery-row][data-status=delivered]').first();
    await delivered.getByRole('button', { name: /Показати всі спроби/ }).click();
    const attempts = page.locator('[data-testid=delivery-attempt]');
    await attempts.nth(crm!.requests.length - 1).waitFor({ timeout: 5_000 });
    assert.equal(await attempts.count(), crm!.requests.length);
    assert.match((await attempts.first().textContent()) ?? '', /500.*CRM is down/);
    assert.match((await attempts.last().textContent()) ?? '', /200/);
    // A signing secret generated from the connection's row, shown once; the next delivery is
    // signed with it (checked by hand, as a CRM would).
    const connRow = page.locator('[data-testid=connections] tr', { hasText: 'Моя CRM' });
    await connRow.getByRole('button', { name: 'Новий секрет' }).click();
    const secret = ((await page.getByTestId('new-secret').textContent()) ?? '').trim();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    await connRow.getByText('✓').waitFor();
    const sent = crm!.requests.length;
    await connRow.getByRole('button', { name: 'Надіслати тест' }).click();
    for (let i = 0; i < 250 && crm!.requests.length === sent; i++) await sleep(20);
    const signed = crm!.requests.at(-1)!;
    const mac = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
      .update(`${signed.headers['webhook-id']}.${signed.headers['webhook-timestamp']}.${signed.text}`)
      .digest('base64');
    assert.equal(signed.headers['webhook-signature'], `v1,${mac}`);
  });

  test('the Overview charts render the period from company.api and users.api', async () => {
    // Some traffic: answered calls and calls nobody answered (hung up while ringing).
    const r = await s.admin('POST', '/api/v1/sim/traffic', {
      ratePerSec: 6,
      durationSec: 2,
      answerRate: 0.7,
      answerAfterSec: 0.3,
      talk: { minSec: 0.5, maxSec: 1.5 },
      trunks: ['+380800218500'],
    });
    assert.ok(r.status >= 200 && r.status < 300, r.text);
    await page.click('nav a[href="#/simulator"]');
    await page.getByTestId('traffic-status').waitFor();
    await shot('simulator');
    const deadline = Date.now() + 20_000;
    for (;;) {
      const status = (await s.admin('GET', '/api/v1/sim/traffic')).json();
      const active = (await s.get('/rest/calls/active/v3')).json();
      if (!status.running && active.length === 0) break;
      if (!status.running && Date.now() > deadline - 15_000)
        for (const c of active) await s.post(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
      assert.ok(Date.now() < deadline, 'traffic did not finish');
      await new Promise((res) => setTimeout(res, 300));
    }
    const company = (
      await s.get(
        `/rest/calls/company.api?timeFrom=${Date.now() - 3_600_000}&timeTo=${Date.now() + 60_000}&limit=50`,
      )
    ).json();
    await page.click('nav a[href="#/overview"]');
    await page.waitForSelector('[data-testid=chart-calls] canvas');
    await page.waitForSelector('[data-testid=chart-rate] canvas');
    await page.waitForSelector('[data-testid=chart-times] canvas');
    assert.equal(Number(await page.getByTestId('stat-total').textContent()), company.length);
    assert.ok(company.length >= 2);
    const width = await page
      .locator('[data-testid=chart-calls] canvas')
      .evaluate((c) => (c as unknown as { width: number }).width);
    assert.ok(width > 200);
    assert.ok((await page.locator('[data-testid=busiest] li').count()) >= 1);
    await shot('overview');
  });

  test('Directory lists the office; labels switch to English; the page fits a phone', async () => {
    await page.click('nav a[href="#/directory"]');
    await page.locator('[data-testid=employees] td', { hasText: 'Андрій Мельник' }).waitFor();
    await shot('directory');
    await page.getByRole('button', { name: 'Language: English' }).click();
    await page.locator('nav a', { hasText: 'Live' }).waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('nav a[href="#/live"]');
    const placed = await s.admin('POST', '/api/v1/sim/calls', { from: '+380671112233', trunk: MAIN_TRUNK });
    assert.equal(placed.status, 201, placed.text);
    // (How soon is not what this checks — bench:console measures that; a loaded CI took > 2 s.)
    await page.locator('[data-testid=live-call]').first().waitFor({ timeout: 15_000 });
    const overflow = await page.evaluate(() => {
      const d = (
        globalThis as unknown as {
          document: { documentElement: { scrollWidth: number; clientWidth: number } };
        }
      ).document;
      return d.documentElement.scrollWidth - d.documentElement.clientWidth;
    });
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at phone width`);
    await shot('live-phone');
    await page.locator('[data-testid=live-call] button.danger').first().click();
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('Directory: a ring group, an IVR scenario and a trunk are added, edited and deleted in place; a refusal is shown', async () => {
    // English labels since the test before.
    await page.click('nav a[href="#/directory"]');
    type Emp = { id: number; ext: string; displayName: string };
    const [e1, e2, e3] = (await s.admin('GET', '/api/v1/employees')).json() as Emp[];
    const label = (e: Emp) => `${e.ext} ${e.displayName}`;
    // biome-ignore lint/suspicious/noExplicitAny: test convenience
    const find = async (kind: string, name: string): Promise<any> =>
      // biome-ignore lint/suspicious/noExplicitAny: test convenience
      (await s.admin('GET', `/api/v1/${kind}`)).json().find((x: any) => x.name === name);

    // A ring group: the second employee, then the first, one after another.
    await page.getByRole('button', { name: '+ Ring group' }).click();
    let editor = page.getByTestId('group-editor');
    await editor.getByLabel('Name', { exact: true }).fill('Support');
    await editor.getByLabel('Ext', { exact: true }).fill('300');
    await editor.getByLabel('Strategy').selectOption('sequential');
    await editor.getByLabel('Rings, s').fill('15');
    await editor.getByLabel(label(e2)).check();
    await editor.getByLabel(label(e1)).check();
    await editor.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-testid=groups] td', { hasText: 'Support' }).waitFor();
    let group = await find('groups', 'Support');
    assert.deepEqual(
      [group.ext, group.strategy, group.ringTimeoutSec, group.members],
      ['300', 'sequential', 15, [e2.id, e1.id]],
    );
    assert.match(
      (await page.locator('[data-testid=groups] tr', { hasText: 'Support' }).textContent()) ?? '',
      new RegExp(`one after another.*${e2.displayName}, ${e1.displayName}`),
    );

    // Edited in place: the first employee leaves it.
    await page
      .locator('[data-testid=groups] tr', { hasText: 'Support' })
      .getByRole('button', { name: 'Edit' })
      .click();
    editor = page.getByTestId('group-editor');
    await editor.getByLabel(label(e1)).uncheck();
    await editor.getByRole('button', { name: 'Save' }).click();
    await editor.waitFor({ state: 'detached' });
    group = await find('groups', 'Support');
    assert.deepEqual(group.members, [e2.id]);

    // An IVR scenario: 1 goes to the group; nobody pressing goes to the third employee.
    await page.getByRole('button', { name: '+ IVR scenario' }).click();
    editor = page.getByTestId('ivr-editor');
    await editor.getByLabel('Name', { exact: true }).fill('Support menu');
    await editor.getByLabel('Greeting').fill('Press 1 for support');
    await editor.getByLabel('If nobody presses').selectOption({ label: label(e3) });
    await editor.getByRole('button', { name: '+ Add a choice' }).click();
    const option = editor.getByTestId('ivr-option');
    await option.getByLabel('Digit').selectOption('1');
    await option.getByLabel('Destination').selectOption({ label: '300 Support' });
    await editor.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-testid=ivr] td', { hasText: 'Support menu' }).waitFor();
    const ivr = await find('ivr', 'Support menu');
    assert.deepEqual(ivr.options, [{ digit: '1', target: { type: 'group', id: group.id } }]);
    assert.deepEqual(ivr.defaultTarget, { type: 'employee', id: e3.id });
    assert.equal(ivr.greeting, 'Press 1 for support');

    // Its recorded greeting: uploaded from the editor as soon as it is chosen, refused with the
    // server's reason when it is not what phones hear, removed again.
    await page
      .locator('[data-testid=ivr] tr', { hasText: 'Support menu' })
      .getByRole('button', { name: 'Edit' })
      .click();
    const greeting = page.getByTestId('ivr-editor').getByTestId('ivr-greeting-audio');
    await greeting.getByText('None: callers on real phones hear the built-in prompt.').waitFor();
    const wav = toneWav(600, 1);
    await greeting
      .getByLabel('Upload')
      .setInputFiles({ name: 'greeting.wav', mimeType: 'audio/wav', buffer: wav });
    await greeting.getByRole('button', { name: 'Remove' }).waitFor();
    const stored = await fetch(`${server.baseUrl}/api/v1/ivr/${ivr.id}/greeting-audio`, {
      headers: { host: s.host, authorization: `Bearer ${s.apiKey}` },
    });
    assert.deepEqual(Buffer.from(await stored.arrayBuffer()), wav, 'the file as uploaded');
    await greeting
      .getByLabel('Upload')
      .setInputFiles({ name: 'song.mp3', mimeType: 'audio/mpeg', buffer: Buffer.from('ID3 not a wav') });
    assert.match((await greeting.getByRole('alert').textContent()) ?? '', /not a WAV file/);
    await greeting.getByRole('button', { name: 'Remove' }).click();
    await greeting.getByText('None: callers on real phones hear the built-in prompt.').waitFor();
    await page.getByTestId('ivr-editor').getByRole('button', { name: 'Cancel' }).click();

    // A trunk into that IVR.
    await page.getByRole('button', { name: '+ Trunk' }).click();
    editor = page.getByTestId('trunk-editor');
    await editor.getByLabel('Number').fill('+380443330000');
    await editor.getByLabel('Name', { exact: true }).fill('Support line');
    await editor.getByLabel('Destination').selectOption({ label: 'Support menu' });
    await editor.getByLabel(/SIP peers/).fill('203.0.113.7, 2001:DB8::10');
    await editor.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-testid=trunks] td', { hasText: 'Support line' }).waitFor();
    const trunk = await find('trunks', 'Support line');
    assert.equal(trunk.number, '+380443330000');
    assert.deepEqual(trunk.destination, { type: 'ivr', id: ivr.id });
    assert.deepEqual(trunk.sipPeers, ['203.0.113.7', '2001:db8::10'], "the carrier's addresses, normalized");
    await page.locator('[data-testid=trunks] td', { hasText: 'SIP 203.0.113.7, 2001:db8::10' }).waitFor();

    // Its SIP carrier: the password sent once, never shown again; left empty on an edit, it stays.
    await page
      .locator('[data-testid=trunks] tr', { hasText: 'Support line' })
      .getByRole('button', { name: 'Edit' })
      .click();
    editor = page.getByTestId('trunk-editor');
    await editor.getByLabel(/Carrier host/).fill('SIP.Carrier.example');
    await editor.getByLabel('Port', { exact: true }).fill('5080');
    await editor.getByTestId('trunk-carrier-transport').selectOption('tcp');
    await editor.getByLabel('User name', { exact: true }).fill('support-trunk');
    await editor.getByLabel('Password', { exact: true }).fill('carrier-pass-1');
    await editor.getByLabel(/Register at the carrier/).check();
    await editor.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-testid=trunks] td', { hasText: '→ sip.carrier.example:5080 (reg)' }).waitFor();
    const carried = await find('trunks', 'Support line');
    assert.deepEqual(carried.sipCarrier, {
      host: 'sip.carrier.example',
      port: 5080,
      transport: 'tcp',
      username: 'support-trunk',
      hasPassword: true,
      register: true,
      // This server runs no SIP engine: nobody has registered it (the table says so).
      registration: {
        state: 'pending',
        expiresAt: null,
        lastStatus: null,
        lastError: null,
        lastAttemptAt: null,
        nextAttemptAt: null,
        failures: 0,
      },
    });
    await page
      .locator('[data-testid=trunks] tr', { hasText: 'Support line' })
      .locator('[data-testid=trunk-registration][data-state=pending]')
      .waitFor();
    assert.ok(!(await page.content()).includes('carrier-pass-1'), 'the password is not on the page');
    await page
      .locator('[data-testid=trunks] tr', { hasText: 'Support line' })
      .getByRole('button', { name: 'Edit' })
      .click();
    editor = page.getByTestId('trunk-editor');
    assert.equal(
      await editor.getByLabel('Password', { exact: true }).inputValue(),
      '',
      'never filled back in',
    );
    assert.match(
      (await editor.getByLabel('Password', { exact: true }).getAttribute('placeholder')) ?? '',
      /leave empty to keep/,
    );
    await editor.getByLabel(/Register at the carrier/).uncheck();
    await editor.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-testid=trunks] td', { hasText: '→ sip.carrier.example:5080' }).waitFor();
    const kept = await find('trunks', 'Support line');
    assert.equal(kept.sipCarrier?.register, false);
    assert.equal(kept.sipCarrier?.registration.state, 'off');
    await page
      .locator('[data-testid=trunks] tr', { hasText: 'Support line' })
      .getByText('off', { exact: true })
      .waitFor();
    assert.equal(kept.sipCarrier?.hasPassword, true, 'the password stayed');

    // The server's refusal shows in the editor, as it is; nothing is added.
    await page.getByRole('button', { name: '+ Ring group' }).click();
    editor = page.getByTestId('group-editor');
    await editor.getByLabel('Name', { exact: true }).fill('Second support');
    await editor.getByLabel('Ext', { exact: true }).fill('300');
    await editor.getByRole('button', { name: 'Save' }).click();
    const refusal = (await editor.getByRole('alert').textContent()) ?? '';
    assert.match(refusal, /300/);
    assert.equal(await find('groups', 'Second support'), undefined);
    await editor.getByRole('button', { name: 'Cancel' }).click();

    // An employee edited in place; one still in a group is not deleted, and the page says why.
    await page
      .locator('[data-testid=employees] tr', { hasText: e3.displayName })
      .getByRole('button', { name: 'Edit' })
      .click();
    editor = page.getByTestId('employee-editor');
    await editor.getByLabel('E-mail').fill('maria@console.localhost');
    await editor.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-testid=employees] td', { hasText: 'maria@console.localhost' }).waitFor();
    const emps = (await s.admin('GET', '/api/v1/employees')).json() as (Emp & { email: string })[];
    assert.equal(emps.find((e) => e.id === e3.id)?.email, 'maria@console.localhost');
    page.once('dialog', (d) => d.accept());
    await page
      .locator('[data-testid=employees] tr', { hasText: e2.displayName })
      .getByRole('button', { name: 'Delete' })
      .click();
    const why = (await page.locator('#page [role=alert]').first().textContent()) ?? '';
    assert.match(why, new RegExp(e2.ext));
    assert.equal((await s.admin('GET', '/api/v1/employees')).json().length, emps.length, 'nobody deleted');

    // Deleted, after a confirmation: the trunk, the IVR, the group.
    for (const [table, name, kind] of [
      ['trunks', 'Support line', 'trunks'],
      ['ivr', 'Support menu', 'ivr'],
      ['groups', 'Support', 'groups'],
    ]) {
      page.once('dialog', (d) => d.accept());
      const row = page.locator(`[data-testid=${table}] tr`, { hasText: name }).first();
      await row.getByRole('button', { name: 'Delete' }).click();
      await row.waitFor({ state: 'detached' });
      assert.equal(await find(kind, name), undefined, `${name} deleted`);
    }
  });

  test('a link to #/contacts?id=N opens that contact on a fresh page, through sign-in when signed out; a contact of another account or no id says so', async () => {
    const [id] = await createContacts(s, [
      contactBody({ first: 'Олег', last: 'Лисенко', phones: ['+380631234567'], company: 'Сонях' }),
    ]);
    // A browser that was never signed in: the sign-in screen keeps the link.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
    try {
      const fresh = await context.newPage();
      await fresh.goto(`${server.baseUrl}/#/contacts?id=${id}`);
      await fresh.fill('input[name=domain]', 'console.localhost');
      await fresh.fill('input[name=apiKey]', s.apiKey);
      await fresh.click('button[type=submit]');
      const editor = fresh.getByTestId('contact-editor');
      await editor.locator('h2', { hasText: 'Олег Лисенко' }).waitFor({ timeout: 5000 });
      assert.equal(await editor.locator('input[name="field-Телефон-0"]').inputValue(), '+380631234567');
      assert.equal(new URL(fresh.url()).hash, `#/contacts?id=${id}`);
      // Signed in: a new page straight on the link, loaded by id.
      const second = await context.newPage();
      await second.goto(`${server.baseUrl}/#/contacts?id=${id}`);
      await second.getByTestId('contact-editor').locator('h2', { hasText: 'Олег Лисенко' }).waitFor();
      await second.screenshot({ path: path.join(SCREENSHOTS, 'contact-link.png') });
      // Another account's contact is not shown, and the page says why.
      const other = await server.account('other-console.localhost');
      const [foreign] = await createContacts(other, [
        contactBody({ first: 'Чужий', phones: ['+380671234500'] }),
      ]);
      await second.goto(`${server.baseUrl}/#/contacts?id=${foreign}`);
      const missing = second.getByTestId('contact-missing');
      await missing.waitFor();
      assert.match((await missing.textContent()) ?? '', new RegExp(`#${foreign} is not in this account`));
      assert.doesNotMatch((await second.locator('#page').textContent()) ?? '', /Чужий/);
      await second.goto(`${server.baseUrl}/#/contacts?id=abc`);
      await second.getByTestId('contact-missing').getByText('“abc” is not a contact number').waitFor();
    } finally {
      await context.close();
    }
  });

  test('a link to #/contacts?new=<number> opens a new contact with the number filled in; saved, it is in the contacts book; a value that is no number says so', async () => {
    await page.goto(`${server.baseUrl}/#/contacts?new=%2B380501234567`);
    const form = page.getByTestId('new-contact');
    await form.waitFor();
    assert.equal(await form.locator('input[name=phone]').inputValue(), CALLER);
    // The number is already Ірина's: the form says so, with a link to her.
    await form.getByRole('link', { name: /Ірина/ }).waitFor();
    await form.locator('input[name=firstName]').fill('Тарас');
    await form.locator('input[name=lastName]').fill('Гнатюк');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'contact-new.png') });
    await form.getByRole('button', { name: 'Add' }).click();
    const editor = page.getByTestId('contact-editor');
    await editor.locator('h2', { hasText: 'Тарас Гнатюк' }).waitFor({ timeout: 5000 });
    const found = (
      await s.get(`/rest/crm/contacts/v2/searchByOLNum?otherLegNum=${encodeURIComponent(CALLER)}`)
    ).json();
    const created = found.find((c: { firstName: string }) => c.firstName === 'Тарас');
    assert.ok(created, JSON.stringify(found));
    assert.equal(created.lastName, 'Гнатюк');
    assert.equal(new URL(page.url()).hash, `#/contacts?id=${created.id}`);
    await form.waitFor({ state: 'detached' });
    // Typed by hand, unencoded: the + is a +, not a space.
    await page.goto(`${server.baseUrl}/#/contacts?new=+380931112233`);
    assert.equal(
      await page.getByTestId('new-contact').locator('input[name=phone]').inputValue(),
      '+380931112233',
    );
    await page.goto(`${server.baseUrl}/#/contacts?new=hello`);
    assert.match(
      (await page.getByTestId('not-a-number').textContent()) ?? '',
      /“hello” is not a phone number/,
    );
    assert.equal(await page.getByTestId('new-contact').locator('input[name=phone]').inputValue(), '');
  });

  test('Live shows the other party of a call no CRM knows, never the trunk number; a CRM link opens in a new tab, a link into the console in this tab, a javascript: URL is no link', async () => {
    const numbers = {
      unknown: '+380970000001',
      foreign: '+380970000002',
      own: '+380970000003',
      bad: '+380970000004',
    };
    const { port } = new URL(server.baseUrl);
    const lookup = await startCrmReceiver('/lookup');
    lookup.answer = (r) => {
      const leg = r.text.includes(numbers.foreign.slice(1))
        ? { name: 'Acme: Ганна', url: 'https://crm.example/contacts/7' }
        : r.text.includes(numbers.own.slice(1))
          ? { name: 'Ірина з книги', url: `http://console.localhost:${port}/#/contacts?id=${contactId}` }
          : r.text.includes(numbers.bad.slice(1))
            ? { name: 'Зламана CRM', url: 'javascript:alert(1)' }
            : null;
      return { status: 200, body: JSON.stringify({ otherLeg: leg }) };
    };
    const conn = await s.admin('POST', '/api/v1/crm-connections', {
      name: 'Lookup CRM',
      callSettingsUrl: lookup.url,
    });
    assert.equal(conn.status, 201, conn.text);
    // One call at a time: a second call ringing the same phone could end as busy.
    await s.admin('PUT', '/api/v1/sim/behaviours/employees/001', { mode: 'manual' });
    const hangUpAll = async () => {
      for (const c of (await s.get('/rest/calls/active/v3')).json())
        await s.post(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
      await page.waitForSelector('[data-testid=live-call]', { state: 'detached', timeout: 3000 });
    };
    /** Places a call from `from`; its card's external party. */
    const call = async (from: string) => {
      const r = await s.admin('POST', '/api/v1/sim/calls', { from, trunk: MAIN_TRUNK });
      assert.equal(r.status, 201, r.text);
      const card = page.locator('[data-testid=live-call]').first();
      await card.waitFor({ timeout: 3000 });
      return card.locator('.party').first();
    };
    try {
      await page.goto(`${server.baseUrl}/#/live`);
      await page.waitForSelector('.conn.open');
      await hangUpAll();

      let party = await call(numbers.unknown);
      // The contacts book's entry brings the number (and a link to add it); until the server sends
      // it the card says "—". Never the trunk: that is the company's own number.
      await party.getByText(new RegExp(`^(\\${numbers.unknown}|—)$`)).waitFor();
      assert.doesNotMatch((await party.textContent()) ?? '', new RegExp(`\\${MAIN_TRUNK}`));
      await hangUpAll();

      party = await call(numbers.foreign);
      const foreign = party.getByRole('link', { name: 'Acme: Ганна' });
      await foreign.waitFor();
      assert.equal(await foreign.getAttribute('href'), 'https://crm.example/contacts/7');
      assert.equal(await foreign.getAttribute('target'), '_blank');
      assert.match((await party.textContent()) ?? '', new RegExp(`\\${numbers.foreign}`));
      await shot('live-links');
      await hangUpAll();

      party = await call(numbers.bad);
      await party.getByText('Зламана CRM').waitFor();
      assert.equal(await party.getByRole('link', { name: 'Зламана CRM' }).count(), 0);
      await hangUpAll();

      party = await call(numbers.own);
      const own = party.getByRole('link', { name: 'Ірина з книги' });
      await own.waitFor();
      assert.equal(await own.getAttribute('href'), `#/contacts?id=${contactId}`);
      assert.equal(await own.getAttribute('target'), null);
      await own.click();
      await page.getByTestId('contact-editor').locator('h2', { hasText: 'Шевченко' }).waitFor();
    } finally {
      for (const c of (await s.get('/rest/calls/active/v3')).json())
        await s.post(`/rest/calls/active/${c.parentUuid ?? c.uuid}/hangup`);
      await s.admin('DELETE', `/api/v1/crm-connections/${conn.json().id}`);
      await lookup.close();
    }
  });

  test('a call waiting in an IVR appears on an open Live page (call.update), and leaves it when it ends', async () => {
    const ivr = await s.admin('POST', '/api/v1/ivr', { name: 'Черга', timeoutSec: 120, options: [] });
    assert.equal(ivr.status, 201, ivr.text);
    const trunk = await s.admin('POST', '/api/v1/trunks', {
      number: '+380442240077',
      name: 'Черга',
      destination: { type: 'ivr', id: ivr.json().id },
    });
    assert.equal(trunk.status, 201, trunk.text);
    await page.click('nav a[href="#/live"]');
    await page.locator('.conn', { hasText: /./ }).first().waitFor();
    const placed = await s.admin('POST', '/api/v1/sim/calls', {
      from: '+380970000077',
      trunk: '+380442240077',
    });
    assert.equal(placed.status, 201, placed.text);
    // Live was open before the call: only the stream can bring it (no reload, no new snapshot).
    const card = page.locator('[data-testid=live-call]', { hasText: '970000077' });
    await card.waitFor({ timeout: 15_000 });
    assert.match((await card.textContent()) ?? '', /Черга/, 'the IVR holding the call');
    assert.equal((await s.admin('POST', `/api/v1/sim/calls/${placed.json().uuid}/hangup`)).status, 204);
    await card.waitFor({ state: 'detached', timeout: 15_000 });
    await s.admin('DELETE', `/api/v1/trunks/${trunk.json().id}`);
    await s.admin('DELETE', `/api/v1/ivr/${ivr.json().id}`);
  });

  test('signing out ends the session; a rotated API key is shown once and signs in', async () => {
    await page.click('nav a[href="#/directory"]');
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Rotate API key' }).click();
    const key = (await page.getByTestId('new-key').textContent())?.trim() ?? '';
    assert.match(key, /^\S{20,}$/);
    // Every session ended with the old key: the console falls back to sign-in, key prefilled.
    await page.reload();
    await page.waitForSelector('input[name=apiKey]');
    await page.fill('input[name=domain]', 'console.localhost');
    await page.fill('input[name=apiKey]', key);
    await page.click('button[type=submit]');
    await page.waitForSelector('#page[data-page]');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForSelector('input[name=apiKey]');
    const r = await page.evaluate(async () => (await fetch('/api/v1/account')).status);
    assert.equal(r, 403);
  });
});
