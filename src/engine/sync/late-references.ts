import type pg from "pg";
import { type PlanScope, planExports } from "../outbound/plan.ts";
import { insertRunChanges } from "../run-changes.ts";
import { loadMetaverseObjects } from "./store.ts";

/**
 * A sync plans each batch's identities as it goes, so a reference to an identity that a later
 * batch projects (a report synced before their manager) finds no target and plans no value.
 * Once the run's last batch is in, those identities are planned again: their open exports are
 * revised with the references that now resolve (nothing changes for those that still do not).
 * Which ones: those the run's planning saw a reference of match no identity, when one scope
 * planned every batch (plan.unresolvedReferences); otherwise (partitions on other workers, a
 * resumed run) every identity whose exports this run planned without a reference attribute.
 * Runs in the last batch's transaction, so a crash before it commits redoes it with that batch.
 */
export async function planLateReferences(tx: pg.PoolClient, plan: PlanScope, sliceSize: number) {
  const rules = plan.rules.flatMap((r) => r.flows.filter((f) => f.reference).map((f) => ({ rule: r.id, attribute: f.target })));
  if (!rules.length) return { exportsQueued: 0, failed: 0 };
  // The planned-without-reference rule also takes every identity whose reference simply did not
  // change: a delta of renames and moves was planned twice over (2,001 exports rewritten unchanged
  // in a 1,000-person delta), and a real-time run once more per push.
  const ids = plan.unresolvedReferences ? [...plan.unresolvedReferences] : await plannedWithoutReference(tx, plan.runId, rules);
  plan.unresolvedReferences?.clear();
  // In slices of a sync batch: at 100,000 people tens of thousands can wait for a manager another
  // partition planned, and only one slice of identities and their planned exports is held at a time.
  const totals = { exportsQueued: 0, failed: 0 };
  for (let i = 0; i < ids.length; i += sliceSize) {
    const identities = [...(await loadMetaverseObjects(tx, ids.slice(i, i + sliceSize))).values()].filter(
      (m) => m.status !== "DELETED",
    );
    const planned = await planExports(tx, plan, identities);
    await insertRunChanges(tx, plan.runId, planned.changes);
    totals.exportsQueued += planned.exportsQueued;
    totals.failed += planned.failed;
  }
  return totals;
}

/** Identities whose exports this run planned without one of the rules' reference attributes. */
async function plannedWithoutReference(tx: pg.PoolClient, runId: string, rules: { rule: string; attribute: string }[]) {
  const { rows } = await tx.query<{ id: string }>(
    `SELECT DISTINCT p.metaverse_object_id AS id
       FROM pending_export p JOIN unnest($2::uuid[], $3::text[]) AS r(rule_id, attribute) ON r.rule_id = p.sync_rule_id
      WHERE p.planning_run_id = $1 AND p.metaverse_object_id IS NOT NULL
        AND p.change_type IN ('CREATE', 'UPDATE') AND p.status IN ('PENDING', 'AWAITING_APPROVAL')
        AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p.attribute_changes) c WHERE c->>'attribute' = r.attribute)`,
    [runId, rules.map((r) => r.rule), rules.map((r) => r.attribute)],
  );
  return rows.map((r) => r.id);
}
