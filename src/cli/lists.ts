import { parseArgs } from "node:util";
import type { Config } from "../config.ts";
import { PendingExportStatus, RunStatus } from "../generated/prisma/enums.ts";
import type { Logger } from "../logger.ts";
import { explainRun, isEmptyCompletedRun, type RunExplanation } from "../systems/run-explanation.ts";
import { EXIT, UsageError, withCliServices } from "./session.ts";
import { shortTime } from "./systems.ts";
import { type Column, type Output, printRows, stdoutOutput } from "./table.ts";

export const RUNS_USAGE = "runs [--system NAME] [--status S,...] [--limit N] [--json]   recent runs, newest first";
export const EXPORTS_USAGE = "exports [--status S,...] [--system NAME] [--limit N] [--json]   pending exports, oldest first";

const options = {
  json: { type: "boolean", default: false },
  system: { type: "string" },
  status: { type: "string" },
  limit: { type: "string", default: "50" },
} as const;

/** --status A,B against the enum's names (case-insensitive); anything else is a usage error. */
function statuses<T extends string>(value: string | undefined, known: Record<string, T>): T[] | undefined {
  if (!value) return undefined;
  return value.split(",").map((s) => {
    const v = known[s.trim().toUpperCase()];
    if (!v) throw new UsageError(`unknown status "${s}": use ${Object.values(known).join(", ")}`);
    return v;
  });
}

function parse(args: string[]) {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError("--limit must be a whole number from 1 to 1000");
  return { json: values.json ?? false, system: values.system, status: values.status, limit };
}

async function listCommand(
  name: string,
  usage: string,
  args: string[],
  config: Config,
  logger: Logger,
  list: (p: ReturnType<typeof parse>, services: Parameters<Parameters<typeof withCliServices>[2]>[0]) => Promise<number>,
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
    // Status names are checked before connecting: a typo answers at once.
    statuses(parsed.status, name === "runs" ? RunStatus : PendingExportStatus);
  } catch (e) {
    console.error(`metasync ${name}: ${(e as Error).message}\nusage: metasync ${usage}`);
    return EXIT.USAGE;
  }
  return withCliServices(config, logger, async (services) => {
    if (parsed.system && !(await services.db.prisma.connectedSystem.findUnique({ where: { name: parsed.system } }))) {
      console.error(`metasync ${name}: connected system "${parsed.system}" was not found (NOT_FOUND)`);
      return EXIT.USAGE;
    }
    return list(parsed, services);
  });
}

/** `metasync runs`: the runs table of the dashboard, in a terminal. */
export function runsCommand(args: string[], config: Config, logger: Logger, output: Output = stdoutOutput()): Promise<number> {
  return listCommand("runs", RUNS_USAGE, args, config, logger, async (p, services) => {
    const runs = await services.db.prisma.run.findMany({
      where: { status: { in: statuses(p.status, RunStatus) }, connectedSystem: p.system ? { name: p.system } : undefined },
      orderBy: { createdAt: "desc" },
      take: p.limit,
      include: { connectedSystem: { select: { name: true } } },
    });
    type Row = (typeof runs)[number];
    const explained = new Map<string, RunExplanation | null>();
    for (const r of runs) if (isEmptyCompletedRun(r)) explained.set(r.id, await explainRun(services.db.prisma, r));
    const why = (r: Row) => {
      const e = explained.get(r.id);
      return e ? `${e.code}: ${e.message}` : "";
    };
    const columns: Column<Row>[] = [
      { header: "ID", value: (r) => r.id },
      { header: "SYSTEM", value: (r) => r.connectedSystem.name },
      { header: "PROFILE", value: (r) => `${r.profile}${r.dryRun ? " (dry run)" : ""}` },
      { header: "STATUS", value: (r) => r.status },
      { header: "CREATED", value: (r) => shortTime(r.createdAt) },
      { header: "FETCHED", value: (r) => r.fetched, numeric: true },
      { header: "CREATED", value: (r) => r.created, numeric: true },
      { header: "UPDATED", value: (r) => r.updated, numeric: true },
      { header: "DELETED", value: (r) => r.deleted, numeric: true },
      { header: "FAILED", value: (r) => r.failed, numeric: true },
      { header: "EXPORTS", value: (r) => r.exportsQueued, numeric: true },
      { header: "REASON", value: (r) => (r.reasonCode ? `${r.reasonCode}: ${r.reason ?? ""}` : (r.error ?? why(r))) },
    ];
    printRows(output, runs, columns, {
      json: p.json,
      toJson: (r) => ({
        id: r.id,
        system: r.connectedSystem.name,
        operation: r.operation,
        profile: r.profile,
        status: r.status,
        dryRun: r.dryRun,
        trigger: r.trigger,
        reasonCode: r.reasonCode,
        reason: r.reason,
        error: r.error,
        explanation: explained.get(r.id) ?? null,
        createdAt: r.createdAt,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
        counts: {
          fetched: r.fetched,
          created: r.created,
          updated: r.updated,
          deleted: r.deleted,
          unchanged: r.unchanged,
          failed: r.failed,
          exportsQueued: r.exportsQueued,
        },
      }),
      empty: "no runs yet: start one with `metasync run <system> <profile>`",
    });
    return EXIT.OK;
  });
}

/** `metasync exports`: pending exports, the oldest first (the order an export run takes them). */
export function exportsCommand(args: string[], config: Config, logger: Logger, output: Output = stdoutOutput()): Promise<number> {
  return listCommand("exports", EXPORTS_USAGE, args, config, logger, async (p, services) => {
    const rows = await services.db.prisma.pendingExport.findMany({
      where: {
        status: { in: statuses(p.status, PendingExportStatus) },
        connectedSystem: p.system ? { name: p.system } : undefined,
      },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      take: p.limit,
      include: {
        connectedSystem: { select: { name: true } },
        connectorSpaceObject: { select: { anchor: true, distinguishedName: true } },
      },
    });
    type Row = (typeof rows)[number];
    const attributes = (r: Row) =>
      ((r.attributeChanges as { attribute?: string }[]) ?? []).map((c) => c.attribute).filter(Boolean);
    const object = (r: Row) => r.connectorSpaceObject?.distinguishedName ?? r.connectorSpaceObject?.anchor ?? "";
    const columns: Column<Row>[] = [
      { header: "ID", value: (r) => r.id },
      { header: "SYSTEM", value: (r) => r.connectedSystem.name },
      { header: "CHANGE", value: (r) => r.changeType },
      { header: "STATUS", value: (r) => r.status },
      { header: "OBJECT", value: object },
      { header: "ATTRIBUTES", value: (r) => attributes(r).join(",") },
      { header: "ERROR", value: (r) => r.lastError ?? r.approvalReason ?? "" },
    ];
    printRows(output, rows, columns, {
      json: p.json,
      toJson: (r) => ({
        id: r.id,
        system: r.connectedSystem.name,
        changeType: r.changeType,
        status: r.status,
        object: object(r) || null,
        attributeChanges: r.attributeChanges,
        errorCount: r.errorCount,
        lastError: r.lastError,
        approvalReason: r.approvalReason,
        createdAt: r.createdAt,
      }),
      empty: "no pending exports",
    });
    return EXIT.OK;
  });
}
