import type pg from "pg";
import type { ImportPage } from "../../connectors/connector.ts";
import { readAhead } from "../../util/read-ahead.ts";
import { withTimeout } from "../../util/timeout.ts";
import { obsoleteUnseen } from "../connector-space/store.ts";
import { commitWithoutFlushWait } from "../durability.ts";
import { confirmExports } from "../outbound/confirm.ts";
import { hasExportsAwaitingConfirmation } from "../pending-export/confirmation.ts";
import { insertRunChanges } from "../run-changes.ts";
import type { OperationExecutor, RunContext, RunCounts } from "../run-context.ts";
import { applyImportPage, type PreparedPage, pageKeys, prepareImportPage, readStoredAhead } from "./apply-page.ts";
import { coalescePages } from "./coalesce.ts";
import { createImportContext, loadImportSchema } from "./context.ts";
import { FirstImportKeys } from "./first-import.ts";
import { distrustStored, recordValidated, schemaFingerprint, trustsUnchanged } from "./schema-trust.ts";
import { SeenObjects } from "./seen.ts";
import { clearSeen, hasObjects, loadWatermark, queueForSync, saveWatermark } from "./store.ts";

/** Where a resumed import continues: the connector's page position, or the sweep. */
interface ImportCheckpoint {
  phase: "import" | "sweep";
  connector: unknown;
  processed: number;
  /** The watermark the connector reported on its last page, kept until the import is finished. */
  watermark?: unknown;
  /** Records that could not be read: a full import with any of them does not infer deletes. */
  failed?: number;
}

const SWEEP_SLICE = 5000;

/**
 * Pages that write nothing share one batch, up to this many pages' worth of objects, and while
 * the batch is open for less than QUIET_BATCH_MS: it holds the run row, which a heartbeat or a
 * cancel waits for, so it never waits long for a slow connector's next page.
 */
const QUIET_BATCH_PAGES = 10;
const QUIET_BATCH_MS = 1000;

/** A page whose batch wrote nothing but the ids it saw: no object, run change or export touched. */
const quiet = (counts: Partial<RunCounts>, scope: { confirming: boolean }) =>
  !scope.confirming && !counts.created && !counts.updated && !counts.deleted && !counts.failed;

/**
 * Where a delta import's pages come from when not from the connector (the real-time inbox): the
 * same validation, hash skip, run changes and sync queue apply to them.
 */
export interface PageSource {
  /** Pages after `position` (the checkpoint of the last committed page; null at the start). */
  pages(ctx: RunContext, position: unknown | null): AsyncIterable<ImportPage>;
  /** In the transaction that stores `page` (pages merged into one batch): mark its records taken, exactly once. */
  committed(tx: pg.PoolClient, ctx: RunContext, page: ImportPage): Promise<void>;
}

/**
 * FULL_IMPORT and DELTA_IMPORT: connector pages -> connector space, in bulk, one transaction per
 * page. With a `source` (delta only), its pages instead, and the connector's delta watermark is
 * left as it is: it is not that source's.
 */
