import { createFileRecorder, type FileRecorder } from '../engine/recording/file-recorder.ts';
import { type AppContext, every } from './context.ts';

/**
 * Call recordings on disk. Built before the call engine and closed after it: the engine's last
 * hangups stop their recordings first, then whatever is still open is finished.
 */
export function openRecorder(ctx: AppContext): FileRecorder {
  const { app, config, clock, timers, logError } = ctx;
  const recorder = createFileRecorder({
    dir: config.recordingsDir,
    clock,
    timers,
    onError: (err, uuid) => logError({ err, uuid, msg: 'recording failed' }),
  });
  app.addHook('onClose', () => recorder.close());
  // The `.part` files a stopped process left: now, then every hour.
  const sweep = () =>
    recorder
      .sweep()
      .then((n) => n && app.log.warn(`removed ${n} unfinished recording file(s) left by a stopped process`));
  void sweep();
  every(app, 3_600_000, () => void sweep());
  return recorder;
}
