import type { RunChangeRow } from "../run-changes.ts";
import type { LinkChange } from "./scope.ts";
import type { MetaverseRow } from "./store.ts";

export interface DeletionInput {
  mvo: Pick<MetaverseRow, "id" | "status" | "deletionDueAt">;
  /** This batch's disconnections from the identity. */
  leaving: LinkChange[];
  /** How many inbound (not provisioned) connectors the identity keeps after this batch. */
  inboundConnectors: number;
  /** Whether this batch joined or projected a connector to it. */
  joinedHere: boolean;
  systemId: string;
  now: number;
}

export interface DeletionOutcome {
  status: MetaverseRow["status"];
  deletionDueAt: Date | null;
  changes: RunChangeRow[];
}

/**
 * What the deletion rules of the rules whose objects just left do to an identity: deleted now,
 * scheduled after the rule's grace period, or, when a connector joins an identity whose deletion
 * is pending, the deletion cancelled. Pure: the caller writes the outcome.
 */
export function decideDeletion({ mvo, leaving, inboundConnectors, joinedHere, systemId, now }: DeletionInput): DeletionOutcome {
  let status = mvo.status;
  let deletionDueAt = mvo.deletionDueAt;
  const changes: RunChangeRow[] = [];
  for (const l of leaving) {
    const rule = l.rule;
    const due =
      rule?.mvoDeletionRule === "WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS" ||
      (rule?.mvoDeletionRule === "WHEN_LAST_CONNECTOR_DISCONNECTS" && inboundConnectors === 0);
    if (!due || status === "DELETED") continue;
    const grace = rule?.mvoDeletionGraceSeconds ?? 0;
    status = grace > 0 ? "PENDING_DELETION" : "DELETED";
    deletionDueAt = grace > 0 ? new Date(now + grace * 1000) : null;
    changes.push({
      changeType: grace > 0 ? "MVO_DELETION_SCHEDULED" : "MVO_DELETED",
      mvoId: mvo.id,
      csoId: l.cso.id,
      syncRuleId: rule?.id ?? null,
      sourceSystemId: systemId,
      message: `${rule?.mvoDeletionRule}${grace > 0 ? `; deletion due ${deletionDueAt?.toISOString()}` : ""}`,
    });
  }
  if (mvo.status === "PENDING_DELETION" && status === "PENDING_DELETION" && joinedHere && inboundConnectors > 0) {
    status = "ACTIVE";
    deletionDueAt = null;
    changes.push({
      changeType: "MVO_DELETION_CANCELLED",
      mvoId: mvo.id,
      sourceSystemId: systemId,
      message: "a connector joined again",
    });
  }
  return { status, deletionDueAt, changes };
}
