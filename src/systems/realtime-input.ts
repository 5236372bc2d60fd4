import { z } from "zod";
import type { RealtimeSettings } from "../engine/realtime/inbox-store.ts";
import { invalidInput, issueProblems } from "../errors.ts";
import type { SecretBox } from "../secrets.ts";

/** ConnectedSystemInput.realtime and the apply document's `realtime`: one schema for both. */
export const RealtimeSchema = z
  .object({
    enabled: z.boolean().describe("Accept pushed changes (POST /hooks/<system>) and apply them within about a second."),
    windowMs: z
      .number()
      .int()
      .min(0)
      .max(10_000)
      .nullish()
      .describe("How long the first push waits for more before its run starts, in milliseconds (default 25)."),
    batchSize: z.number().int().min(1).max(10_000).nullish().describe("Most records one push may carry (default 1,000)."),
    watch: z
      .boolean()
      .nullish()
      .describe(
        "Watch the source for changes and push them here (a CSV file on disk, a SQL table with change notifications installed, an LDAP directory polled by entryCSN); default off. See README Real-time watchers.",
      ),
    pollIntervalMs: z
      .number()
      .int()
      .min(100)
      .max(3_600_000)
      .nullish()
      .describe(
        "How often a watcher polls (LDAP: for changed entries; CSV: the file, besides file events; SQL: the change log, besides notifications), in milliseconds (default 2,000).",
      ),
    webhookSecret: z
      .string()
      .min(16)
      .max(256)
      .nullish()
      .describe(
        "Secret of the X-Metasync-Signature HMAC-SHA256 over pushes; stored encrypted, read back as ********; left out or ******** keeps it.",
      ),
  })
  .strict();

export const DEFAULT_PUSH_BATCH = 1000;
const REDACTED = "********";

/**
 * The settings as stored (connected_system.realtime) and the sealed webhook secret:
 * `undefined` keeps the stored secret, null removes it. BAD_USER_INPUT names each bad field.
 */
export function parseRealtime(
  input: unknown,
  secrets: SecretBox,
): { settings: RealtimeSettings | null; sealedSecret: string | null | undefined } {
  if (input == null) return { settings: null, sealedSecret: null };
  const parsed = RealtimeSchema.safeParse(input);
  if (!parsed.success) throw invalidInput("invalid real-time settings", issueProblems(parsed.error.issues, "realtime"));
  const { enabled, windowMs, batchSize, watch, pollIntervalMs, webhookSecret } = parsed.data;
  const keep = webhookSecret === undefined || webhookSecret === REDACTED;
  return {
    settings: {
      enabled,
      windowMs: windowMs ?? null,
      batchSize: batchSize ?? null,
      watch: watch ?? false,
      pollIntervalMs: pollIntervalMs ?? null,
    },
    sealedSecret: keep ? undefined : webhookSecret === null ? null : secrets.seal({ secret: webhookSecret }),
  };
}
