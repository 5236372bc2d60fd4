import type { ScheduleStep } from "../systems/schedules.ts";
import { builder } from "./builder.ts";
import { RunProfileEnum } from "./enums.ts";
import { decodeId } from "./global-id.ts";

const ScheduleStepRef = builder.objectRef<ScheduleStep>("ScheduleStep").implement({
  fields: (t) => ({
    connectedSystemId: t.exposeID("connectedSystemId"),
    connectedSystem: t.prismaField({
      type: "ConnectedSystem",
      nullable: true,
      resolve: (query, step, _args, ctx) =>
        ctx.services.db.prisma.connectedSystem.findUnique({ ...query, where: { id: step.connectedSystemId } }),
    }),
    profile: t.field({ type: RunProfileEnum, resolve: (s) => s.profile }),
    dryRun: t.boolean({ resolve: (s) => s.dryRun ?? false }),
  }),
});

builder.prismaNode("Schedule", {
  id: { field: "id" },
  fields: (t) => ({
    name: t.exposeString("name"),
    enabled: t.exposeBoolean("enabled"),
    cron: t.exposeString("cron", { nullable: true, description: "Cron expression, evaluated in UTC." }),
    intervalSeconds: t.exposeInt("intervalSeconds", { nullable: true }),
    steps: t.field({ type: [ScheduleStepRef], resolve: (s) => s.steps as unknown as ScheduleStep[] }),
    nextFireAt: t.expose("nextFireAt", { type: "DateTime", nullable: true }),
    lastFiredAt: t.expose("lastFiredAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    executions: t.relation("executions", {
      args: { last: t.arg.int({ defaultValue: 20, description: "The newest this many executions (1-200)." }) },
      query: (args) => ({ orderBy: { createdAt: "desc" }, take: Math.min(Math.max(args.last ?? 20, 1), 200) }),
    }),
  }),
});

builder.prismaObject("ScheduleExecution", {
  fields: (t) => ({
    id: t.exposeID("id"),
    stepIndex: t.exposeInt("stepIndex"),
    runId: t.exposeID("runId", { nullable: true }),
    run: t.prismaField({
      type: "Run",
      nullable: true,
      resolve: (query, e, _args, ctx) =>
        e.runId ? ctx.services.db.prisma.run.findUnique({ ...query, where: { id: e.runId } }) : null,
    }),
    status: t.exposeString("status", { description: "RUNNING | COMPLETED | FAILED | SKIPPED" }),
    outcome: t.exposeString("outcome", { nullable: true, description: "The start gate's answer, or why the sequence stopped." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
  }),
});

const ScheduleStepInput = builder.inputType("ScheduleStepInput", {
  fields: (t) => ({
    connectedSystemId: t.id({ required: true, description: "Global ID of the connected system to run." }),
    profile: t.field({ type: RunProfileEnum, required: true, description: "What the step's run does." }),
    dryRun: t.boolean({ description: "Plan only: record what the run would do, change nothing." }),
  }),
});

const ScheduleInput = builder.inputType("ScheduleInput", {
  fields: (t) => ({
    name: t.string({ required: true, description: "Unique, stable name." }),
    enabled: t.boolean({ description: "A disabled schedule is kept but does not fire (default true)." }),
    cron: t.string({ description: "Cron expression (UTC); give this or intervalSeconds." }),
    intervalSeconds: t.int({ description: "Fire every this many seconds; give this or cron." }),
    steps: t.field({
      type: [ScheduleStepInput],
      required: true,
      description: "Run in order; each starts when the previous COMPLETED.",
    }),
  }),
});

type ScheduleInputShape = typeof ScheduleInput.$inferInput;

const toInput = (input: ScheduleInputShape) => ({
  name: input.name,
  enabled: input.enabled ?? null,
  cron: input.cron ?? null,
  intervalSeconds: input.intervalSeconds ?? null,
  steps: input.steps.map((s, i) => ({
    connectedSystemId: decodeId("ConnectedSystem", String(s.connectedSystemId), `steps.${i}.connectedSystemId`),
    profile: s.profile,
    dryRun: s.dryRun ?? false,
  })),
});

builder.queryFields((t) => ({
  schedules: t.prismaField({
    type: ["Schedule"],
    authScopes: { reader: true },
    resolve: (query, _root, _args, ctx) => ctx.services.db.prisma.schedule.findMany({ ...query, orderBy: { name: "asc" } }),
  }),
}));

builder.mutationFields((t) => ({
  createSchedule: t.prismaField({
    type: "Schedule",
    authScopes: { admin: true },
    args: { input: t.arg({ type: ScheduleInput, required: true, description: "The new schedule." }) },
    resolve: async (query, _root, { input }, ctx) => {
      const created = await ctx.services.schedules.create(toInput(input));
      return ctx.services.db.prisma.schedule.findUniqueOrThrow({ ...query, where: { id: created.id } });
    },
  }),
  updateSchedule: t.prismaField({
    type: "Schedule",
    authScopes: { admin: true },
    args: {
      id: t.arg.id({ required: true, description: "Global ID of the schedule." }),
      input: t.arg({ type: ScheduleInput, required: true, description: "Its whole new state." }),
    },
    resolve: async (query, _root, { id, input }, ctx) => {
      const updated = await ctx.services.schedules.update(decodeId("Schedule", String(id)), toInput(input));
      return ctx.services.db.prisma.schedule.findUniqueOrThrow({ ...query, where: { id: updated.id } });
    },
  }),
  deleteSchedule: t.boolean({
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true, description: "Global ID of the schedule." }) },
    resolve: (_root, { id }, ctx) => ctx.services.schedules.delete(decodeId("Schedule", String(id))),
  }),
}));
