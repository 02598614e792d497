// The console's SIP phone (packages/console/web/phone/sip-phone.ts, JsSIP) bundled as the Phone
// page will load it (esbuild, ES2022, minified), exposed as `window.createSipPhone` for tests
// that drive it in Chromium.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { chromiumPath } from '../../../console/test/support/browser.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SIP_PHONE = path.resolve(HERE, '../../../console/web/phone/sip-phone.ts');

/** The page's markup: an <audio id="far"> for the other party and the bundle at `scriptUrl`. */
export const phonePageHtml = (scriptUrl: string) =>
  `<!doctype html><meta charset="utf-8"><title>phone</title><audio id="far" autoplay></audio><script type="module" src="${scriptUrl}"></script>`;

export async function buildPhoneBundle(): Promise<{ js: Buffer; gzipBytes: number }> {
  const out = await build({
    stdin: {
      contents: `import { createSipPhone } from ${JSON.stringify(SIP_PHONE)}; window.createSipPhone = createSipPhone;`,
      resolveDir: path.dirname(SIP_PHONE),
      loader: 'ts',
    },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    platform: 'browser',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = Buffer.from(out.outputFiles[0].contents);
  return { js, gzipBytes: gzipSync(js).length };
}

/**
 * Debian's Chromium as a phone's browser: headless, its fake microphone playing `tone` (a WAV),
 * autoplay allowed, ICE over loopback. `fakeUi: false` leaves the permission prompt unanswered,
 * which headless refuses (a page without the microphone); `ignoreCertificates` for a self-signed
 * nginx.
 */
export function launchPhoneChromium(
  opts: { tone?: string; fakeUi?: boolean; ignoreCertificates?: boolean } = {},
): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath()!,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--autoplay-policy=no-user-gesture-required',
      ...(opts.fakeUi === false ? [] : ['--use-fake-ui-for-media-stream']),
      '--use-fake-device-for-media-stream',
      ...(opts.tone ? [`--use-file-for-fake-audio-capture=${opts.tone}`] : []),
      // Everything here is on 127.0.0.1: let ICE use loopback candidates.
      '--allow-loopback-in-peer-connection',
      ...(opts.ignoreCertificates ? ['--ignore-certificate-errors'] : []),
    ],
  });
}
