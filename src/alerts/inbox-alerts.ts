import type { AlertFacts } from "./run-alerts.ts";

/**
 * INBOX_AGE, for the real-time inbox (not built yet, so nothing raises it today): the inbox's
 * drainer calls `AlertRaiser.raise(tx, [inboxAgeAlert(...)])` when a system's oldest waiting
 * record is older than its limit. The key allows one alert per system and limit window, so a
 * backlog that stays old pages again once per window, not at every check.
 */
export function inboxAgeAlert(input: {
  connectedSystemId: string;
  systemName: string;
  depth: number;
  oldestAgeMs: number;
  limitMs: number;
  now?: Date;
}): AlertFacts {
  const now = input.now ?? new Date();
  const window = Math.floor(now.getTime() / Math.max(60_000, input.limitMs));
  return {
    event: "INBOX_AGE",
    dedupeKey: `inbox:${input.connectedSystemId}:INBOX_AGE:${window}`,
    runId: null,
    connectedSystemId: input.connectedSystemId,
    document: {
      summary: `the real-time inbox of ${input.systemName} holds ${input.depth} record(s), the oldest ${Math.round(input.oldestAgeMs / 1000)} s old (limit ${Math.round(input.limitMs / 1000)} s)`,
      connectedSystem: { id: input.connectedSystemId, name: input.systemName },
      run: null,
      details: { depth: input.depth, oldestAgeMs: input.oldestAgeMs, limitMs: input.limitMs },
    },
  };
}
