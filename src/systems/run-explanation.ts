import type { PrismaClient, Run, SyncRule } from "../generated/prisma/client.ts";

/** Why a run that COMPLETED changed nothing: a stable code, one sentence and what to do next. */
export interface RunExplanation {
  code:
    | "SOURCE_EMPTY"
    | "NO_SOURCE_CHANGES"
    | "ALL_UNCHANGED"
    | "NOT_IMPORTED"
    | "NO_OBJECT_IN_SCOPE"
    | "RULE_CHANGED_SINCE_FULL_SYNC"
    | "HELD_FOR_APPROVAL"
    | "WAITING_FOR_RETRY"
    | "NO_SOURCE_RULE"
    | "NOT_SYNCED"
    | "RULE_CHANGED_SINCE_SYNC"
    | "NO_METAVERSE_OBJECTS"
    | "NOT_PROVISIONING"
    | "UP_TO_DATE";
  message: string;
  nextSteps: string[];
}

type Db = Pick<
  PrismaClient,
  "run" | "syncRule" | "connectorSpaceObject" | "pendingExport" | "metaverseObject" | "connectedSystem"
>;
type ExplainedRun = Pick<
  Run,
  | "id"
  | "profile"
  | "status"
  | "connectedSystemId"
  | "createdAt"
  | "startedAt"
  | "fetched"
  | "created"
  | "updated"
  | "deleted"
  | "failed"
  | "exportsQueued"
>;

const when = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");
const runCommand = (system: string, profile: string) => `metasync run ${system} ${profile} --wait`;

/** A COMPLETED run that created, updated, deleted, failed and planned nothing. */
export function isEmptyCompletedRun(run: ExplainedRun): boolean {
  return run.status === "COMPLETED" && run.created + run.updated + run.deleted + run.failed + run.exportsQueued === 0;
}

/**
 * The known reason a COMPLETED run changed nothing, or null when it changed something (or did
 * not complete: those carry their own reason). Judged as of the run's start where history allows
 * it (rules changed and syncs run before it), so an old run keeps its explanation; pending
 * exports are counted as they are now. Shared by the CLI, GraphQL (Run.explanation) and the
 * dashboard, so every surface gives the same answer.
 */
export async function explainRun(db: Db, run: ExplainedRun): Promise<RunExplanation | null> {
  if (!isEmptyCompletedRun(run)) return null;
  const system = await db.connectedSystem.findUnique({ where: { id: run.connectedSystemId }, select: { name: true } });
  if (!system) return null;
  const at = run.startedAt ?? run.createdAt;
  switch (run.profile) {
    case "FULL_IMPORT":
    case "DELTA_IMPORT":
      return explainImport(run, system.name);
    case "FULL_SYNC":
    case "DELTA_SYNC":
      return explainSync(db, run, system.name, at);
    case "EXPORT":
      return explainExport(db, run, system.name, at);
    case "REALTIME":
      // A micro-batch of pushed changes that were all unchanged: nothing to say beyond the counts.
      return null;
  }
}

function explainImport(run: ExplainedRun, name: string): RunExplanation {
  if (run.fetched === 0 && run.profile === "DELTA_IMPORT")
    return {
      code: "NO_SOURCE_CHANGES",
      message: `${name} reported no change since the previous import.`,
      nextSteps: [],
    };
  if (run.fetched === 0)
    return {
      code: "SOURCE_EMPTY",
      message: `${name} returned no objects: the file, table or search base its configuration names is empty.`,
      nextSteps: [`Check the system's configuration and connection with \`metasync systems test ${name}\``],
    };
  return {
    code: "ALL_UNCHANGED",
    message: `All ${run.fetched} objects read from ${name} are unchanged since the previous import.`,
    nextSteps: [],
  };
}

