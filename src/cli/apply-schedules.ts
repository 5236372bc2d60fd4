import { z } from "zod";
import { badInput } from "../errors.ts";
import type { ApplyOutcome } from "../systems/sync-rules.ts";
import { canonicalJson } from "../util/canonical-json.ts";

/** What apply needs from the schedule service (src/systems/schedules.ts `Schedules`). */
export interface ScheduleStore {
  list(): Promise<ScheduleRow[]>;
  create(input: ScheduleInput): Promise<unknown>;
  update(id: string, input: ScheduleInput): Promise<unknown>;
}

interface ScheduleRow {
  id: string;
  name: string;
  enabled: boolean;
  cron: string | null;
  intervalSeconds: number | null;
  steps: unknown;
}

type Profile = "FULL_IMPORT" | "DELTA_IMPORT" | "FULL_SYNC" | "DELTA_SYNC" | "EXPORT";

interface ScheduleInput {
  name: string;
  enabled?: boolean | null;
  cron?: string | null;
  intervalSeconds?: number | null;
  steps: { connectedSystemId: string; profile: Profile; dryRun?: boolean }[];
}

/** A schedule in YAML: its steps name their system instead of giving its id. */
export const ScheduleEntry = z
  .object({
    name: z.string().min(1).describe("Unique, stable name: apply creates or updates the schedule of this name."),
    enabled: z.boolean().default(true).describe("A disabled schedule is kept but does not fire."),
    cron: z.string().min(1).nullish().describe('Cron expression of when it fires, e.g. "0 * * * *" (or intervalSeconds).'),
    intervalSeconds: z.number().int().positive().nullish().describe("Fire every this many seconds (or cron)."),
    steps: z
      .array(
        z
          .object({
            connectedSystem: z.string().min(1).describe("Name of the connected system to run."),
            profile: z
              .enum(["FULL_IMPORT", "DELTA_IMPORT", "FULL_SYNC", "DELTA_SYNC", "EXPORT"])
              .describe("Run profile of this step."),
            dryRun: z.boolean().default(false).describe("Plan only: record what the run would do, change nothing."),
          })
          .strict(),
      )
      .min(1)
      .describe("Runs started in order, each when the previous one COMPLETED."),
  })
  .strict();

/** Upsert schedules by name; a schedule equal to its entry is not written (its next fire time stays). */
export async function applySchedules(
  store: ScheduleStore,
  entries: Record<string, unknown>[],
  systemIds: Map<string, string>,
): Promise<ApplyOutcome[]> {
  const inputs = entries.map((raw, i) => {
    const parsed = ScheduleEntry.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw badInput(`schedules[${i}].${(issue?.path ?? []).join(".")}: ${issue?.message ?? "invalid"}`, `schedules[${i}]`);
    }
    const e = parsed.data;
    const steps = e.steps.map((s, j) => {
      const id = systemIds.get(s.connectedSystem);
      if (!id)
        throw badInput(`schedules[${i}].steps[${j}]: connected system "${s.connectedSystem}" is unknown`, `schedules[${i}]`);
      return { connectedSystemId: id, profile: s.profile, dryRun: s.dryRun };
    });
    return { name: e.name, enabled: e.enabled, cron: e.cron ?? null, intervalSeconds: e.intervalSeconds ?? null, steps };
  });
  const existing = new Map((await store.list()).map((s) => [s.name, s]));
  const outcomes: ApplyOutcome[] = [];
  for (const input of inputs) {
    const current = existing.get(input.name);
    if (!current) {
      await store.create(input);
      outcomes.push("created");
    } else if (
      current.enabled === input.enabled &&
      current.cron === input.cron &&
      current.intervalSeconds === input.intervalSeconds &&
      canonicalJson(current.steps) === canonicalJson(input.steps)
    ) {
      outcomes.push("unchanged");
    } else {
      await store.update(current.id, input);
      outcomes.push("updated");
    }
  }
  return outcomes;
}
