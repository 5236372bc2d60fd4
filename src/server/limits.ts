import type { Config, ServerLimits } from "../config.ts";

/**
 * Defaults of the server's resource limits. Each is far above what the dashboard or a script
 * needs and far below what exhausts the process: 60,000 subscriptions on one socket took the
 * server to 1.7 GB, 15,000 ids in nodes() to 8.7 s.
 */
export const DEFAULT_LIMITS: ServerLimits = {
  subscriptionsPerConnection: 100,
  subscriptionsPerKey: 1000,
  wsMaxBufferedBytes: 4 * 1024 * 1024,
  maxListArgument: 100,
  maxQueryCost: 100_000,
  authFailuresPerMinute: 10,
};

export function serverLimits(config: Pick<Config, "limits">): ServerLimits {
  const set = Object.fromEntries(Object.entries(config.limits ?? {}).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_LIMITS, ...set };
}
