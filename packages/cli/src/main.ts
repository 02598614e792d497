import { ConfigError, parseConfig, startServer } from '@dzvin/server';

const [cmd = 'serve'] = process.argv.slice(2);
if (cmd === 'serve') {
  try {
    await startServer(parseConfig(process.env));
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`dzvin: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
}
