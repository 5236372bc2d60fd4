import type pg from "pg";
import { explainProvisioning, type ProvisioningDecision } from "../engine/outbound/explain.ts";
import { unpackContributions } from "../engine/sync/contributions.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";

/** Who set one metaverse attribute's current value: system, rule and run, by name. */
export interface ValueProvenance {
  attribute: string;
  value: unknown;
  systemId: string | null;
  systemName: string | null;
  ruleId: string | null;
  ruleName: string | null;
  runId: string | null;
  runProfile: string | null;
  runFinishedAt: Date | null;
  precedence: number | null;
  /** One sentence: "hr-people (rule hr-in, precedence 100) set it in FULL_SYNC run ... at ...". */
  reason: string;
}

export interface MetaverseObjectExplanation {
  values: ValueProvenance[];
  provisioning: ProvisioningDecision[];
}

interface Identity {
  id: string;
  type: string;
  status: string;
  attributes: unknown;
  contributions: unknown;
}

/**
 * Why an identity looks the way it does: each value with the system, rule and run that set it
 * (from the contributions written with every merge), and each outbound rule's decision about it
 * (engine/outbound/explain.ts). `shown` are the attributes as the caller may see them (sealed
 * values redacted); scopes are evaluated over the stored ones, as planning does.
 */
export async function explainMetaverseObject(
  deps: { prisma: PrismaClient; pool: Pick<pg.Pool, "query"> },
  identity: Identity,
  shown: Record<string, unknown>,
): Promise<MetaverseObjectExplanation> {
  const contributions = unpackContributions(identity.contributions);
  const used = Object.values(contributions);
  const ids = (key: "systemId" | "ruleId" | "runId") => [...new Set(used.map((c) => c[key]).filter(Boolean))];
  const [systems, rules, runs] = await Promise.all([
    deps.prisma.connectedSystem.findMany({ where: { id: { in: ids("systemId") } }, select: { id: true, name: true } }),
    deps.prisma.syncRule.findMany({ where: { id: { in: ids("ruleId") } }, select: { id: true, name: true } }),
    deps.prisma.run.findMany({
      where: { id: { in: ids("runId") } },
      select: { id: true, profile: true, finishedAt: true, startedAt: true },
    }),
  ]);
  const nameOf = (list: { id: string; name: string }[], id: string | undefined) => list.find((x) => x.id === id)?.name ?? null;
  const values = Object.keys(shown)
    .sort()
    .map((attribute): ValueProvenance => {
      const c = contributions[attribute];
      const run = runs.find((r) => r.id === c?.runId);
      const systemName = nameOf(systems, c?.systemId);
      const ruleName = nameOf(rules, c?.ruleId);
      const finished = run?.finishedAt ?? run?.startedAt ?? null;
      const reason = c
        ? `${systemName ?? "a deleted system"} (rule ${ruleName ?? "deleted"}, precedence ${c.precedence}) set it` +
          (run ? ` in ${run.profile} run ${run.id}${finished ? ` at ${finished.toISOString()}` : ""}` : ` in run ${c.runId}`) +
          "."
        : "No contribution recorded (set before contributions were kept, or by an administrator).";
      return {
        attribute,
        value: shown[attribute],
        systemId: c?.systemId ?? null,
        systemName,
        ruleId: c?.ruleId ?? null,
        ruleName,
        runId: c?.runId ?? null,
        runProfile: run?.profile ?? null,
        runFinishedAt: run?.finishedAt ?? null,
        precedence: c?.precedence ?? null,
        reason,
      };
    });
  const attributes = (identity.attributes ?? {}) as Record<string, unknown>;
  const provisioning = await explainProvisioning(deps.pool, { ...identity, attributes });
  return { values, provisioning };
}
