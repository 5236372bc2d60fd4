import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { AlertRaiser } from "../alerts/raise.ts";
import type { ConnectorFactory } from "../connectors/deps.ts";
import { inTransaction } from "../db/transaction.ts";
import { RunEventType } from "../engine/run-events.ts";
import { badInput, conflict, notFound } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { ConnectedSystem, PrismaClient } from "../generated/prisma/client.ts";
import type { RunProfile } from "../generated/prisma/enums.ts";
import type { Logger } from "../logger.ts";
import type { ConnectedSystems } from "../systems/connected-systems.ts";
import { dedupeKey, type OperationDefinition, type OperationType, operationForProfile } from "./operations.ts";
import type { RunOptions } from "./options.ts";
import { type PreflightFailure, preflight } from "./preflight.ts";
import { insertRunEvents, publishRunChanged, RUNS_QUEUED_TOPIC } from "./progress.ts";
import { priorityOf, type RunQueue } from "./queue.ts";
import { resumePausedRun } from "./run-control-store.ts";
import { type ActiveRun, findActiveRunByKey, findActiveRunHolding, insertRun, type NewRun } from "./run-store.ts";

export type RunTrigger = "MANUAL" | "SCHEDULE" | "API" | "REALTIME";
/** Every answer a start can get: the single definition, also of the GraphQL enum StartOutcome. */
export const START_OUTCOMES = ["ACCEPTED", "DEDUPED", "SCOPE_BUSY", "BLOCKED"] as const;
export type StartOutcome = (typeof START_OUTCOMES)[number];

export interface StartRequest {
  /** Id of the system, or its name (CLI, YAML). */
  connectedSystemId?: string;
  systemName?: string;
  profile: RunProfile;
  dryRun?: boolean;
  trigger: RunTrigger;
  scheduleId?: string | null;
}

/** A run as the start result names it (the new one, the duplicate, the scope holder, the blocked record). */
export interface RunSummary {
  id: string;
  operation: OperationType;
  status: string;
  connectedSystemId: string;
  systemName: string;
}

export interface StartResult {
  outcome: StartOutcome;
  run: RunSummary;
  /** The scopes both runs hold (SCOPE_BUSY). */
  sharedScopes: string[];
  /** BLOCKED only. */
  failure: PreflightFailure | null;
}

/** Advisory lock namespace of run scopes (pg_advisory_xact_lock(int, int)). */
const SCOPE_LOCK_CLASS = 0x6d73; // "ms"

export interface StartGateDeps {
  pool: pg.Pool;
  prisma: PrismaClient;
  systems: ConnectedSystems;
  queue: RunQueue;
  bus: EventBus;
  logger: Logger;
  connectorFactory: ConnectorFactory;
  options: RunOptions;
  /** Raises RUN_BLOCKED with the blocked record (src/alerts). */
  alerts?: AlertRaiser;
}

/**
 * The one way to start work (GraphQL startRun, CLI run, schedules): pin the connection
 * settings, preflight, then dedupe / scope busy / accept inside one transaction that holds
 * transaction-scoped advisory locks on every scope involved. The locks serialise concurrent
 * starts across API processes; the checks read committed run rows, so the rules hold across
 * restarts too. An accepted run's row and its pg-boss job commit together.
 */
export class StartGate {
  constructor(private readonly deps: StartGateDeps) {}

  async start(request: StartRequest): Promise<StartResult> {
    const system = await this.findSystem(request);
    const op = operationForProfile(request.profile);
    const dryRun = request.dryRun ?? false;
    // Pin: the version current now is the one the run will talk to, whatever changes later.
    const settings = await this.deps.systems.currentSettings(system);
    const failure = await preflight(
      { ...this.deps, connectionTestTimeoutMs: this.deps.options.connectionTestTimeoutMs },
      op,
      system,
      settings.id,
      dryRun,
    );
    if (failure) return this.block(request, system, op, settings.id, failure, dryRun);
    return this.admit(request, system, op, settings.id, dryRun);
  }

  /**
   * Resume a PAUSED run: the same run id, queued again (at its trigger's priority) to continue
   * from its checkpoint. It kept its scopes while paused, so nothing can be in its way; the
   * preflight checks run again against its pinned settings (a secret or connection that broke
   * meanwhile answers BLOCKED with next steps, and the run stays PAUSED for another try).
   */
  async resume(runId: string): Promise<StartResult> {
    const { prisma, queue, bus } = this.deps;
    const row = await prisma.run.findUnique({ where: { id: runId }, include: { connectedSystem: true } });
    if (!row) throw notFound("run", runId);
    if (row.status !== "PAUSED")
      throw conflict(`run ${runId} is ${row.status}; only a PAUSED run can be resumed`, { runId, status: row.status });
    const op = operationForProfile(row.profile);
    const system = row.connectedSystem;
    const run: RunSummary = {
      id: row.id,
      operation: op.type,
      status: "PAUSED",
      connectedSystemId: system.id,
      systemName: system.name,
    };
    const failure = await preflight(
      { ...this.deps, connectionTestTimeoutMs: this.deps.options.connectionTestTimeoutMs },
      op,
      system,
      row.connectionSettingsId,
      row.dryRun,
    );
    if (failure) return { outcome: "BLOCKED", run, sharedScopes: [], failure };
    await queue.start();
    return inTransaction(this.deps.pool, async (client) => {
      const jobId = randomUUID();
      if (!(await resumePausedRun(client, runId, jobId))) throw conflict(`run ${runId} is no longer PAUSED`, { runId });
      await queue.send(client, jobId, { runId, connectionSettingsId: row.connectionSettingsId }, priorityOf(row.trigger));
      await insertRunEvents(client, runId, [{ type: RunEventType.resumed, data: {} }]);
      await publishRunChanged(bus, { id: runId, connectedSystemId: system.id, status: "QUEUED" }, client);
      await bus.publish(RUNS_QUEUED_TOPIC, { runId }, client);
      return { outcome: "ACCEPTED" as const, run: { ...run, status: "QUEUED" }, sharedScopes: [], failure: null };
    });
  }