export function createImportExecutor(mode: "full" | "delta", source?: PageSource): OperationExecutor {
  return async (ctx) => {
    const saved = ctx.run.checkpoint as ImportCheckpoint | null;
    let checkpoint: ImportCheckpoint = saved ?? { phase: "import", connector: null, processed: 0 };
    const schema = await loadImportSchema(ctx.pool, ctx.system.id);
    const schemaHash = schemaFingerprint(schema);
    const trustUnchanged = await trustsUnchanged(ctx.pool, ctx.system.id, schemaHash);
    // Objects this run writes are validated against another schema than the one recorded.
    if (!trustUnchanged && !ctx.run.dryRun) await distrustStored(ctx.pool, ctx.system.id);
    const scope = {
      systemId: ctx.system.id,
      runId: ctx.run.id,
      dryRun: ctx.run.dryRun,
      schema,
      trustUnchanged,
      confirming: await hasExportsAwaitingConfirmation(ctx.pool, ctx.system.id),
      // Only the import phase needs it in memory; a run resumed in its sweep reads the pages in SQL.
      seen: mode === "full" && checkpoint.phase === "import" ? await SeenObjects.load(ctx.pool, ctx.run.id) : null,
      // A first import (not resumed: the pages before a checkpoint were not met here) looks up nothing it need not.
      firstImport:
        mode === "full" && !saved && !source && !(await hasObjects(ctx.pool, ctx.system.id)) ? new FirstImportKeys() : null,
    };

    if (checkpoint.phase === "import") {
      const pages: AsyncIterable<ImportPage> = source
        ? source.pages(ctx, checkpoint.connector)
        : await connectorPages(ctx, mode, checkpoint.connector);
      let previousKeys = new Set<string>();
      const prepare = (page: ImportPage) => readStoredAhead(ctx.pool, scope, prepareImportPage(scope, page));
      const prepared = readAhead(coalescePages(pages, ctx.importBatchSize), prepare)[Symbol.asyncIterator]();
      // Pages that write nothing (every object unchanged) share a batch: each batch costs the
      // run's bookkeeping (row lock, counts, events, notifications: ~10 statements), which in an
      // unchanged re-import took longer than the import's own work.
      let upcoming: Promise<IteratorResult<PreparedPage>> | null = prepared.next();
      let finished = false;
      try {
        for (;;) {
          const first = await (upcoming ?? prepared.next());
          if (first.done) {
            finished = true;
            break;
          }
          upcoming = null;
          let at = checkpoint;
          await ctx.batch(async (tx) => {
            await commitWithoutFlushWait(tx);
            const opened = performance.now();
            const counts: Partial<RunCounts> = {};
            let current = first.value;
            let objects = 0;
            let total: number | null = null;
            for (;;) {
              const { page } = current;
              // Rows the previous batch wrote may have changed since they were read ahead.
              const keys = pageKeys(current);
              if (keys.some((k) => previousKeys.has(k))) current.stored = null;
              previousKeys = new Set(keys);
              const pageCounts = await applyImportPage(tx, scope, current);
              if (source && !scope.dryRun) await source.committed(tx, ctx, page);
              for (const [name, n] of Object.entries(pageCounts) as [keyof RunCounts, number][])
                counts[name] = (counts[name] ?? 0) + n;
              objects += page.objects.length + page.errors.length + page.deletes.length;
              total = page.total ?? null;
              at = {
                phase: "import",
                connector: page.checkpoint,
                processed: at.processed + page.objects.length + page.errors.length + page.deletes.length,
                watermark: page.watermark !== undefined ? page.watermark : at.watermark,
                failed: (at.failed ?? 0) + (pageCounts.failed ?? 0),
              };
              const left = QUIET_BATCH_MS - (performance.now() - opened);
              if (!quiet(pageCounts, scope) || objects >= QUIET_BATCH_PAGES * ctx.importBatchSize || left <= 0) break;
              // Pulling a page starts the lookup of the one after it (read ahead): only once the
              // pages written are committed, or wrote nothing (these quiet ones), is it exact.
              upcoming = prepared.next();
              // Never left unhandled: awaited by the next batch, or surfaced when the loop stops.
              upcoming.catch(() => {});
              const next = await withTimeout(upcoming, left, () => null);
              if (!next || next.done) break;
              current = next.value;
              upcoming = null;
            }
            return { counts, processed: at.processed, total, phase: "importing", checkpoint: at };
          });
          checkpoint = at;
        }
      } finally {
        // Stopped early (error, cancel): close the connector once its in-flight page settles.
        const close = () => prepared.return(undefined);
        if (!finished) void (upcoming ?? Promise.resolve()).then(close, close).catch(() => {});
      }
      checkpoint = { ...checkpoint, phase: "sweep" };
    }

    // An unreadable record's object would look deleted: with any, a full import deletes nothing.
    if (mode === "full" && !scope.dryRun && !checkpoint.failed) await sweep(ctx, checkpoint, scope.confirming);
    else if (mode === "full" && checkpoint.failed)
      await ctx.event("deletes skipped", { reason: `${checkpoint.failed} records could not be read; objects not seen are kept` });
    await ctx.batch(async (tx) => {
      if (mode === "full") await clearSeen(tx, ctx.run.id);
      const watermark = !scope.dryRun && !source;
      if (watermark) await saveWatermark(tx, ctx.system.id, checkpoint.watermark ?? null, mode);
      // Every object of the source passed validation against this schema and is stored as such.
      if (mode === "full" && !scope.dryRun && !checkpoint.failed) await recordValidated(tx, ctx.system.id, schemaHash);
      return {
        counts: {},
        processed: checkpoint.processed,
        phase: "completing",
        checkpoint: { ...checkpoint, phase: "sweep" },
        // A delta of a given source (a real-time run's inbox) keeps no watermark: nothing written
        // here, so not a batch of the run (its last page's batch holds the progress).
        empty: mode === "delta" && !watermark,
      };
    });
  };
}

async function connectorPages(ctx: RunContext, mode: "full" | "delta", position: unknown) {
  const connector = await ctx.connector();
  const context = createImportContext(ctx.pool, ctx.system.id);
  return mode === "full"
    ? connector.importFull(position, context)
    : connector.importDelta(await loadWatermark(ctx.pool, ctx.system.id), position, context);
}

/** Objects a full import did not see are gone from the source: obsolete, queued for sync. */
async function sweep(ctx: RunContext, checkpoint: ImportCheckpoint, confirming: boolean) {
  for (;;) {
    let swept = 0;
    await ctx.batch(async (tx) => {
      await commitWithoutFlushWait(tx);
      const rows = await obsoleteUnseen(tx, ctx.system.id, ctx.run.id, SWEEP_SLICE);
      swept = rows.length;
      const ids = rows.map((r) => r.id);
      await queueForSync(tx, ctx.system.id, ctx.run.id, ids);
      const confirmations = confirming ? await confirmExports(tx, new Map(), ids) : [];
      await insertRunChanges(tx, ctx.run.id, [
        ...confirmations,
        ...rows.map((r) => ({
          changeType: "CSO_DELETED",
          csoId: r.id,
          anchor: r.anchor,
          sourceSystemId: ctx.system.id,
          message: "not seen by the full import",
        })),
      ]);
      return {
        counts: { deleted: rows.length },
        processed: checkpoint.processed,
        phase: "deleting obsolete",
        checkpoint: { ...checkpoint, phase: "sweep" },
      };
    });
    if (swept < SWEEP_SLICE) return;
  }
}
