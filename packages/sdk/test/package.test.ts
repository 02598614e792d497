// The SDK stays dependency-light: at run time it loads only node: built-ins and its own files
// (@dzvin/protocol is imported for types only, erased when compiled).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('@dzvin/sdk package', () => {
  test('no runtime import other than node: built-ins and its own modules', () => {
    const offenders: string[] = [];
    for (const f of files(SRC)) {
      const src = fs.readFileSync(f, 'utf8');
      for (const m of src.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)) {
        const [, , typeOnly, spec] = m;
        if (typeOnly || spec.startsWith('node:') || spec.startsWith('.')) continue;
        offenders.push(`${path.relative(SRC, f)}: ${spec}`);
      }
    }
    assert.deepEqual(offenders, []);
  });

  test('the entry points load and export what the README shows', async () => {
    const sdk = await import('@dzvin/sdk');
    for (const name of [
      'PhonetClient',
      'DzvinAdminClient',
      'createWebhookHandler',
      'PHONET_SOURCE_IPS',
      'PhonetError',
      'PhonetRateLimitError',
    ])
      assert.ok(name in sdk, name);
    const testing = await import('@dzvin/sdk/testing');
    assert.equal(typeof testing.deliverWebhook, 'function');
    const webhooks = await import('@dzvin/sdk/webhooks');
    assert.equal(webhooks.createWebhookHandler, sdk.createWebhookHandler);
  });
});
