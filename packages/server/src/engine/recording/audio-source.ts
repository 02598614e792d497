import type { Recorder } from '../../domain/calls/call-model.ts';

/**
 * The Recorder's feed path, as a source sees it: `feed` the sides' audio of a call as it
 * arrives; `settled` lets a source that produces audio on a timer (the synthesized one) wait
 * until what it fed is on disk before producing more.
 */
export interface AudioSink {
  feed: Recorder['feed'];
  /** Resolves once everything fed to `uuid` so far is written (at once for a call not recording). */
  settled(uuid: string): Promise<void>;
}

/**
 * Where a recording's audio comes from. The recorder starts it with the recording (at the
 * bridge) and stops it at hangup; in between the source feeds the call's rx (the external party)
 * and tx (the employee) sides into the sink as 8 kHz 16-bit PCM, and the recorder mixes and
 * stores them. The recorder's source synthesizes two voices (synth.ts) for the calls of simulated
 * phones; a call with a real phone is started with `source: 'fed'` and its driver feeds the
 * phone's RTP, decoded, 20 ms at a time (engine/sip/media/rtp-recording.ts).
 */
export interface AudioSource {
  /** The call's recording starts at `atMs`: feed its audio from then on into `sink`. */
  start(uuid: string, atMs: number, sink: AudioSink): void;
  /** The recording ends at `atMs`: feed what is due up to then before returning, and stop. Harmless twice. */
  stop(uuid: string, atMs: number): void;
}