  /** The first claim plus the recoveries a run is allowed. */
  private maxAttempts(): number {
    return 1 + this.deps.options.maxRecoveries;
  }

  private async findSystem(request: StartRequest): Promise<ConnectedSystem> {
    const { prisma } = this.deps;
    if (request.connectedSystemId) {
      const found = await prisma.connectedSystem.findUnique({ where: { id: request.connectedSystemId } });
      if (!found) throw notFound("connected system", request.connectedSystemId);
      return found;
    }
    if (request.systemName) {
      const found = await prisma.connectedSystem.findUnique({ where: { name: request.systemName } });
      if (!found) throw notFound("connected system", JSON.stringify(request.systemName));
      return found;
    }
    throw badInput("connectedSystemId is required", "connectedSystemId");
  }

  /** The run row both start paths write: admitted (QUEUED) or refused by preflight (BLOCKED). */
  private runRow(
    id: string,
    request: StartRequest,
    system: ConnectedSystem,
    op: OperationDefinition,
    settingsId: string,
    dryRun: boolean,
    scopeKey: string,
    start: NewRun["start"],
  ): NewRun {
    return {
      id,
      operation: op.type,
      profile: op.profile,
      connectedSystemId: system.id,
      connectionSettingsId: settingsId,
      scopeKey,
      scopes: op.scopes(system.id),
      dryRun,
      trigger: request.trigger,
      scheduleId: request.scheduleId ?? null,
      maxAttempts: this.maxAttempts(),
      start,
    };
  }

  private async block(
    request: StartRequest,
    system: ConnectedSystem,
    op: OperationDefinition,
    settingsId: string,
    failure: PreflightFailure,
    dryRun: boolean,
  ): Promise<StartResult> {
    const id = randomUUID();
    await inTransaction(this.deps.pool, async (client) => {
      await insertRun(
        client,
        this.runRow(id, request, system, op, settingsId, dryRun, dedupeKey(op.type, system.id), {
          status: "BLOCKED",
          reasonCode: failure.reasonCode,
          reason: failure.reason,
          nextSteps: failure.nextSteps,
        }),
      );
      await insertRunEvents(client, id, [{ type: RunEventType.blocked, data: { trigger: request.trigger, ...failure } }]);
      await this.deps.alerts?.forRunEnd(client, id);
      await publishRunChanged(this.deps.bus, { id, connectedSystemId: system.id, status: "BLOCKED" }, client);
    });
    const run = { id, operation: op.type, status: "BLOCKED", connectedSystemId: system.id, systemName: system.name };
    return { outcome: "BLOCKED", run, sharedScopes: [], failure };
  }

  private async admit(
    request: StartRequest,
    system: ConnectedSystem,
    op: OperationDefinition,
    settingsId: string,
    dryRun: boolean,
  ): Promise<StartResult> {
    // Dry runs dedupe among themselves; against real runs they are simply scope busy.
    const key = dedupeKey(op.type, system.id) + (dryRun ? ":dry" : "");
    const scopes = op.scopes(system.id);
    const { queue, bus } = this.deps;
    // pg-boss must be installed before the transaction: its first start runs DDL.
    await queue.start();
    return inTransaction(this.deps.pool, async (client) => {
      for (const lock of [key, ...scopes].sort())
        await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [SCOPE_LOCK_CLASS, lock]);
      const duplicate = await findActiveRunByKey(client, key);
      if (duplicate) return { outcome: "DEDUPED", run: summary(duplicate), sharedScopes: [], failure: null };
      const holder = await findActiveRunHolding(client, scopes);
      if (holder) {
        const shared = scopes.filter((s) => holder.scopes.includes(s));
        return { outcome: "SCOPE_BUSY", run: summary(holder), sharedScopes: shared, failure: null };
      }
      const id = randomUUID();
      const jobId = randomUUID();
      await insertRun(client, this.runRow(id, request, system, op, settingsId, dryRun, key, { status: "QUEUED", jobId }));
      await queue.send(client, jobId, { runId: id, connectionSettingsId: settingsId }, priorityOf(request.trigger));
      await insertRunEvents(client, id, [
        {
          type: RunEventType.triggered,
          data: { trigger: request.trigger, operation: op.type, connectionSettingsId: settingsId, dryRun },
        },
      ]);
      await publishRunChanged(bus, { id, connectedSystemId: system.id, status: "QUEUED" }, client);
      await bus.publish(RUNS_QUEUED_TOPIC, { runId: id }, client);
      const run: RunSummary = { id, operation: op.type, status: "QUEUED", connectedSystemId: system.id, systemName: system.name };
      return { outcome: "ACCEPTED", run, sharedScopes: [], failure: null };
    });
  }
}

/** The start result names a run without its scopes (SCOPE_BUSY lists only the shared ones). */
function summary(run: ActiveRun): RunSummary {
  return {
    id: run.id,
    operation: run.operation,
    status: run.status,
    connectedSystemId: run.connectedSystemId,
    systemName: run.systemName,
  };
}
