// Node 20's `--test-force-exit` (scripts/run-tests.mjs uses it) can end a test file's process
// before the last results reached the runner: a file of ~45 quick tests lost its tail in about
// one run of three here (reported as fewer tests, and a failure there would go unseen). A root
// `after` hook that waits a moment lets those results drain first; the SIP test files call this.
import { after } from 'node:test';

export function letReportsDrainBeforeExit(ms = 200): void {
  after(() => new Promise<void>((resolve) => setTimeout(resolve, ms)));
}