async function explainSync(db: Db, run: ExplainedRun, name: string, at: Date): Promise<RunExplanation> {
  const imported =
    run.fetched === 0 ? await lastCompleted(db, [run.connectedSystemId], ["FULL_IMPORT", "DELTA_IMPORT"], at) : null;
  if (run.fetched === 0 && !imported)
    return {
      code: "NOT_IMPORTED",
      message: `${name} has not been imported yet, so its connector space has nothing to sync.`,
      nextSteps: [`Import it first: \`${runCommand(name, "full_import")}\``],
    };
  const rules = await db.syncRule.findMany({
    where: { connectedSystemId: run.connectedSystemId, direction: "INBOUND", enabled: true },
    orderBy: { name: "asc" },
  });
  if (run.profile === "DELTA_SYNC") {
    const full = await lastCompleted(db, [run.connectedSystemId], ["FULL_SYNC"], at);
    const changed = rules.filter((r) => r.updatedAt <= at && (!full || r.updatedAt > (full.startedAt ?? full.createdAt)));
    if (changed.length)
      return {
        code: "RULE_CHANGED_SINCE_FULL_SYNC",
        message: `${ruleList(changed)} changed after the last full sync of ${name}; a delta sync only looks at objects that changed in ${name}, not at rule changes.`,
        nextSteps: [`Apply the rule to every object with a full sync: \`${runCommand(name, "full_sync")}\``],
      };
  }
  if (run.fetched === 0 && run.profile === "DELTA_SYNC")
    return { code: "NO_SOURCE_CHANGES", message: `No object of ${name} changed since its last sync.`, nextSteps: [] };
  if (imported)
    return {
      code: "SOURCE_EMPTY",
      message: `The connector space of ${name} is empty: its last import (${when(imported.startedAt ?? imported.createdAt)}) found no objects.`,
      nextSteps: [`Check the system's configuration with \`metasync systems test ${name}\``],
    };
  const joined = await db.connectorSpaceObject.count({
    where: { connectedSystemId: run.connectedSystemId, metaverseObjectId: { not: null } },
  });
  if (joined === 0)
    return {
      code: "NO_OBJECT_IN_SCOPE",
      message: `None of the ${run.fetched} objects of ${name} is joined to an identity: no object is in scope of ${ruleList(rules)}, or the rules neither join nor project (projectToMetaverse).`,
      nextSteps: [
        "Check the rules' objectType, scope, joinRules and projectToMetaverse (`metasync systems list` shows their counts)",
      ],
    };
  return {
    code: "ALL_UNCHANGED",
    message: `All ${run.fetched} objects of ${name} already agree with the metaverse and the rules; no outbound rule needed a change.`,
    nextSteps: [],
  };
}

async function explainExport(db: Db, run: ExplainedRun, name: string, at: Date): Promise<RunExplanation> {
  const held = await db.pendingExport.count({ where: { connectedSystemId: run.connectedSystemId, status: "AWAITING_APPROVAL" } });
  if (held)
    return {
      code: "HELD_FOR_APPROVAL",
      message: `${held} export(s) to ${name} wait for approval (a threshold, breaker or rule holds them); an export run sends approved ones only.`,
      nextSteps: [
        `Review them with \`metasync exports --system ${name} --status AWAITING_APPROVAL\``,
        "Approve them with approvePendingExports (or the dashboard's Exports page), then export again",
      ],
    };
  const retrying = await db.pendingExport.findFirst({
    where: { connectedSystemId: run.connectedSystemId, status: "FAILED", nextRetryAt: { gt: at } },
    orderBy: { nextRetryAt: "asc" },
    select: { nextRetryAt: true },
  });
  if (retrying?.nextRetryAt)
    return {
      code: "WAITING_FOR_RETRY",
      message: `Exports to ${name} failed before and wait for their retry time (the first at ${when(retrying.nextRetryAt)}).`,
      nextSteps: [`See their errors with \`metasync exports --system ${name} --status FAILED\``],
    };
  const rules = await db.syncRule.findMany({
    where: { connectedSystemId: run.connectedSystemId, direction: "OUTBOUND", enabled: true },
    orderBy: { name: "asc" },
  });
  for (const rule of rules) {
    const why = await explainOutboundRule(db, rule, name, at);
    if (why) return why;
  }
  return {
    code: "UP_TO_DATE",
    message: `Nothing was pending for ${name}: the last syncs of its sources found every identity in scope of ${ruleList(rules)} already in step with ${name}.`,
    nextSteps: [],
  };
}

