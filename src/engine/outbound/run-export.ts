import { type AttributeChange, ConnectorError, type ExportChange, type ExportResult } from "../../connectors/connector.ts";
import { referenceTargets } from "../connector-space/store.ts";
import { loadImportSchema } from "../import/context.ts";
import {
  claimReadyExports,
  holdUnapprovedDeletes,
  previewPage,
  type ReadyExport,
  releaseExports,
  releaseRunExports,
} from "../pending-export/execution.ts";
import { insertRunChanges } from "../run-changes.ts";
import type { OperationExecutor, RunContext } from "../run-context.ts";
import { RunEventType } from "../run-events.ts";
import { applyResults, type Planned } from "./export-outcomes.ts";

export interface ExportOptions {
  batchSize: number;
  /** First retry delay of a failed export; doubles per failure, +/-20% jitter. */
  retryBaseMs: number;
}

/** An export run of a system in staging mode (STAGING): it fails before sending anything. */
export class StagingError extends Error {
  readonly code = "STAGING";
}

/** One claimed export as the connector sees it, and the reference changes that must wait. */
async function toConnectorChanges(pool: RunContext["pool"], systemId: string, claimed: ReadyExport[]) {
  const waiting = claimed.flatMap((e) =>
    e.attributeChanges.filter((c) => c.status === "AWAITING_REFERENCE").flatMap((c) => c.values.map(String)),
  );
  const targets = await referenceTargets(pool, systemId, [...new Set(waiting)]);
  const unresolved = new Map<string, Planned[]>();
  const changes: ExportChange[] = claimed.map((e) => {
    const attributes: AttributeChange[] = [];
    let newDn: string | undefined;
    for (const c of e.attributeChanges) {
      if (c.attribute === "dn") {
        newDn = String(c.values[0]);
        continue;
      }
      if (c.status !== "AWAITING_REFERENCE") {
        attributes.push({ attribute: c.attribute, operation: c.operation, values: c.values });
        continue;
      }
      const ready = c.values.flatMap((id) => (targets.has(String(id)) ? [targets.get(String(id))!] : []));
      const later = c.values.filter((id) => !targets.has(String(id)));
      if (ready.length) attributes.push({ attribute: c.attribute, operation: c.operation, values: ready });
      if (later.length) unresolved.set(e.id, [...(unresolved.get(e.id) ?? []), { ...c, values: later }]);
    }
    const pending = e.anchor?.startsWith("pending:");
    return {
      id: e.id,
      changeType: e.changeType,
      objectType: e.objectType ?? "",
      anchor: pending ? undefined : (e.anchor ?? undefined),
      dn: e.dn ?? undefined,
      newDn,
      attributes,
    };
  });
  return { changes, unresolved };
}

/** A batch the target answered, waiting to be stored. */
interface Exported {
  claimed: ReadyExport[];
  changes: ExportChange[];
  results: ExportResult[];
  unresolved: Map<string, Planned[]>;
}

/**
 * EXPORT: apply a system's ready pending exports through its connector in batches. Each
 * export ends EXPORTED (awaiting confirmation by the next import), FAILED with a backoff retry
 * time while retries remain, or ERROR. One object's failure never fails the batch; an
 * unreachable target fails the run and leaves every export as it was. Long because the
 * pipeline's stages (claim, send, store) share the in-flight batches in one closure.
 */
