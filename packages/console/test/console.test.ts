// The web console in a real browser (Debian's Chromium via playwright-core) against a real Dzvin
// on 127.0.0.1: the built bundle served at `/`, the documented session, live calls over SSE.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import {
  contactBody,
  createContacts,
  type Session,
  startServer,
  type TestServer,
} from '../../server/test/support/harness.ts';
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
  const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });

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
    await createContacts(s, [
      contactBody({ first: 'Ірина', last: 'Шевченко', phones: [CALLER], company: 'Квітка' }),
    ]);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'uk-UA' });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
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

  test('an incoming call placed through the simulator shows on Live within a second, is answered and hung up from its card, and moves to History with a playable recording', async () => {
    const placed = await s.admin('POST', '/api/v1/sim/calls', { from: CALLER, trunk: MAIN_TRUNK });
    assert.equal(placed.status, 201, placed.text);
    const t0 = Date.now();
    const card = page.locator('[data-testid=live-call]').first();
    await card.waitFor({ timeout: 1000 });
    const shownMs = Date.now() - t0;
    assert.ok(shownMs < 1000, `shown after ${shownMs} ms`);
    const text = (await card.textContent()) ?? '';
    assert.match(text, /Ірина Шевченко/, 'the CRM name from otherLegs');
    assert.match(text, /Олена Коваленко/);
    await card.getByRole('button', { name: 'Відповісти' }).click();
    await page.waitForSelector('[data-testid=live-call].talking', { timeout: 3000 });
    await page.waitForTimeout(1500); // some seconds of recording
    await shot('live');
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
});
