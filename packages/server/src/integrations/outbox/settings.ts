/** How deliveries are made; from Config (`DZVIN_WEBHOOK_*`). */
export interface DeliverySettings {
  /** Per attempt. */
  timeoutMs: number;
  /** Requests in flight per CRM connection: a slow CRM holds only its own slots. */
  concurrencyPerConnection: number;
  /** How long a claim lasts; a crashed process's claims are taken over after it. */
  leaseMs: number;
  retryBaseMs: number;
  retryCapMs: number;
  /** Keep retrying this long (from creation or replay), then dead-letter. */
  retryForMs: number;
  /** Rows claimed per query. */
  batchSize: number;
  /** Safety-net poll for work enqueued by other processes (real time). */
  pollIntervalMs: number;
}

export const DEFAULT_DELIVERY_SETTINGS: DeliverySettings = {
  timeoutMs: 10_000,
  concurrencyPerConnection: 16,
  leaseMs: 60_000,
  retryBaseMs: 1_000,
  retryCapMs: 3_600_000,
  retryForMs: 24 * 3_600_000,
  batchSize: 256,
  pollIntervalMs: 1_000,
};
