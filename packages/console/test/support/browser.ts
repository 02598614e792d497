// Headless Chromium for the console's tests and bench: Debian's /usr/bin/chromium driven by
// playwright-core (never a downloaded browser). The runner (scripts/run-tests.mjs) exports
// DZVIN_TEST_CHROMIUM when Chromium exists; without it the browser suites skip loudly, unless
// DZVIN_REQUIRE_ALL=1, which makes a missing Chromium a failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';

const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** The Chromium to drive, or undefined when there is none. */
export function chromiumPath(): string | undefined {
  const env = process.env.DZVIN_TEST_CHROMIUM;
  if (env && fs.existsSync(env)) return env;
  return fs.existsSync(DEFAULT_CHROMIUM) ? DEFAULT_CHROMIUM : undefined;
}

/**
 * `skip` for node:test: false when Chromium is here; a reason to skip otherwise. Throws when
 * DZVIN_REQUIRE_ALL=1 (CI), so a missing browser fails the run instead of passing silently.
 */
export function browserSkip(): false | string {
  if (chromiumPath()) return false;
  const reason = `Chromium not found (${process.env.DZVIN_TEST_CHROMIUM ?? DEFAULT_CHROMIUM}): browser tests skipped`;
  if (process.env.DZVIN_REQUIRE_ALL === '1')
    throw new Error(`${reason} — but DZVIN_REQUIRE_ALL=1 requires them. Install chromium.`);
  process.stderr.write(`\n!!! ${reason.toUpperCase()}\n\n`);
  return reason;
}

export function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('Chromium is not installed');
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'],
  });
}

/**
 * Where the console tests save their screenshots: docs/screenshots at the repository root with
 * DZVIN_UPDATE_SCREENSHOTS=1 (refreshing the README's pictures), else a directory under the
 * system's temp dir, so a test run never changes tracked files.
 */
export const SCREENSHOTS =
  process.env.DZVIN_UPDATE_SCREENSHOTS === '1'
    ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../docs/screenshots')
    : path.join(os.tmpdir(), 'dzvin-console-screenshots');
