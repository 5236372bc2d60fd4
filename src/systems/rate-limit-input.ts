import { z } from "zod";
import type { RateLimit } from "../engine/connected-system/rate-limiter.ts";
import { invalidInput, issueProblems } from "../errors.ts";

const MAX = 1_000_000;

/** ConnectedSystemInput.rateLimit and the apply document's `rateLimit`: one schema for both. */
export const RateLimitSchema = z
  .object({
    requestsPerSecond: z
      .number()
      .positive()
      .max(MAX)
      .nullish()
      .describe("Calls to the system per second (a page fetched, an object written), across all workers."),
    objectsPerSecond: z
      .number()
      .positive()
      .max(MAX)
      .nullish()
      .describe("Objects read or written per second, across all workers."),
    burst: z
      .number()
      .int()
      .min(1)
      .max(MAX)
      .nullish()
      .describe("Most calls (and objects) that may go at once after a quiet spell; default one second's worth."),
  })
  .strict()
  .refine((l) => l.requestsPerSecond != null || l.objectsPerSecond != null, {
    message: "give requestsPerSecond or objectsPerSecond (or null to remove the limit)",
  });

/** The limit as stored (connected_system.rate_limit), or null; BAD_USER_INPUT naming each bad field. */
export function parseRateLimit(input: unknown, path = "rateLimit"): RateLimit | null {
  if (input == null) return null;
  const parsed = RateLimitSchema.safeParse(input);
  if (!parsed.success) throw invalidInput("invalid rate limit", issueProblems(parsed.error.issues, path));
  const { requestsPerSecond, objectsPerSecond, burst } = parsed.data;
  return { requestsPerSecond: requestsPerSecond ?? null, objectsPerSecond: objectsPerSecond ?? null, burst: burst ?? null };
}

/** parseRateLimit as the JSON column takes it. */
export const storedRateLimit = (input: unknown, path?: string) =>
  parseRateLimit(input, path) as ({ [key: string]: number | null } & RateLimit) | null;
