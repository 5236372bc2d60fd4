import type pg from "pg";
import type { Connector } from "../../src/connectors/connector.ts";
import type { BatchOutcome, OperationExecutor, RunContext, RunInfo } from "../../src/engine/run-context.ts";
import type { Services } from "../../src/services.ts";

const OPERATIONS: Record<RunInfo["profile"], string> = {
  FULL_IMPORT: "connector.full_import",
  DELTA_IMPORT: "connector.delta_import",
  FULL_SYNC: "connector.full_sync",
  DELTA_SYNC: "connector.delta_sync",
  EXPORT: "connector.export",
};

/**
 * Drive an engine executor against a real database with the RunContext contract: each batch
 * commits its writes with the run's counts and checkpoint. `crashAfterBatches` aborts the
 * executor after N committed batches (as a killed worker would), to prove resume.
 */
export async function runEngine(
  services: Services,
  options: {
    systemId: string;
    profile: RunInfo["profile"];
    executor: OperationExecutor;
    connector?: Connector;
    dryRun?: boolean;
    runId?: string;
    crashAfterBatches?: number;
  },
) {
  const { prisma, pool } = services.db;
  const system = await prisma.connectedSystem.findUniqueOrThrow({ where: { id: options.systemId } });
  const settings = await services.systems.currentSettings(system);
  const run = options.runId
    ? await prisma.run.findUniqueOrThrow({ where: { id: options.runId } })
    : await prisma.run.create({
        data: {
          operation: OPERATIONS[options.profile],
          profile: options.profile,
          connectedSystemId: system.id,
          connectionSettingsId: settings.id,
          scopeKey: `${OPERATIONS[options.profile]}:${system.id}`,
          status: "RUNNING",
          dryRun: options.dryRun ?? false,
        },
      });
  let batches = 0;
  const ctx: RunContext = {
    run: { ...run, checkpoint: run.checkpoint ?? null } as RunInfo,
    system: { id: system.id, name: system.name, kind: system.kind, deleteThreshold: system.deleteThreshold },
    config: await services.systems.resolveConfig(settings.id),
    pool,
    logger: services.logger,
    signal: new AbortController().signal,
    connector: async () => {
      if (!options.connector) throw new Error("no connector given");
      return options.connector;
    },
    async batch(work: (tx: pg.PoolClient) => Promise<BatchOutcome>) {
      if (options.crashAfterBatches !== undefined && batches >= options.crashAfterBatches) throw new Error("simulated crash");
      const tx = await pool.connect();
      try {
        await tx.query("BEGIN");
        const out = await work(tx);
        const c = out.counts;
        await tx.query(
          `UPDATE run SET fetched = fetched + $2, created = created + $3, updated = updated + $4, deleted = deleted + $5,
              unchanged = unchanged + $6, failed = failed + $7, exports_queued = exports_queued + $8,
              processed = $9, total = $10, phase = $11, checkpoint = $12::jsonb, batch = batch + 1 WHERE id = $1`,
          [
            run.id,
            c.fetched ?? 0,
            c.created ?? 0,
            c.updated ?? 0,
            c.deleted ?? 0,
            c.unchanged ?? 0,
            c.failed ?? 0,
            c.exportsQueued ?? 0,
            out.processed,
            out.total ?? null,
            out.phase,
            JSON.stringify(out.checkpoint ?? null),
          ],
        );
        await tx.query("COMMIT");
        batches++;
      } catch (e) {
        await tx.query("ROLLBACK");
        throw e;
      } finally {
        tx.release();
      }
    },
    async event() {},
    publish: (topic, payload, tx) => services.bus.publish(topic, payload, tx),
  };
  await options.executor(ctx);
  const done = await prisma.run.update({ where: { id: run.id }, data: { status: "COMPLETED", finishedAt: new Date() } });
  return done;
}
