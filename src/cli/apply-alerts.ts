import { z } from "zod";
import type { AlertEndpoints } from "../alerts/endpoints.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { AlertEvent } from "../generated/prisma/enums.ts";
import type { SecretBox } from "../secrets.ts";
import type { ApplyOutcome } from "../systems/sync-rules.ts";

/** An alert endpoint in YAML: the createAlertEndpoint input; the secret from the environment. */
export const AlertEndpointEntry = z
  .object({
    name: z.string().min(1).describe("Unique, stable name: apply creates or updates the endpoint of this name."),
    url: z.string().min(1).describe("http or https URL that receives a signed JSON POST per alert."),
    secret: z
      .string()
      .min(1)
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the text names apply's ${NAME} syntax.
      .describe("Signing secret (at least 16 characters); write it as ${NAME} to keep it out of the file."),
    events: z.array(z.enum(AlertEvent)).min(1).describe("The alerts this endpoint receives, e.g. [RUN_FAILED, EXPORT_ERROR]."),
    enabled: z.boolean().default(true).describe("A disabled endpoint is kept but receives nothing."),
  })
  .strict();

export type AlertEndpointEntry = z.infer<typeof AlertEndpointEntry>;

/**
 * Upsert alert endpoints by name. An endpoint equal to its entry, its secret included (opened to
 * compare, never printed), is not written: applying the same file again changes nothing.
 */
export async function applyAlertEndpoints(
  deps: { alertEndpoints: AlertEndpoints; prisma: PrismaClient; secrets: SecretBox },
  entries: AlertEndpointEntry[],
): Promise<ApplyOutcome[]> {
  const outcomes: ApplyOutcome[] = [];
  for (const entry of entries) {
    const existing = await deps.prisma.alertEndpoint.findUnique({ where: { name: entry.name } });
    if (!existing) {
      await deps.alertEndpoints.create(entry);
      outcomes.push("created");
      continue;
    }
    const same =
      existing.url === entry.url.trim() &&
      existing.enabled === entry.enabled &&
      [...new Set(entry.events)].sort().join() === [...existing.events].sort().join() &&
      sameSecret(deps.secrets, existing.secret, entry.secret);
    if (same) outcomes.push("unchanged");
    else {
      await deps.alertEndpoints.update(existing.id, entry);
      outcomes.push("updated");
    }
  }
  return outcomes;
}

function sameSecret(secrets: SecretBox, sealed: string, secret: string): boolean {
  try {
    return secrets.open(sealed).secret === secret;
  } catch {
    return false;
  }
}
