/** Alert delivery timings; tests shrink them (see test/helpers/services.ts), production keeps these. */
export interface AlertOptions {
  /** Attempts after the first before a delivery is FAILED. */
  retryLimit: number;
  /** Seconds before the first retry; doubled per retry (with jitter) up to retryDelayMaxSeconds. */
  retryDelaySeconds: number;
  retryDelayMaxSeconds: number;
  /** One HTTP attempt may take this long; then it counts as failed and is retried. */
  timeoutMs: number;
  /** Deliveries one worker process sends at the same time (a hanging endpoint holds one). */
  concurrency: number;
  /** pg-boss poll floor for retries; new alerts wake the delivery workers through the event bus. */
  pollingIntervalSeconds: number;
}

export const DEFAULT_ALERT_OPTIONS: AlertOptions = {
  retryLimit: 5,
  retryDelaySeconds: 10,
  retryDelayMaxSeconds: 600,
  timeoutMs: 10_000,
  concurrency: 4,
  pollingIntervalSeconds: 2,
};

export function alertOptions(overrides: Partial<AlertOptions> = {}): AlertOptions {
  return { ...DEFAULT_ALERT_OPTIONS, ...overrides };
}
