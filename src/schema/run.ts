import { notFound } from "../errors.ts";
import type { Run } from "../generated/prisma/client.ts";
import { cancelRun } from "../jobs/cancel.ts";
import { runMetrics } from "../jobs/metrics.ts";
import { ACTIVE_STATUSES } from "../jobs/operations.ts";
import { pauseRun } from "../jobs/pause.ts";
import { START_OUTCOMES, type StartOutcome } from "../jobs/start-gate.ts";
import { presentStartResult } from "../jobs/start-result-presenter.ts";
import { rateLimitKey } from "../systems/start-run-limit.ts";
import { builder } from "./builder.ts";
import { RunProfileEnum, RunStatusEnum } from "./enums.ts";
import { decodeId } from "./global-id.ts";
import "./run-change.ts";

export const RunRef = builder.prismaNode("Run", {
  id: { field: "id" },
  fields: (t) => ({
    operation: t.exposeString("operation", { description: 'Stable operation type, e.g. "connector.full_import".' }),
    profile: t.expose("profile", { type: RunProfileEnum }),
    status: t.expose("status", { type: RunStatusEnum }),
    connectedSystem: t.relation("connectedSystem"),
    connectionId: t.exposeID("connectionSettingsId", { description: "Connection settings pinned when the start was accepted." }),
    dryRun: t.exposeBoolean("dryRun"),
    trigger: t.exposeString("trigger", { description: "MANUAL | SCHEDULE | API" }),
    scheduleId: t.exposeID("scheduleId", { nullable: true }),
    reasonCode: t.exposeString("reasonCode", { nullable: true }),
    reason: t.exposeString("reason", { nullable: true }),
    nextSteps: t.exposeStringList("nextSteps"),
    error: t.exposeString("error", { nullable: true }),
    attempt: t.exposeInt("attempt", { description: "How many times a worker claimed the run (more than 1 after a recovery)." }),
    heartbeatAt: t.expose("heartbeatAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    pauseRequestedAt: t.expose("pauseRequestedAt", {
      type: "DateTime",
      nullable: true,
      description: "pauseRun was asked for; the run pauses at its next batch boundary.",
    }),
    progress: t.field({ type: RunProgressRef, resolve: (run) => run }),
    counts: t.field({ type: RunCountsRef, resolve: (run) => run }),
    // Not a Prisma relation: run_change has no foreign key (see schema.prisma).
    changes: t.prismaConnection({
      type: "RunChange",
      cursor: "id",
      totalCount: (run, _args, ctx) => ctx.services.db.prisma.runChange.count({ where: { runId: run.id } }),
      resolve: (query, run, _args, ctx) =>
        ctx.services.db.prisma.runChange.findMany({ ...query, where: { runId: run.id }, orderBy: { id: "asc" } }),
    }),
    partitions: t.relation("partitions", {
      description:
        "A FULL_SYNC larger than METASYNC_PARTITION_SIZE is split into id ranges that any worker claims; empty for any other run. The run's progress and counts are their sum.",
      query: { orderBy: { index: "asc" } },
    }),
    events: t.relation("events", {
      args: { last: t.arg.int({ defaultValue: 100, description: "The newest this many events (1-1000)." }) },
      query: (args) => ({ orderBy: { id: "desc" }, take: Math.min(Math.max(args.last ?? 100, 1), 1000) }),
    }),
  }),
});

const RunPartitionStatusEnum = builder.enumType("RunPartitionStatus", {
  values: ["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"] as const,
});

builder.prismaObject("RunPartition", {
  fields: (t) => ({
    index: t.exposeInt("index", { description: "0-based, in connector space id order." }),
    workerId: t.exposeString("workerId", {
      nullable: true,
      description: "The worker processing it, or the one that ended it; null while queued.",
    }),
    status: t.field({ type: RunPartitionStatusEnum, resolve: (p) => p.status as "QUEUED" }),
    processed: t.exposeInt("processed", { description: "Objects of this partition done (committed)." }),
    size: t.exposeInt("size", { description: "Objects in the partition when the run was split." }),
    attempt: t.exposeInt("attempt", { description: "Claims so far (more than 1: resumed after its worker stopped)." }),
    error: t.exposeString("error", { nullable: true }),
  }),
});

const RunProgressRef = builder.objectRef<Run>("RunProgress").implement({
  fields: (t) => ({
    phase: t.exposeString("phase"),
    processed: t.exposeInt("processed"),
    total: t.exposeInt("total", { nullable: true }),
    percent: t.float({
      nullable: true,
      resolve: (run) => {
        if (run.status === "COMPLETED" || run.status === "PARTIAL") return 100;
        if (!run.total) return null;
        return Math.min(100, Math.round((run.processed / run.total) * 1000) / 10);
      },
    }),
    batch: t.exposeInt("batch"),
    updatedAt: t.expose("progressUpdatedAt", { type: "DateTime" }),
  }),
});

