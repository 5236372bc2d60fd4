import type pg from "pg";
import { deleteThresholds } from "../connected-system/store.ts";
import { commitWithoutFlushWait } from "../durability.ts";
import { judgeWholeRun, loadBreakerState, reloadHeldScopes } from "../outbound/breaker-hold.ts";
import { type PlanScope, planExports } from "../outbound/plan.ts";
import { loadOutboundRules } from "../outbound/rules.ts";
import { insertRunChanges } from "../run-changes.ts";
import type { OperationExecutor, PartitionedExecutor, PartitionRange, RunContext, RunCounts } from "../run-context.ts";
import { dropKeyClaims } from "./concurrent.ts";
import { type KeySpec, keySpecs } from "./keys.ts";
import { planLateReferences } from "./late-references.ts";
import { loadInboundRules } from "./rules.ts";
import type { SyncScope } from "./scope.ts";
import {
  deleteCsoChanges,
  deleteKeys,
  dueDeletions,
  fullSyncRanges,
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
  /** FULL_SYNC: cut into partitions (decided at the start, kept on resume). */
  partitioned?: boolean;
  /** FULL_SYNC in partitions: the final step committed. */
  finished?: boolean;
}

/** A partition's own checkpoint. */
interface RangeCheckpoint {
  afterId: string | null;
  processed: number;
}

/** FULL_SYNC (every object of the system) and DELTA_SYNC (the queued changes only). */
export function createSyncExecutor(
  mode: "full" | "delta",
  options: { batchSize: number } = { batchSize: BATCH },
): OperationExecutor | PartitionedExecutor {
  const batchSize = options.batchSize;
  const executor: OperationExecutor = async (ctx) => {
    const { scope, breakerEvents } = await syncScope(ctx, mode);
    let cp: SyncCheckpoint = (ctx.run.checkpoint as SyncCheckpoint | null) ?? {
      afterId: null,
      afterChangeId: "0",
      coveredChangeId: await maxCsoChangeId(ctx.pool, ctx.system.id),
      processed: 0,
      dueDone: false,
    };
    if (cp.finished) return;
    // A large FULL_SYNC is cut into id ranges that several workers sync at once (decided once, at the start).
    const partitions = mode === "full" && !scope.dryRun ? ctx.partitions : undefined;
    if (partitions && !cp.dueDone) cp.partitioned = (await fullSyncRanges(ctx.pool, ctx.system.id, partitions.size)).length > 1;
    if (!cp.dueDone) {
      if (!scope.dryRun) await indexMissingKeys(ctx.pool, scope.keySpecs);
      await ctx.batch(async (tx) => {
        breakerEvents();
        const { deleted, exportsQueued } = await applyDueDeletions(tx, scope);
        cp = { ...cp, dueDone: true };
        const events = breakerEvents();
        return {
          counts: { deleted, exportsQueued },
          processed: cp.processed,
          phase: "due deletions",
          checkpoint: cp,
          events,
          // A delta sync with nothing due (the common case, and every real-time run): not a batch
          // of the run; a resumed run looks again. A full sync records it: its checkpoint also
          // holds the decision to partition, made once.
          empty: mode === "delta" && deleted === 0 && exportsQueued === 0 && !events.length,
        };
      });
    }
    if (partitions && cp.partitioned) {
      const processed = await partitions.run(await fullSyncRanges(ctx.pool, ctx.system.id, partitions.size));
      // The partitions planned on other workers: the late pass reads what they planned.
      scope.plan.unresolvedReferences = undefined;
      // What must see the whole run, once, after its last partition.
      await ctx.batch(async (tx) => {
        const counts = await finishSync(tx, scope, "full", cp, batchSize);
        if (scope.plan.breaker) {
          await reloadHeldScopes(tx, scope.plan.breaker, scope.runId);
          await judgeWholeRun(tx, scope.plan.breaker, scope.runId, scope.plan.publish);
        }
        await dropKeyClaims(tx, scope.runId);
        cp = { ...cp, processed, finished: true };
        return { counts, processed, total: processed, phase: "syncing", checkpoint: cp, events: breakerEvents() };
      });
      return;
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
        if (done) addCounts(counts, await finishSync(tx, scope, mode, cp, batchSize));
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
  if (mode === "delta") return executor;
  const partition = (ctx: RunContext, range: PartitionRange) => syncRange(ctx, range, batchSize);
  return Object.assign(executor, { partition });
}

/** One partition of a FULL_SYNC: the objects in (afterId, toId], with the partition's own checkpoint. */
async function syncRange(ctx: RunContext, range: PartitionRange, batchSize: number) {
  // The partition's own breaker slot, named by where its range starts (stable across resumes).
  const { scope, plan, breakerEvents } = await syncScope(ctx, "full", `range:${range.afterId ?? "start"}`);
  let cp = (ctx.run.checkpoint as RangeCheckpoint | null) ?? { afterId: range.afterId, processed: 0 };
  for (;;) {
    let next = cp;
    let done = false;
    await ctx.batch(async (tx) => {
      await commitWithoutFlushWait(tx);
      if (plan.breaker) await reloadHeldScopes(tx, plan.breaker, scope.runId);
      breakerEvents();
      const objects = await nextFullSyncPage(tx, ctx.system.id, cp.afterId, batchSize, range.toId);
      done = objects.length < batchSize;
      const counts: Partial<RunCounts> = objects.length ? await syncBatch(tx, scope, objects) : {};
      next = { afterId: objects.at(-1)?.id ?? cp.afterId, processed: cp.processed + objects.length };
      return {
        counts,
        processed: next.processed,
        total: range.size,
        phase: "syncing",
        checkpoint: next,
        events: breakerEvents(),
      };
    });
    // Only once committed: a batch run again (a deadlock with another partition) starts from the same place.
    cp = next;
    if (done) return;
  }
}

/** The rules, keys and outbound planning state a sync decides with. */
export async function syncScope(
  ctx: Pick<RunContext, "pool" | "run" | "system" | "publish">,
  mode: "full" | "delta",
  /** A partition's breaker slot: the scope plans one partition of the run, beside others. */
  partitionSlot?: string,
) {
  const concurrent = partitionSlot !== undefined;
  const rules = await loadInboundRules(ctx.pool);
  const plan: PlanScope = {
    runId: ctx.run.id,
    dryRun: ctx.run.dryRun,
    publish: ctx.publish?.bind(ctx),
    rules: await loadOutboundRules(ctx.pool),
    deleteThresholds: await deleteThresholds(ctx.pool),
    breaker: await loadBreakerState(ctx.pool, ctx.run.dryRun, partitionSlot),
    // Kept only by a scope that plans every batch of its run from the start (late-references.ts).
    unresolvedReferences: ctx.run.checkpoint == null && !concurrent ? new Set<string>() : undefined,
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
    concurrent,
  };
  return { scope, plan, breakerEvents };
}

/** The end of a sync, in its last batch: late references, and the change queue it covered. */
async function finishSync(tx: pg.PoolClient, scope: SyncScope, mode: "full" | "delta", cp: SyncCheckpoint, batchSize: number) {
  const counts: Partial<RunCounts> = {};
  if (scope.dryRun) return counts;
  const late = await planLateReferences(tx, scope.plan, batchSize);
  addCounts(counts, late);
  if (mode === "full") await deleteCsoChanges(tx, scope.systemId, cp.coveredChangeId);
  return counts;
}

function addCounts(into: Partial<RunCounts>, more: Partial<RunCounts>) {
  for (const [key, value] of Object.entries(more) as [keyof RunCounts, number][]) into[key] = (into[key] ?? 0) + value;
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