export function createExportExecutor(options: ExportOptions = { batchSize: 500, retryBaseMs: 30_000 }): OperationExecutor {
  return async (ctx) => {
    const systemId = ctx.system.id;
    let processed = (ctx.run.checkpoint as { processed?: number } | null)?.processed ?? 0;
    if (ctx.run.dryRun) return previewExports(ctx);
    // Accepted before staging was turned on: still nothing may be sent. The exports stay as they are.
    if (ctx.system.staging)
      throw new StagingError(`${ctx.system.name} is in staging mode: no export was sent, every pending export is kept`);
    const connector = await ctx.connector();
    const batchSize = pacedBatchSize(options.batchSize, ctx.system.rateLimit);
    // The shape in which this system's imports give attributes, for the objects' expected state.
    const storing = { ...options, schema: await loadImportSchema(ctx.pool, systemId) };
    // Only a run that ran before can have claimed anything.
    if (ctx.run.attempt > 1 || ctx.run.checkpoint !== null)
      await ctx.batch(async (tx) => {
        const released = await releaseRunExports(tx, ctx.run.id);
        return { counts: {}, processed, phase: "exporting", checkpoint: { processed }, empty: !released };
      });
    if (ctx.system.deleteThreshold !== null)
      await ctx.batch(async (tx) => {
        const held = await holdUnapprovedDeletes(tx, systemId, ctx.system.deleteThreshold!);
        return {
          counts: {},
          processed,
          phase: "checking delete threshold",
          checkpoint: { processed },
          events: held ? [{ type: RunEventType.deletesHeld, data: { held } }] : [],
          empty: !held,
        };
      });
    // Pipelined: while batch N goes to the target, the database stores batch N-1's results and
    // claims batch N+1 (two transactions at once), so the target and the database work at the same time. The claim
    // leaves out N's exports and objects (still in flight): an object's next export waits until
    // the previous one's outcome is stored, so it starts from the object's current state.
    // A target with an export session (a CSV file, rewritten whole to be durable) holds answered
    // batches until a commit makes them durable; only then are their outcomes stored (EXPORTED).
    // Until then they count as in flight. If the run stops first, they are given back and redone.
    const session = connector.openExportSession?.() ?? null;
    const held: Exported[] = [];
    let heldSince = 0;
    const excluding = (inFlight: ReadyExport[]) =>
      [...held.flatMap((b) => b.claimed), ...inFlight].flatMap((e) => (e.csoId ? [e.csoId] : []));
    const claim = async (inFlight: ReadyExport[]) => {
      let claimed: ReadyExport[] = [];
      await ctx.batch(async (tx) => {
        claimed = await claimReadyExports(tx, systemId, ctx.run.id, batchSize, excluding(inFlight));
        // Nothing found (most often the look after the last batch): not a batch of the run.
        return { counts: {}, processed, phase: "exporting", checkpoint: { processed }, empty: !claimed.length };
      });
      return claimed;
    };
    /**
     * The next claim while answered batches are being stored: in its own transaction, beside the
     * run's batch transaction (which holds the run's row), so the two run at the same time. The
     * batches being stored are left out like the ones in flight. The run's boundary (pause,
     * cancel, a lost lease) is checked by the store beside it; if the store fails, this claim is
     * given back. A claim lost with the database server is harmless (the exports are PENDING
     * again, sent as a crash's EXECUTING leftovers would be), so it does not wait for its WAL flush.
     */
    const claimBeside = async (inFlight: ReadyExport[]) => {
      const client = await ctx.pool.connect();
      try {
        await client.query("BEGIN");
        await client.query("SET LOCAL synchronous_commit = off");
        const claimed = await claimReadyExports(client, systemId, ctx.run.id, batchSize, excluding(inFlight));
        await client.query("COMMIT");
        return claimed;
      } catch (e) {
        await client.query("ROLLBACK").catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    };
    /** Stores the answered batches and claims the next one at the same time. */
    const storeAndClaim = async (done: Exported[], inFlight: ReadyExport[]) => {
      // A batch claimed short found all that was ready a moment ago (or stopped at the claim's
      // byte bound): the look after the last batch takes what came since, or what is left (in a
      // real-time burst the look beside it found nothing).
      if (!done.length) return inFlight.length < batchSize ? [] : claim(inFlight);
      const [stored, next] = await Promise.allSettled([
        (async () => {
          for (const b of done) await writeBatch(b);
        })(),
        claimBeside([...inFlight, ...done.flatMap((b) => b.claimed)]),
      ]);
      if (stored.status === "rejected") {
        if (next.status === "fulfilled")
          await releaseExports(
            ctx.pool,
            next.value.map((c) => c.id),
          ).catch(() => {});
        throw stored.reason;
      }
      if (next.status === "rejected") throw next.reason;
      return next.value;
    };
    /** The held batches once durable, their outcomes to store; each APPLIED one failed when the commit failed. */
    const commitHeld = async (): Promise<Exported[]> => {
      const batches = held.splice(0);
      try {
        await session!.commit();
        return batches;
      } catch (e) {
        const error = e instanceof ConnectorError ? e : new ConnectorError("INTERNAL", String(e), false);
        const failed = batches.map((b) => ({
          ...b,
          results: b.results.map((r) => (r.status === "APPLIED" ? failureOf(r.id, error) : r)),
        }));
        const refusal = targetRefusal(failed.flatMap((b) => b.results));
        if (refusal) {
          await releaseExports(
            ctx.pool,
            batches.flatMap((b) => b.claimed.map((c) => c.id)),
          );
          throw refusal;
        }
        return failed;
      }
    };
    let current = await claim([]);
    // Answered and durable: outcomes the next database step stores.
    let answered: Exported[] = [];
    try {
      while (current.length) {
        const done = answered;
        const batch = current;
        answered = [];
        const database = storeAndClaim(done, batch);
        database.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
        let exported: Exported;
        try {
          exported = await exportBatch(batch);
        } catch (e) {
          // Claimed meanwhile, never sent: back to the queue with the batch that failed.
          const next = await database.catch(() => [] as ReadyExport[]);
          await releaseExports(
            ctx.pool,
            next.map((c) => c.id),
          );
          throw e;
        }
        if (session) {
          if (!held.length) heldSince = Date.now();
          held.push(exported);
        }
        current = await database;
        if (!session) answered = [exported];
        else {
          const size = held.reduce((n, b) => n + b.claimed.length, 0);
          if (!current.length || session.commitDue || size >= HOLD_LIMIT || Date.now() - heldSince >= HOLD_MS)
            answered = await commitHeld();
        }
        if (!current.length) {
          // The last batch's outcome may queue follow-ups (references): write it, then look again.
          for (const b of answered) await writeBatch(b);
          answered = [];
          current = await claim([]);
        }
      }
    } catch (e) {
      if (held.length) {
        // Never written to the target: the file keeps its last commit, the exports go again.
        await session!.abort();
        await releaseExports(
          ctx.pool,
          held.flatMap((b) => b.claimed.map((c) => c.id)),
        ).catch(() => {});
      }
      throw e;
    }

    async function exportBatch(claimed: ReadyExport[]): Promise<Exported> {
      const { changes, unresolved } = await toConnectorChanges(ctx.pool, systemId, claimed);
      let results: ExportResult[];
      try {
        results = await (session ?? connector).export(changes);
      } catch (e) {
        await releaseExports(
          ctx.pool,
          claimed.map((c) => c.id),
        );
        throw e;
      }
      const refusal = targetRefusal(results);
      if (refusal) {
        // Sent again by the next run: what the target did apply of this batch joins as APPLIED.
        await releaseExports(
          ctx.pool,
          claimed.map((c) => c.id),
        );
        throw refusal;
      }
      return { claimed, changes, results, unresolved };
    }

    async function writeBatch({ claimed, ...outcome }: Exported) {
      processed += claimed.length;
      await ctx.batch(async (tx) => {
        const counts = await applyResults(tx, ctx, claimed, outcome.changes, outcome.results, outcome.unresolved, storing);
        return {
          counts,
          processed,
          phase: "exporting",
          checkpoint: { processed },
        };
      });
    }
  };
}

/**
 * Held by an export session until a commit: at most this many exports, and at most this long
 * (they show as exported, and the target has them, no later than that). Held exports stay
 * EXECUTING, and every claim sends their objects as its exclusion list; a commit costs ~the
 * file's rows.
 */
const HOLD_LIMIT = 5_000;
const HOLD_MS = 30_000;

function failureOf(id: string, error: ConnectorError): ExportResult {
  return { id, status: error.transient ? "TRANSIENT_FAILURE" : "PERMANENT_FAILURE", code: error.code, message: error.message };
}

/**
 * Answers that say the target, not an object, is the problem: the run fails and the batch's
 * exports stay as they were (no error counted, no retry used up), instead of every remaining
 * export failing one by one. Refused credentials (a password changed after the system was
 * accepted) are never about one object; every change of a batch (two or more) timing out is a
 * server that stopped answering, like every change unable to connect.
 */
function targetRefusal(results: ExportResult[]): ConnectorError | null {
  const refused = results.find((r) => r.status !== "APPLIED" && r.code === "AUTH_FAILED");
  if (refused && refused.status !== "APPLIED")
    return new ConnectorError(
      "AUTH_FAILED",
      `the target refused the credentials: ${refused.message}; exports kept for the next run`,
      false,
    );
  const down = (r: ExportResult) =>
    r.status === "TRANSIENT_FAILURE" && (r.code === "CONNECTION_FAILED" || (r.code === "TIMEOUT" && results.length > 1));
  const first = results[0];
  if (!first || first.status === "APPLIED" || !results.every(down)) return null;
  const what = first.code === "TIMEOUT" ? "target not answering" : "target unreachable";
  return new ConnectorError(first.code, `${what}: ${first.message}; exports kept for the next run`);
}

/**
 * Under a rate limit a batch holds about two seconds of it, so progress, pause and cancel still
 * come every few seconds however slow the target must be driven.
 */
function pacedBatchSize(batchSize: number, limit: RunContext["system"]["rateLimit"]): number {
  const rate = Math.min(limit?.objectsPerSecond ?? Infinity, limit?.requestsPerSecond ?? Infinity);
  return Number.isFinite(rate) ? Math.max(1, Math.min(batchSize, Math.ceil(rate * 2))) : batchSize;
}

/** Dry run: record what the export would send, change nothing, call nothing. */
async function previewExports(ctx: RunContext) {
  let after = "00000000-0000-0000-0000-000000000000";
  for (;;) {
    let done = false;
    await ctx.batch(async (tx) => {
      const rows = await previewPage(tx, ctx.system.id, after, 500);
      done = rows.length < 500;
      after = rows.at(-1)?.id ?? after;
      await insertRunChanges(
        tx,
        ctx.run.id,
        rows.map((r) => ({
          changeType: "WOULD_EXPORT",
          pendingExportId: r.id,
          csoId: r.connector_space_object_id,
          anchor: r.distinguished_name ?? r.anchor,
          attributeChanges: { changeType: r.change_type, changes: r.attribute_changes },
        })),
      );
      return { counts: { fetched: rows.length }, processed: 0, phase: "previewing exports", checkpoint: null };
    });
    if (done) return;
  }
}
