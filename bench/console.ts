// npm run bench:console — the web console's production bundle and the time to first render of
// the Live page with 200 calls in progress, and how soon a new call's card appears on it.
//
// 1. Builds the console (minified, as `npm ci` does) and measures its JS gzipped: all of it (app.js,
//    its shared chunk and the Phone's lazily loaded JsSIP chunk), the first load alone, and the
//    Phone's chunk (the SIP UA's share); and app.css.
// 2. Starts Dzvin in-process on 127.0.0.1 over a throwaway SQLite database, with an office whose
//    trunk sends calls to an IVR that waits 120 s, and places 200 incoming calls through the
//    simulator (all listed by /rest/calls/active/v3).
// 3. Opens the console in headless Chromium (/usr/bin/chromium via playwright-core), signed in,
//    and times from navigation start until all 200 call cards are on screen (performance.now()
//    in the page, checked every animation frame). Cold load first, then RUNS reloads; the median
//    is the figure.
//
// 4. With Live open, places EVENT_CALLS more calls one by one and times each from before the
//    simulator places it until its card is on screen (the SSE event and the re-render).
//
// Bounded: the whole run stops after 180 s. Results: bench/results/console.md and console.json;
// the last stdout line is one JSON object with `js_gzip_kb` and `live_render_ms`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { buildConsole } from '../packages/console/src/build.ts';
import { chromiumPath } from '../packages/console/test/support/browser.ts';
import { buildApp, defaultConfig } from '../packages/server/src/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
const CALLS = 200;
const RUNS = 5;
const EVENT_CALLS = 20;
const LIMIT_MS = 180_000;