const RunCountsRef = builder.objectRef<Run>("RunCounts").implement({
  fields: (t) => ({
    fetched: t.exposeInt("fetched"),
    created: t.exposeInt("created"),
    updated: t.exposeInt("updated"),
    deleted: t.exposeInt("deleted"),
    unchanged: t.exposeInt("unchanged"),
    failed: t.exposeInt("failed"),
    exportsQueued: t.exposeInt("exportsQueued"),
  }),
});

const StartOutcomeEnum = builder.enumType("StartOutcome", { values: START_OUTCOMES });

interface StartRunPayload {
  outcome: StartOutcome;
  runId: string;
  reasonCode: string | null;
  reason: string | null;
  nextSteps: string[];
  message: string;
}

const StartRunResultRef = builder.objectRef<StartRunPayload>("StartRunResult").implement({
  fields: (t) => ({
    outcome: t.field({ type: StartOutcomeEnum, resolve: (r) => r.outcome }),
    run: t.prismaField({
      type: "Run",
      nullable: true,
      description: "ACCEPTED: the new run; DEDUPED: the existing one; SCOPE_BUSY: the holder; BLOCKED: the blocked record.",
      resolve: (query, r, _args, ctx) => ctx.services.db.prisma.run.findUnique({ ...query, where: { id: r.runId } }),
    }),
    reasonCode: t.exposeString("reasonCode", { nullable: true }),
    reason: t.exposeString("reason", { nullable: true }),
    nextSteps: t.exposeStringList("nextSteps"),
    message: t.exposeString("message", { description: "One line for humans, the same the CLI prints." }),
  }),
});

const StartRunInput = builder.inputType("StartRunInput", {
  fields: (t) => ({
    connectedSystemId: t.id({ required: true, description: "Global ID of the connected system to run." }),
    profile: t.field({ type: RunProfileEnum, required: true, description: "What the run does." }),
    dryRun: t.boolean({ description: "Plan only: record what the run would do (Run.changes), change nothing." }),
  }),
});

const RunMetricsRef = builder.objectRef<Awaited<ReturnType<typeof runMetrics>>>("RunMetrics").implement({
  fields: (t) => ({
    finished: t.exposeInt("finished"),
    completed: t.exposeInt("completed"),
    partial: t.exposeInt("partial"),
    failed: t.exposeInt("failed"),
    cancelled: t.exposeInt("cancelled"),
    blocked: t.exposeInt("blocked"),
    active: t.exposeInt("active"),
    successRate: t.exposeFloat("successRate", { nullable: true, description: "COMPLETED / finished runs, 0..1." }),
    averageDurationSeconds: t.exposeFloat("averageDurationSeconds", { nullable: true }),
    throughputPerSecond: t.exposeFloat("throughputPerSecond", {
      nullable: true,
      description: "Objects processed per second of run time.",
    }),
    objectsProcessed: t.exposeInt("objectsProcessed"),
  }),
});

builder.queryFields((t) => ({
  runs: t.prismaConnection({
    type: "Run",
    cursor: "id",
    authScopes: { reader: true },
    args: {
      connectedSystemId: t.arg.id({ description: "Only this connected system's runs." }),
      status: t.arg({ type: [RunStatusEnum], description: "Only runs in one of these statuses." }),
    },
    totalCount: (_conn, args, ctx) => ctx.services.db.prisma.run.count({ where: runsWhere(args) }),
    // Newest first; id breaks ties so cursors stay stable when runs share a timestamp.
    resolve: (query, _root, args, ctx) =>
      ctx.services.db.prisma.run.findMany({ ...query, where: runsWhere(args), orderBy: [{ createdAt: "desc" }, { id: "desc" }] }),
  }),
  run: t.prismaField({
    type: "Run",
    nullable: true,
    authScopes: { reader: true },
    args: { id: t.arg.id({ required: true, description: "Global ID of the run." }) },
    resolve: (query, _root, args, ctx) =>
      ctx.services.db.prisma.run.findUnique({ ...query, where: { id: decodeId("Run", String(args.id)) } }),
  }),
  runMetrics: t.field({
    type: RunMetricsRef,
    authScopes: { reader: true },
    args: {
      connectedSystemId: t.arg.id({ description: "Only this connected system's runs." }),
      operation: t.arg.string({ description: 'Only runs of this operation, e.g. "connector.full_import".' }),
      since: t.arg({ type: "DateTime", description: "Only runs created at or after this time." }),
    },
    resolve: (_root, args, ctx) =>
      runMetrics(ctx.services.db.pool, {
        connectedSystemId: args.connectedSystemId
          ? decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId")
          : null,
        operation: args.operation ?? null,
        since: args.since ?? null,
      }),
  }),
}));

