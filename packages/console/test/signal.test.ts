// The console's `useSignal` hook (packages/console/web/signal.ts) in a real browser: a value that
// changes between a component's first render and its subscription must still be shown. The Live
// page mounts while SSE events arrive, and a change in that gap used to be lost until the next
// one (a call that never appeared on Live). Deterministic: the change is made in the same task as
// the mount, before any effect or paint could run.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { browserSkip, launchChromium } from './support/browser.ts';

const skip = browserSkip();
const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../web');

const ENTRY = `
import { h, render } from 'preact';
import { signal, useSignal } from './signal.ts';
const value = signal('before');
const other = signal(0);
function Shown() {
  return h('output', { id: 'shown' }, useSignal(value), ' ', String(useSignal(other)));
}
render(h(Shown, null), document.getElementById('root'));
// Same task as the mount: no effect has run yet.
value.set('changed during mount');
window.later = () => other.set(other.get() + 1);
window.unmount = () => render(null, document.getElementById('root'));
window.setValue = (v) => value.set(v);
`;

describe('useSignal', { skip }, () => {
  let browser: Browser;
  let page: Page;

  before(async () => {
    const out = await build({
      stdin: { contents: ENTRY, resolveDir: WEB, loader: 'ts' },
      bundle: true,
      format: 'esm',
      target: ['es2022'],
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const js = out.outputFiles[0].text;
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setContent('<!doctype html><meta charset="utf-8"><div id="root"></div>');
    await page.addScriptTag({ type: 'module', content: js });
  });
  after(async () => {
    await browser?.close();
  });

  test('a change between the first render and the subscription is shown', async () => {
    const shown = page.locator('#shown');
    await shown.filter({ hasText: 'changed during mount 0' }).waitFor({ timeout: 5_000 });
    assert.equal(await shown.textContent(), 'changed during mount 0');
  });

  test('later changes re-render; after unmounting, a change is not an error', async () => {
    await page.evaluate(() => (globalThis as unknown as { later(): void }).later());
    await page.locator('#shown', { hasText: 'changed during mount 1' }).waitFor({ timeout: 5_000 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.evaluate(() => {
      const w = globalThis as unknown as { unmount(): void; setValue(v: string): void };
      w.unmount();
      w.setValue('after unmount');
    });
    assert.equal(await page.locator('#shown').count(), 0);
    assert.deepEqual(errors, []);
  });
});
