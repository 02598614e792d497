// Preloaded into every test file's process by scripts/run-tests.mjs. Node 20's
// `--test-force-exit` can end a file's process before its last results have reached the runner
// (a file of 45 quick tests lost its tail in about one run of three): the run then reports fewer
// tests, and a failure among the lost ones would go unseen. A root `after` hook that waits a
// moment lets those results drain first. Only in a file's own process (NODE_TEST_CONTEXT is set
// there), never in the runner that spawns them.
if (process.env.NODE_TEST_CONTEXT) {
  const { after } = await import('node:test');
  after(() => new Promise((resolve) => setTimeout(resolve, 200)));
}
