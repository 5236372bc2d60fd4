import type pg from "pg";
import { deleteObsolete, updateJoins } from "../connector-space/store.ts";
import type { Identity } from "../outbound/desired.ts";
import { planExports } from "../outbound/plan.ts";
import { expressionFailure } from "../rule-expression-error.ts";
import { insertRunChanges, type RunChangeRow } from "../run-changes.ts";
import type { RunCounts } from "../run-context.ts";
import { lockIdentities } from "./concurrent.ts";
import { resolveJoins } from "./join.ts";
import { keysFor } from "./keys.ts";
import { recomputeMetaverseObjects } from "./recompute.ts";
import { type InboundRule, ruleFor } from "./rules.ts";
import type { LinkChange, SyncScope } from "./scope.ts";
import { loadMetaverseObjects, type MetaverseWrite, replaceKeys, type SyncObject, upsertMetaverseObjects } from "./store.ts";

/**
 * One sync batch: decide joins, projections and disconnections for the batch's connector
 * space objects, recompute every touched metaverse object from all its connectors, and write
 * it all (or, on a dry run, only the run changes) in the batch transaction. Long because it
 * is the batch's sequence of steps, each a call into its own module.
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
      changes.push(expressionFailure(e, { csoId: cso.id, anchor: cso.anchor, sourceSystemId: scope.systemId }));
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

  await lockIdentities(
    tx,
    scope,
    [...reflow, ...links.flatMap((l) => [l.mvoId, l.previousMvoId])].filter((id): id is string => !!id),
  );
  const result = await recomputeMetaverseObjects(tx, scope, links, reflow, objects);
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
      result.writes.filter((w) => !w.created).map((w) => w.id),
      keysOf(scope, result.writes),
    );
    await updateJoins(
      tx,
      links.map((l) => ({ csoId: l.cso.id, mvoId: l.mvoId, joinType: l.joinType })),
    );
    await deleteObsolete(tx, obsolete);
  }
  // Outbound evaluation of the identities this batch changed, in the same transaction.
  const touchedIdentities = [...reflow, ...links.flatMap((l) => (l.mvoId ? [l.mvoId] : []))];
  const plan = await planExports(tx, scope.plan, await identitiesToPlan(tx, scope, result.writes, touchedIdentities));
  changes.push(...plan.changes);
  counts.exportsQueued = plan.exportsQueued;
  counts.failed = failed + plan.failed;
  await insertRunChanges(tx, scope.runId, changes);
  return counts;
}

async function identitiesToPlan(
  tx: pg.PoolClient,
  scope: SyncScope,
  writes: MetaverseWrite[],
  touched: string[],
): Promise<Identity[]> {
  const identities: Identity[] = writes.map((w) => ({
    id: w.id,
    type: w.type,
    status: w.status,
    attributes: w.attributes,
    contributions: w.contributions,
  }));
  if (!scope.full || !scope.plan.rules.length) return identities;
  const written = new Set(writes.map((w) => w.id));
  const others = await loadMetaverseObjects(
    tx,
    [...new Set(touched)].filter((id) => !written.has(id)),
  );
  return [
    ...identities,
    ...[...others.values()].map((m) => ({
      id: m.id,
      type: m.type,
      status: m.status,
      attributes: m.attributes,
      contributions: m.contributions,
    })),
  ];
}

function keysOf(scope: SyncScope, writes: MetaverseWrite[]) {
  return writes.flatMap((w: MetaverseWrite) =>
    w.status === "DELETED"
      ? []
      : keysFor(scope.keySpecs.get(w.type) ?? [], w.attributes).map((k) => ({ mvoId: w.id, type: w.type, ...k })),
  );
}
