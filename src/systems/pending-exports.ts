import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
// The topic and its payload are the engine's (it publishes from export runs); the API publishes the same.
import { PENDING_EXPORTS_TOPIC, type PendingExportEvent } from "../engine/outbound/notify.ts";
import { planUndo } from "../engine/outbound/undo.ts";
import { unsettleRealtimeRuns } from "../engine/realtime/inbox-store.ts";
import { badInput, conflict, notFound } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { Prisma, PrismaClient } from "../generated/prisma/client.ts";
import type { PendingExportStatus } from "../generated/prisma/enums.ts";

export { PENDING_EXPORTS_TOPIC, type PendingExportEvent };

/** Statuses of exports not applied yet, which a rejection may still stop. */
const REJECTABLE = ["AWAITING_APPROVAL", "PENDING", "FAILED", "ERROR"] as const;

export interface RejectOutcome {
  id: string;
  outcome: "REJECTED" | "UNCHANGED";
  /** Why nothing changed: CONFLICT (the export's status does not allow it) or NOT_FOUND. */
  code: "CONFLICT" | "NOT_FOUND" | null;
  status: string | null;
}

/**
 * Narrows a selection by ids or run: only exports to this system, of this change type, or
 * changing this attribute (e.g. release a breaker hold's creates and keep its deletes held).
 */
export interface ExportFilter {
  connectedSystemId?: string | null;
  changeType?: "CREATE" | "UPDATE" | "DELETE" | null;
  /** An attribute name as the export carries it (the system's own, exact case). */
  attribute?: string | null;
  /** Only exports in this status (e.g. reject only what a hold left AWAITING_APPROVAL). */
  status?: PendingExportStatus | null;
}

type Selection = { ids?: string[] | null; runId?: string | null; filter?: ExportFilter | null };

const RETURNED = { id: true, connectedSystemId: true, planningRunId: true, exportRunId: true } as const;

/** Operator actions on the outbound queue: retry, approve, reject. Each change is published. */
export class PendingExports {
  constructor(private readonly deps: { prisma: PrismaClient; pool: pg.Pool; bus: EventBus }) {}

  /**
   * Plan the inverse of every change a finished export run applied, held AWAITING_APPROVAL
   * (see planUndo); returns how many exports were planned.
   */
  async undoRun(runId: string): Promise<number> {
    const run = await this.deps.prisma.run.findUnique({ where: { id: runId } });
    if (!run) throw notFound("run", runId);
    if (run.profile !== "EXPORT") throw badInput(`run ${runId} is a ${run.profile} run, not an EXPORT run`, "runId");
    if (run.status !== "COMPLETED" && run.status !== "PARTIAL")
      throw conflict(`run ${runId} is ${run.status}: only a finished export run can be undone`, { status: run.status });
    return inTransaction(this.deps.pool, (tx) => planUndo(tx, runId));
  }

  /** FAILED/ERROR -> PENDING with a fresh retry budget; other statuses are left as they are. */
  async retry(ids: string[]): Promise<string[]> {
    if (!ids.length) return [];
    const rows = await this.deps.prisma.pendingExport.updateManyAndReturn({
      where: { id: { in: ids }, status: { in: ["FAILED", "ERROR"] } },
      data: { status: "PENDING", errorCount: 0, nextRetryAt: null },
      select: RETURNED,
    });
    await unsettleRealtimeRuns(this.deps.pool, [...new Set(rows.flatMap((r) => (r.planningRunId ? [r.planningRunId] : [])))]);
    await this.publish(rows);
    return rows.map((r) => r.id);
  }

  /** AWAITING_APPROVAL -> PENDING for the given ids and/or every export of a run. */
  async approve(selection: Selection, by: string): Promise<number> {
    const rows = await this.deps.prisma.pendingExport.updateManyAndReturn({
      where: { ...this.select(selection), status: "AWAITING_APPROVAL" },
      data: { status: "PENDING", approvedAt: new Date(), approvedBy: by },
      select: RETURNED,
    });
    await this.publish(rows);
    return rows.length;
  }

  /**
   * Every not-yet-applied export (AWAITING_APPROVAL, PENDING, FAILED, ERROR) -> REJECTED: the change
   * is never exported. Returns how many were rejected.
   */
  async reject(selection: Selection, by: string): Promise<number> {
    return (await this.rejectWithOutcomes(selection, by)).rejected;
  }

  /**
   * As {@link reject}, saying per id what happened: REJECTED, or UNCHANGED with the code CONFLICT
   * (already applied, executing or closed: its status says which) or NOT_FOUND. A selection by run
   * alone lists the exports it rejected.
   */
  async rejectWithOutcomes(selection: Selection, by: string): Promise<{ rejected: number; results: RejectOutcome[] }> {
    const rows = await this.deps.prisma.pendingExport.updateManyAndReturn({
      where: { ...this.select(selection), status: { in: [...REJECTABLE] } },
      data: { status: "REJECTED", rejectedAt: new Date(), rejectedBy: by },
      select: RETURNED,
    });
    await this.publish(rows);
    const done = new Set(rows.map((r) => r.id));
    const results: RejectOutcome[] = rows.map((r) => ({ id: r.id, outcome: "REJECTED", code: null, status: "REJECTED" }));
    const others = (selection.ids ?? []).filter((id) => !done.has(id));
    if (others.length) {
      const found = await this.deps.prisma.pendingExport.findMany({
        where: { id: { in: others } },
        select: { id: true, status: true },
      });
      const status = new Map(found.map((f) => [f.id, f.status]));
      for (const id of new Set(others))
        results.push({
          id,
          outcome: "UNCHANGED",
          code: status.has(id) ? "CONFLICT" : "NOT_FOUND",
          status: status.get(id) ?? null,
        });
    }
    return { rejected: rows.length, results };
  }

  private select({ ids, runId, filter }: Selection): Prisma.PendingExportWhereInput {
    // Neither given would approve the whole queue: too easy to do by accident.
    if (!ids && !runId) throw badInput("give ids, runId or both", "ids");
    if (filter?.attribute != null && !filter.attribute.trim())
      throw badInput("filter.attribute must not be empty", "filter.attribute");
    return {
      ...(ids ? { id: { in: ids } } : {}),
      ...(filter?.connectedSystemId ? { connectedSystemId: filter.connectedSystemId } : {}),
      ...(filter?.changeType ? { changeType: filter.changeType } : {}),
      ...(filter?.status ? { AND: [{ status: filter.status }] } : {}),
      ...(filter?.attribute ? { attributeChanges: { array_contains: [{ attribute: filter.attribute }] } } : {}),
      // A run's exports: those it planned, executed, or (for undo) those that reverse it.
      ...(runId ? { OR: [{ planningRunId: runId }, { exportRunId: runId }, { undoOfRunId: runId }] } : {}),
    };
  }

  private async publish(
    rows: { id: string; connectedSystemId: string; planningRunId: string | null; exportRunId: string | null }[],
  ) {
    for (const r of rows) {
      const event: PendingExportEvent = {
        id: r.id,
        connectedSystemId: r.connectedSystemId,
        runId: r.planningRunId,
        exportRunId: r.exportRunId,
      };
      await this.deps.bus.publish(PENDING_EXPORTS_TOPIC, { ...event });
    }
  }
}
