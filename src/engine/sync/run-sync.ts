import type pg from "pg";
import { deleteThresholds } from "../connected-system/store.ts";
import { commitWithoutFlushWait } from "../durability.ts";
import { loadBreakerState } from "../outbound/breaker-hold.ts";
import { type PlanScope, planExports } from "../outbound/plan.ts";
import { loadOutboundRules } from "../outbound/rules.ts";
import { insertRunChanges } from "../run-changes.ts";
import type { OperationExecutor, RunContext, RunCounts } from "../run-context.ts";
import { type KeySpec, keySpecs } from "./keys.ts";
import { planLateReferences } from "./late-references.ts";
import { loadInboundRules } from "./rules.ts";
import type { SyncScope } from "./scope.ts";
import {
  deleteCsoChanges,
  deleteKeys,
  dueDeletions,
  indexKeyIfMissing,
  loadMetaverseObjects,
  markMetaverseObjectsDeleted,
  maxCsoChangeId,
  nextDeltaSyncPage,
  nextFullSyncPage,
  type SyncObject,
} from "./store.ts";
import { syncBatch } from "./sync-batch.ts";

const BATCH = 1000;

interface SyncCheckpoint {
  /** FULL_SYNC: last connector space object id done. */
  afterId: string | null;
  /** DELTA_SYNC: last cso_change id done. */
  afterChangeId: string;
  /** FULL_SYNC: the change queue up to here is covered by this run. */
  coveredChangeId: string;
  processed: number;
  dueDone: boolean;
}

/** FULL_SYNC (every object of the system) and DELTA_SYNC (the queued changes only). */
export function createSyncExecutor(
  mode: "full" | "delta",
  options: { batchSize: number } = { batchSize: BATCH },
): OperationExecutor {
  const batchSize = options.batchSize;
  return async (ctx) => {
    const rules = await loadInboundRules(ctx.pool);
    const plan: PlanScope = {
      runId: ctx.run.id,
      dryRun: ctx.run.dryRun,
      publish: ctx.publish?.bind(ctx),
      rules: await loadOutboundRules(ctx.pool),
      deleteThresholds: await deleteThresholds(ctx.pool),
      breaker: await loadBreakerState(ctx.pool, ctx.run.dryRun),
    };
    // Holds the breaker made in a batch go out as run events with that batch (a failed batch's are dropped).
    const breakerEvents = () => plan.breaker?.events.splice(0) ?? [];
    const scope: SyncScope = {
      runId: ctx.run.id,
      systemId: ctx.system.id,
      dryRun: ctx.run.dryRun,
      full: mode === "full",
      plan,
      rules,
      keySpecs: keySpecs(rules),
    };
    let cp: SyncCheckpoint = (ctx.run.checkpoint as SyncCheckpoint | null) ?? {
      afterId: null,
      afterChangeId: "0",
      coveredChangeId: await maxCsoChangeId(ctx.pool, ctx.system.id),
      processed: 0,
      dueDone: false,
    };
    if (!cp.dueDone) {
      if (!scope.dryRun) await indexMissingKeys(ctx.pool, scope.keySpecs);
      await ctx.batch(async (tx) => {
        breakerEvents();
        const { deleted, exportsQueued } = await applyDueDeletions(tx, scope);
        cp = { ...cp, dueDone: true };
        return {
          counts: { deleted, exportsQueued },
          processed: cp.processed,
          phase: "due deletions",
          checkpoint: cp,
          events: breakerEvents(),
        };
      });
    }
    for (;;) {
      let done = false;
      await ctx.batch(async (tx) => {
        await commitWithoutFlushWait(tx);
        breakerEvents();
        let objects: SyncObject[];
        let next: SyncCheckpoint;
        if (mode === "full") {
          objects = await nextFullSyncPage(tx, ctx.system.id, cp.afterId, batchSize);
          next = { ...cp, afterId: objects.at(-1)?.id ?? cp.afterId };
        } else {
          const page = await nextDeltaSyncPage(tx, ctx.system.id, cp.afterChangeId, batchSize);
          objects = page?.objects ?? [];
          next = { ...cp, afterChangeId: page?.maxChangeId ?? cp.afterChangeId };
          if (page && !scope.dryRun) await deleteCsoChanges(tx, ctx.system.id, page.maxChangeId);
          done = !page;
        }
        if (mode === "full") done = objects.length < batchSize;
        const counts: Partial<RunCounts> = objects.length ? await syncBatch(tx, scope, objects) : {};
        if (done && !scope.dryRun) {
          const late = await planLateReferences(tx, plan);
          counts.exportsQueued = (counts.exportsQueued ?? 0) + late.exportsQueued;
          counts.failed = (counts.failed ?? 0) + late.failed;
        }
        if (done && mode === "full" && !scope.dryRun) await deleteCsoChanges(tx, ctx.system.id, cp.coveredChangeId);
        next.processed = cp.processed + objects.length;
        cp = next;
        return {
          counts,
          processed: cp.processed,
          phase: "syncing",
          checkpoint: cp,
          events: breakerEvents(),
        };
      });
      if (done) return;
    }
  };
}

/** Identities whose deletion grace period ended: deleted now, and deprovisioned. */
async function applyDueDeletions(tx: pg.PoolClient, scope: SyncScope) {
  const ids = await dueDeletions(tx, 10_000);
  if (ids.length === 0) return { deleted: 0, exportsQueued: 0 };
  if (!scope.dryRun) {
    await markMetaverseObjectsDeleted(tx, ids);
    await deleteKeys(tx, ids);
  }
  const deleted = [...(await loadMetaverseObjects(tx, ids)).values()].map((m) => ({ ...m, status: "DELETED" as const }));
  const plan = await planExports(tx, scope.plan, deleted);
  await insertRunChanges(tx, scope.runId, [
    ...ids.map((mvoId) => ({ changeType: "MVO_DELETED", mvoId, message: "deletion grace period ended" })),
    ...plan.changes,
  ]);
  return { deleted: ids.length, exportsQueued: plan.exportsQueued };
}

/**
 * A join rule added after identities exist needs their keys: index exact keys of attributes
 * that have none yet, straight from the stored documents.
 */
async function indexMissingKeys(pool: RunContext["pool"], specs: Map<string, KeySpec[]>) {
  for (const [type, list] of specs)
    for (const spec of list) {
      if (spec.keyName.startsWith("~")) continue;
      await indexKeyIfMissing(pool, type, spec.keyName);
    }
}
