import type { Connector } from "../../src/connectors/connector.ts";
import type { RateLimit } from "../../src/engine/connected-system/rate-limiter.ts";
import type { OperationExecutor, RunInfo } from "../../src/engine/run-context.ts";
import { defaultExecutors } from "../../src/jobs/executors.ts";
import { createRunContext } from "../../src/jobs/managed-run-context.ts";
import { dedupeKey, operationForProfile } from "../../src/jobs/operations.ts";
import type { Services } from "../../src/services.ts";

const WORKER = "engine-test";

/**
 * Drive an engine executor (by default the one `metasync worker` runs for the profile) over the
 * run machinery's own RunContext and a real database, without the queue: each batch commits its
 * writes with the run's counts, progress and checkpoint. `crashAfterBatches` aborts the executor
 * after N committed batches (as a killed worker would); pass `runId` to resume that run.
 */
export async function runEngine(
  services: Services,
  options: {
    systemId: string;
    profile: RunInfo["profile"];
    executor?: OperationExecutor;
    connector?: Connector;
    dryRun?: boolean;
    runId?: string;
    crashAfterBatches?: number;
    /** Records per import batch; default the product's (RunOptions.importBatchSize). */
    importBatchSize?: number;
  },
) {
  const { prisma } = services.db;
  const operation = operationForProfile(options.profile).type;
  const executor = options.executor ?? defaultExecutors[operation];
  if (!executor) throw new Error(`no executor for ${operation}`);
  const system = await prisma.connectedSystem.findUniqueOrThrow({ where: { id: options.systemId } });
  const settings = await services.systems.currentSettings(system);
  const claim = { status: "RUNNING" as const, workerId: WORKER, attempt: 1 };
  const run = options.runId
    ? await prisma.run.update({ where: { id: options.runId }, data: claim })
    : await prisma.run.create({
        data: {
          operation,
          profile: options.profile,
          connectedSystemId: system.id,
          connectionSettingsId: settings.id,
          scopeKey: dedupeKey(operation, system.id),
          dryRun: options.dryRun ?? false,
          ...claim,
        },
      });
  const ctx = createRunContext(
    {
      pool: services.db.pool,
      bus: services.bus,
      logger: services.logger,
      connectorFactory: async () => {
        if (!options.connector) throw new Error("no connector given");
        return options.connector;
      },
      importBatchSize: options.importBatchSize,
    },
    { runId: run.id, attempt: 1, workerId: WORKER },
    { ...run, checkpoint: run.checkpoint ?? null } as RunInfo,
    {
      id: system.id,
      name: system.name,
      kind: system.kind,
      deleteThreshold: system.deleteThreshold,
      staging: system.staging,
      rateLimit: system.rateLimit as RateLimit | null,
    },
    await services.systems.resolveConfig(settings.id),
    { signal: new AbortController().signal, stopping: () => false },
  );
  let batches = 0;
  const batch = ctx.batch;
  ctx.batch = async (work) => {
    if (options.crashAfterBatches !== undefined && batches >= options.crashAfterBatches) throw new Error("simulated crash");
    await batch(work);
    batches++;
  };
  await executor(ctx);
  return prisma.run.update({ where: { id: run.id }, data: { status: "COMPLETED", finishedAt: new Date() } });
}