/** Why one outbound rule planned nothing for the run, or null when it had its chance. */
async function explainOutboundRule(db: Db, rule: SyncRule, name: string, at: Date): Promise<RunExplanation | null> {
  const sources = await db.syncRule.findMany({
    where: { direction: "INBOUND", enabled: true, metaverseObjectType: rule.metaverseObjectType },
    select: { connectedSystemId: true, connectedSystem: { select: { name: true } } },
  });
  const sourceIds = [...new Set(sources.map((s) => s.connectedSystemId))].filter((id) => id !== rule.connectedSystemId);
  const sourceNames = [
    ...new Set(sources.filter((s) => sourceIds.includes(s.connectedSystemId)).map((s) => s.connectedSystem.name)),
  ];
  if (!sourceIds.length)
    return {
      code: "NO_SOURCE_RULE",
      message: `No inbound rule of another system brings "${rule.metaverseObjectType}" identities into the metaverse, so rule "${rule.name}" has nothing to export to ${name}.`,
      nextSteps: [`Add an INBOUND rule with metaverseObjectType "${rule.metaverseObjectType}" on a source system`],
    };
  const first = sourceNames[0] ?? "";
  const synced = await lastCompleted(db, sourceIds, ["FULL_SYNC", "DELTA_SYNC"], at);
  if (!synced)
    return {
      code: "NOT_SYNCED",
      message: `No sync of ${sourceNames.join(", ")} has completed yet; syncs plan the exports to ${name}.`,
      nextSteps: [
        `Import and sync the source: \`${runCommand(first, "full_import")}\`, then \`${runCommand(first, "full_sync")}\`, then export again`,
      ],
    };
  // Only a full sync replans every identity; a rule saved after the last one has not been applied.
  const full = await lastCompleted(db, sourceIds, ["FULL_SYNC"], at);
  if (rule.updatedAt <= at && (!full || rule.updatedAt > (full.startedAt ?? full.createdAt)))
    return {
      code: "RULE_CHANGED_SINCE_SYNC",
      message: `Rule "${rule.name}" changed at ${when(rule.updatedAt)}, after the last full sync of ${sourceNames.join(", ")}${full ? ` (${when(full.startedAt ?? full.createdAt)})` : ""}, so no export was planned for it yet.`,
      nextSteps: [`Plan its exports with a full sync: \`${runCommand(first, "full_sync")}\`, then export again`],
    };
  const identities = await db.metaverseObject.count({ where: { type: rule.metaverseObjectType, status: "ACTIVE" } });
  if (!identities)
    return {
      code: "NO_METAVERSE_OBJECTS",
      message: `The metaverse holds no "${rule.metaverseObjectType}" identity, so rule "${rule.name}" has nothing to export.`,
      nextSteps: [`Check the inbound rules of ${sourceNames.join(", ")} (scope, projectToMetaverse)`],
    };
  if (!rule.provisionToConnector) {
    const joined = await db.connectorSpaceObject.count({
      where: { connectedSystemId: rule.connectedSystemId, metaverseObjectId: { not: null } },
    });
    if (!joined)
      return {
        code: "NOT_PROVISIONING",
        message: `Rule "${rule.name}" does not provision (provisionToConnector is off) and no object of ${name} is joined to an identity, so it only updates objects that do not exist yet.`,
        nextSteps: [`Set provisionToConnector: true on "${rule.name}", or import ${name} and join its objects`],
      };
  }
  return null;
}

async function lastCompleted(db: Db, systemIds: string[], profiles: Run["profile"][], before: Date) {
  return db.run.findFirst({
    where: {
      connectedSystemId: { in: systemIds },
      profile: { in: profiles },
      status: { in: ["COMPLETED", "PARTIAL"] },
      dryRun: false,
      createdAt: { lte: before },
    },
    orderBy: { createdAt: "desc" },
    select: { startedAt: true, createdAt: true },
  });
}

const ruleList = (rules: Pick<SyncRule, "name">[]) =>
  rules.length ? `rule${rules.length > 1 ? "s" : ""} ${rules.map((r) => `"${r.name}"`).join(", ")}` : "any rule";