const log = (m: string) => process.stderr.write(`[bench:console] ${m}\n`);
const guard = setTimeout(() => {
  log(`gave up after ${LIMIT_MS / 1000} s`);
  process.exit(2);
}, LIMIT_MS);
guard.unref();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const bundle = await buildConsole();
  const jsKb = Math.round((bundle.jsGzipBytes / 1024) * 10) / 10;
  const cssKb = Math.round((bundle.cssGzipBytes / 1024) * 10) / 10;
  const kb = (b: number) => Math.round((b / 1024) * 10) / 10;
  const firstKb = kb(bundle.firstLoadGzipBytes);
  const phoneKb = kb(bundle.phoneGzipBytes);
  log(
    `bundle: JS ${jsKb} KB gzipped (${bundle.jsBytes} B raw): first load ${firstKb} KB, the Phone's JsSIP chunk ${phoneKb} KB; app.css ${cssKb} KB gzipped`,
  );

  const exe = chromiumPath();
  if (!exe) throw new Error('Chromium (/usr/bin/chromium) is required for the render figure');

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dzvin-bench-console-'));
  const built = await buildApp(
    defaultConfig({
      databaseUrl: `sqlite:${path.join(tmp, 'db.sqlite')}`,
      recordingsDir: path.join(tmp, 'rec'),
      port: 0,
      logLevel: 'warn',
    }),
    { logger: false },
  );
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    await built.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = built.app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const baseUrl = `http://127.0.0.1:${port}`;

    const { directory, accounts } = built.services;
    const { account, apiKey } = await accounts.create({ domain: 'bench.localhost', defaultCountry: 'UA' });
    const emps = [];
    for (const [ext, name] of [
      ['001', 'Олена Коваленко'],
      ['002', 'Андрій Мельник'],
      ['003', 'Марія Бондар'],
    ])
      emps.push(await directory.employees.create(account, { displayName: name, ext }));
    await accounts.update(account.id, { apiUserId: emps[0].id });
    const ivr = await directory.ivr.create(account, { name: 'Черга', timeoutSec: 120, options: [] });
    await directory.trunks.create(account, {
      number: '+380442246595',
      name: 'Головний',
      destination: { type: 'ivr', id: ivr.id },
      isDefault: true,
    });
    const acc = (await built.store.accounts.byDomain('bench.localhost'))!;
    for (let i = 0; i < CALLS; i++)
      await built.simulator.sim.incoming(acc, `+38050${String(1_000_000 + i).slice(1)}`, '+380442246595');
    log(`${CALLS} calls in progress`);

    browser = await chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const auth = await context.request.post(`${baseUrl}/rest/security/authorize`, {
      data: { domain: 'bench.localhost', apiKey },
    });
    if (!auth.ok()) throw new Error(`authorize: ${auth.status()} ${await auth.text()}`);
    const page = await context.newPage();

    const times: number[] = [];
    for (let run = 0; run <= RUNS; run++) {
      if (run === 0) await page.goto(`${baseUrl}/#/live`, { waitUntil: 'commit' });
      else await page.reload({ waitUntil: 'commit' });
      const handle = await page.waitForFunction(
        (n) => {
          // (Runs in the page; the bench is type-checked without DOM types.)
          const doc = (
            globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }
          ).document;
          return doc.querySelectorAll('[data-testid=live-call]').length >= n ? performance.now() : 0;
        },
        CALLS,
        { polling: 'raf', timeout: 30_000 },
      );
      const ms = Math.round((await handle.jsonValue()) as number);
      log(`${run === 0 ? 'cold' : `run ${run}`}: ${CALLS} cards after ${ms} ms`);
      times.push(ms);
    }
    const warm = times.slice(1);

    // A call placed while Live is open → its card on screen (the SSE call.dial, the re-render):
    // timed in this process from before the simulator places the call until the page reports one
    // more card (checked every animation frame), so a Playwright round trip is included.
    const eventMs: number[] = [];
    for (let i = 0; i < EVENT_CALLS; i++) {
      const before = await page.locator('[data-testid=live-call]').count();
      const t0 = performance.now();
      await built.simulator.sim.incoming(acc, `+38067${String(1_000_000 + i).slice(1)}`, '+380442246595');
      await page.waitForFunction(
        (n) =>
          (
            globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }
          ).document.querySelectorAll('[data-testid=live-call]').length > n,
        before,
        { polling: 'raf', timeout: 30_000 },
      );
      eventMs.push(Math.round(performance.now() - t0));
    }
    log(`call placed → card on Live: ${eventMs.join(', ')} ms`);
    const report = {
      date: new Date().toISOString(),
      node: process.version,
      chromium: browser.version(),
      cpus: os.cpus().length,
      calls: CALLS,
      bundle: {
        js_bytes: bundle.jsBytes,
        js_gzip_bytes: bundle.jsGzipBytes,
        first_load_gzip_bytes: bundle.firstLoadGzipBytes,
        phone_chunk_gzip_bytes: bundle.phoneGzipBytes,
        css_bytes: bundle.cssBytes,
        css_gzip_bytes: bundle.cssGzipBytes,
      },
      live_render_ms: { cold: times[0], runs: warm, median: median(warm), max: Math.max(...warm) },
      call_to_card_ms: { runs: eventMs, median: median(eventMs), max: Math.max(...eventMs) },
    };
    const summary = {
      js_gzip_kb: jsKb,
      first_load_gzip_kb: firstKb,
      phone_chunk_gzip_kb: phoneKb,
      css_gzip_kb: cssKb,
      live_render_ms: median(warm),
      live_render_cold_ms: times[0],
      call_to_card_ms: median(eventMs),
    };
    fs.mkdirSync(RESULTS, { recursive: true });
    fs.writeFileSync(
      path.join(RESULTS, 'console.json'),
      `${JSON.stringify({ ...report, summary }, null, 2)}\n`,
    );
    fs.writeFileSync(
      path.join(RESULTS, 'console.md'),
      `# Web console benchmark

\`npm run bench:console\` — ${report.date}, Node ${report.node}, Chromium ${report.chromium} (headless), ${report.cpus} CPUs.

| Figure | Value | Target |
|---|---|---|
| All the console's JS gzipped (minified production bundle: Preact, uPlot, all pages, the Phone's SIP UA) | **${jsKb} KB** (${(bundle.jsBytes / 1024).toFixed(1)} KB raw) | < 250 KB |
| of which the first load (app.js and its shared chunk) | ${firstKb} KB | |
| of which the Phone's chunk (JsSIP and web/phone/sip-phone.ts, loaded only when an employee signs in) | ${phoneKb} KB (${Math.round((100 * bundle.phoneGzipBytes) / bundle.jsGzipBytes)}%) | |
| app.css gzipped | ${cssKb} KB | |
| Live page, navigation start → ${CALLS} call cards on screen (median of ${RUNS} reloads) | **${median(warm)} ms** (max ${Math.max(...warm)} ms) | < 1 s |
| Same, cold (first load, empty cache) | ${times[0]} ms | |
| A call placed while Live shows ${CALLS} calls → its card on screen (median of ${EVENT_CALLS}; includes a Playwright round trip) | **${median(eventMs)} ms** (max ${Math.max(...eventMs)} ms) | < 1 s |

The ${CALLS} calls are incoming calls placed through the simulator and waiting in an IVR; the page loads
the bundle, checks the session (\`GET /api/v1/me\`, then \`GET /api/v1/account\`), opens the SSE stream and renders the
\`/rest/calls/active/v3\` snapshot. Raw numbers: \`console.json\`.
`,
    );
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    await browser?.close();
    await built.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    log(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
