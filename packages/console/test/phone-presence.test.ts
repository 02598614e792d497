// The console shows which employees' phones are registered (issue 15: presence from
// registration), in a real browser (Debian's Chromium via playwright-core) against a real Dzvin
// whose SIP engine reads a real Kamailio's registrations, with a baresip softphone registered as
// 001 (digest auth) and 002 with no phone. Skipped loudly without Chromium, Kamailio, rtpengine or
// baresip; failing instead under DZVIN_REQUIRE_ALL=1.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { type Baresip, baresipSkipReason, startBaresip } from '../../server/test/support/baresip.ts';
import type { Session } from '../../server/test/support/harness.ts';
import { kamailioSkipReason } from '../../server/test/support/kamailio.ts';
import { rtpengineSkipReason } from '../../server/test/support/rtpengine.ts';
import { type SipStack, startSipStack } from '../../server/test/support/sip-stack.ts';
import { until } from '../../server/test/support/wait.ts';
import { buildConsole } from '../src/build.ts';
import { browserSkip, launchChromium, SCREENSHOTS } from './support/browser.ts';

const skip = browserSkip() || kamailioSkipReason() || rtpengineSkipReason() || baresipSkipReason();
const DOMAIN = 'presence.localhost';
const PASSWORD = 'presence-001-secret';

describe('the console shows registered and offline phones', { skip }, () => {
  let stack: SipStack;
  let s: Session;
  let phone: Baresip;
  let browser: Browser;
  let page: Page;
  let accountId = 0;

  before(async () => {
    await buildConsole();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    stack = await startSipStack();
    const { server, kam } = stack;
    s = await server.account(DOMAIN);
    accountId = (await server.built.store.accounts.byDomain(DOMAIN))!.id;
    const [e001] = (await s.admin('GET', '/api/v1/employees')).json();
    await s.admin('PATCH', `/api/v1/employees/${e001.id}`, { displayName: 'Олена Коваленко' });
    const e002 = await s.admin('POST', '/api/v1/employees', { displayName: 'Андрій Мельник', ext: '002' });
    assert.equal(e002.status, 201, e002.text);
    const set = await s.admin('PUT', `/api/v1/employees/${e001.id}/sip-password`, { password: PASSWORD });
    assert.equal(set.status, 204, set.text);
    phone = await startBaresip({ user: '001', domain: DOMAIN, password: PASSWORD, proxyPort: kam.sipPort });
    await phone.register();
    await until(
      async () => {
        await server.built.sip?.refresh();
        return server.built.sip?.registered().includes(`${accountId}:001`);
      },
      'Dzvin to see 001 registered',
      15_000,
    );
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'uk-UA' });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await phone?.stop();
    await stack?.stop();
  });

  const badge = (scope: string) => page.locator(`${scope} [data-testid=phone-badge]`);

  test('Live and Directory show 001’s phone registered and 002’s offline; the Directory sets the account’s phones; 001 unregistering turns it offline', async () => {
    await page.goto(`${stack.server.baseUrl}/`);
    await page.fill('input[name=domain]', DOMAIN);
    await page.fill('input[name=apiKey]', s.apiKey);
    await page.click('button[type=submit]');
    await page.waitForSelector('#page[data-page=live]');
    // Live: the employees' list.
    await badge('.presence li[data-ext="001"]').waitFor({ timeout: 5000 });
    assert.equal(await badge('.presence li[data-ext="001"]').getAttribute('data-registered'), 'true');
    assert.equal(
      (await badge('.presence li[data-ext="001"]').textContent())?.trim(),
      'телефон зареєстровано',
    );
    assert.equal(await badge('.presence li[data-ext="002"]').getAttribute('data-registered'), 'false');
    assert.equal((await badge('.presence li[data-ext="002"]').textContent())?.trim(), 'телефон не в мережі');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'live-phones.png') });
    // Directory: the employees' table.
    await page.click('nav a[href="#/directory"]');
    const row = (name: string) => page.locator('[data-testid=employees] tr', { hasText: name });
    await row('Олена Коваленко').locator('[data-testid=phone-badge]').waitFor({ timeout: 5000 });
    assert.equal(
      await row('Олена Коваленко').locator('[data-testid=phone-badge]').getAttribute('data-registered'),
      'true',
    );
    assert.equal(
      await row('Андрій Мельник').locator('[data-testid=phone-badge]').getAttribute('data-registered'),
      'false',
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, 'directory-phones.png') });
    // The account's phones, chosen on the same page: stored through the admin API.
    const select = page.getByTestId('phones-setting');
    assert.equal(await select.inputValue(), 'default');
    await select.selectOption('real');
    await until(
      async () => (await s.admin('GET', '/api/v1/account')).json().phones === 'real',
      'phones: real saved',
    );
    await page.reload();
    await page.getByTestId('phones-setting').waitFor();
    assert.equal(await page.getByTestId('phones-setting').inputValue(), 'real');
    await page.getByTestId('phones-setting').selectOption('default');
    await until(
      async () => (await s.admin('GET', '/api/v1/account')).json().phonesDefault === true,
      'back to the default',
    );
    // The softphone un-registers: Live turns 001 offline on its next refresh (every 10 s).
    await phone.unregister();
    await until(
      async () => {
        await stack.server.built.sip?.refresh();
        return !stack.server.built.sip?.registered().includes(`${accountId}:001`);
      },
      'Dzvin to see 001 gone',
      15_000,
    );
    await page.click('nav a[href="#/live"]');
    await page
      .locator('.presence li[data-ext="001"] [data-testid=phone-badge][data-registered="false"]')
      .waitFor({ timeout: 15_000 });
  });
});