function runsWhere(args: { connectedSystemId?: string | number | null; status?: Run["status"][] | null }) {
  return {
    ...(args.connectedSystemId
      ? { connectedSystemId: decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId") }
      : {}),
    ...(args.status?.length ? { status: { in: args.status } } : {}),
  };
}

builder.mutationFields((t) => ({
  startRun: t.field({
    type: StartRunResultRef,
    authScopes: { operator: true },
    description: "The only way to start work: preflight, dedupe, scope busy, then queue.",
    args: { input: t.arg({ type: StartRunInput, required: true, description: "The system, profile and dry-run flag." }) },
    resolve: async (_root, { input }, ctx) => {
      // Per API key (or client address): a script in a loop cannot flood the queue.
      ctx.services.startRunLimiter.consume(rateLimitKey(ctx), "startRun");
      const result = await ctx.services.startGate.start({
        connectedSystemId: decodeId("ConnectedSystem", String(input.connectedSystemId), "connectedSystemId"),
        profile: input.profile,
        dryRun: input.dryRun ?? false,
        trigger: "API",
      });
      return presentStartResult(result);
    },
  }),
  cancelRun: t.prismaField({
    type: "Run",
    authScopes: { operator: true },
    args: { id: t.arg.id({ required: true, description: "Global ID of the run to cancel." }) },
    resolve: async (query, _root, args, ctx) => {
      const id = decodeId("Run", String(args.id));
      const { services } = ctx;
      await cancelRun({ ...services, pool: services.db.pool, staleAfterMs: services.runOptions.staleAfterMs }, id);
      return services.db.prisma.run.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  pauseRun: t.prismaField({
    type: "Run",
    authScopes: { operator: true },
    description:
      "Stop a RUNNING run at its next batch boundary as PAUSED, with its checkpoint and its scopes kept; the run reads RUNNING (pauseRequestedAt set) until its worker gets there. CONFLICT for any other status.",
    args: { id: t.arg.id({ required: true, description: "Global ID of the run to pause." }) },
    resolve: async (query, _root, args, ctx) => {
      const id = decodeId("Run", String(args.id));
      const { services } = ctx;
      await pauseRun({ pool: services.db.pool, bus: services.bus }, id);
      return services.db.prisma.run.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  resumeRun: t.field({
    type: StartRunResultRef,
    authScopes: { operator: true },
    description:
      "Continue a PAUSED run (same id) from its checkpoint: preflight again, then queued. BLOCKED (the run stays PAUSED) when a check fails; CONFLICT when the run is not PAUSED.",
    args: { id: t.arg.id({ required: true, description: "Global ID of the paused run." }) },
    resolve: async (_root, args, ctx) =>
      presentStartResult(await ctx.services.startGate.resume(decodeId("Run", String(args.id)))),
  }),
}));

builder.subscriptionFields((t) => ({
  runProgress: t.field({
    type: RunRef,
    authScopes: { reader: true },
    description:
      "The run now, then on every batch (at most ~10/s) and at once on a status change; completes after a final status.",
    args: { runId: t.arg.id({ required: true, description: "Global ID of the run to follow." }) },
    subscribe: async (_root, args, ctx) => {
      const runId = decodeId("Run", String(args.runId), "runId");
      const exists = await ctx.services.db.prisma.run.count({ where: { id: runId } });
      if (!exists) throw notFound("run", runId);
      return ctx.services.runFeed.run(runId);
    },
    resolve: (run) => run,
  }),
  runsChanged: t.field({
    type: RunRef,
    authScopes: { reader: true },
    description:
      "Active runs now, then every run change (each run's progress at most ~10/s, a status change at once), from any process.",
    args: { connectedSystemId: t.arg.id({ description: "Only this connected system's runs; all when left out." }) },
    subscribe: (_root, args, ctx) => {
      const systemId = args.connectedSystemId
        ? decodeId("ConnectedSystem", String(args.connectedSystemId), "connectedSystemId")
        : null;
      const active = async () =>
        (
          await ctx.services.db.prisma.run.findMany({
            where: { status: { in: [...ACTIVE_STATUSES] }, ...(systemId ? { connectedSystemId: systemId } : {}) },
            select: { id: true },
            orderBy: { createdAt: "asc" },
          })
        ).map((r) => r.id);
      return ctx.services.runFeed.runs(active, systemId);
    },
    resolve: (run) => run,
  }),
}));
