import type pg from "pg";
import { insertRunChanges, type RunChangeRow } from "../run-changes.ts";
import type { RunCounts } from "../run-context.ts";
import { resolveJoins } from "./join.ts";
import { type KeySpec, keysFor } from "./keys.ts";
import { recomputeMetaverseObjects } from "./recompute.ts";
import { type InboundRule, ruleFor } from "./rules.ts";
import {
  deleteObsolete,
  type MetaverseWrite,
  queueOutbound,
  replaceKeys,
  type SyncObject,
  updateJoins,
  upsertMetaverseObjects,
} from "./store.ts";

export interface SyncScope {
  runId: string;
  systemId: string;
  dryRun: boolean;
  rules: InboundRule[];
  /** metaverse type -> how its attributes are indexed in metaverse_key for joins and dedupe. */
  keySpecs: Map<string, KeySpec[]>;
}

/** A change of one object's link to the metaverse decided by this batch. */
export interface LinkChange {
  cso: SyncObject;
  rule: InboundRule | null;
  mvoId: string | null;
  joinType: SyncObject["joinType"];
  kind: "JOINED" | "PROJECTED" | "DISCONNECTED" | "DUPLICATE_MERGED";
  /** The metaverse object a disconnect leaves (for deletion rules). */
  previousMvoId?: string;
  reason?: string;
}

/**
 * One sync batch: decide joins, projections and disconnections for the batch's connector
 * space objects, recompute every touched metaverse object from all its connectors, and write
 * it all (or, on a dry run, only the run changes) in the batch transaction.
 */
export async function syncBatch(tx: pg.PoolClient, scope: SyncScope, objects: SyncObject[]): Promise<Partial<RunCounts>> {
  const changes: RunChangeRow[] = [];
  const links: LinkChange[] = [];
  const reflow = new Set<string>();
  const unjoined: { cso: SyncObject; rule: InboundRule }[] = [];
  const obsolete: string[] = [];
  let failed = 0;

  for (const cso of objects) {
    if (cso.status === "OBSOLETE") {
      obsolete.push(cso.id);
      if (cso.mvoId) {
        const rule = scope.rules.find((r) => r.systemId === cso.systemId && r.objectType === cso.objectType) ?? null;
        links.push({
          cso,
          rule,
          mvoId: null,
          joinType: null,
          kind: "DISCONNECTED",
          previousMvoId: cso.mvoId,
          reason: "deleted at source",
        });
      }
      continue;
    }
    let rule: InboundRule | null;
    try {
      rule = await ruleFor(scope.rules, scope.systemId, cso.objectType, cso.attributes);
    } catch (e) {
      failed++;
      changes.push({
        changeType: "RECORD_ERROR",
        csoId: cso.id,
        anchor: cso.anchor,
        errorCode: "EXPRESSION_FAILED",
        message: (e as Error).message,
        sourceSystemId: scope.systemId,
      });
      continue;
    }
    if (!rule) {
      // Left the scope of every rule: an inbound link ends (outbound-provisioned links stay).
      if (cso.mvoId && cso.joinType !== "PROVISIONED") {
        const lastRule = scope.rules.find((r) => r.systemId === cso.systemId && r.objectType === cso.objectType) ?? null;
        links.push({
          cso,
          rule: lastRule,
          mvoId: null,
          joinType: null,
          kind: "DISCONNECTED",
          previousMvoId: cso.mvoId,
          reason: "out of scope",
        });
      }
      continue;
    }
    if (cso.mvoId) reflow.add(cso.mvoId);
    else unjoined.push({ cso, rule });
  }

  const joins = await resolveJoins(tx, scope, unjoined);
  links.push(...joins.links);
  changes.push(...joins.changes);
  failed += joins.failed;

  const result = await recomputeMetaverseObjects(tx, scope, links, reflow);
  changes.push(...result.changes);
  failed += result.failed;

  const touched = new Set(links.map((l) => l.cso.id));
  for (const o of objects) if (o.mvoId && result.changedMvoIds.has(o.mvoId)) touched.add(o.id);
  const counts: Partial<RunCounts> = {
    fetched: objects.length,
    created: result.created,
    updated: result.updated,
    deleted: result.deleted,
    failed,
    unchanged: Math.max(0, objects.filter((o) => !touched.has(o.id)).length - failed),
  };

  if (!scope.dryRun) {
    await upsertMetaverseObjects(tx, result.writes);
    await replaceKeys(
      tx,
      result.writes.map((w) => w.id),
      keysOf(scope, result.writes),
    );
    await updateJoins(
      tx,
      links.map((l) => ({ csoId: l.cso.id, mvoId: l.mvoId, joinType: l.joinType })),
    );
    await deleteObsolete(tx, obsolete);
    await queueOutbound(
      tx,
      scope.runId,
      result.writes.map((w) => w.id),
    );
  }
  await insertRunChanges(tx, scope.runId, changes);
  return counts;
}

function keysOf(scope: SyncScope, writes: MetaverseWrite[]) {
  return writes.flatMap((w: MetaverseWrite) =>
    w.status === "DELETED"
      ? []
      : keysFor(scope.keySpecs.get(w.type) ?? [], w.attributes).map((k) => ({ mvoId: w.id, type: w.type, ...k })),
  );
}
