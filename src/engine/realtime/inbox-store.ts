import { createHash } from "node:crypto";
import type pg from "pg";
import type { Attributes } from "../../connectors/connector.ts";
import { canonicalJson } from "../../util/canonical-json.ts";
import { PLANNING_ACTIVE } from "../pending-export/execution.ts";

/** The real-time inbox (inbox_entry): changes pushed for a system, kept until a REALTIME run applies them. */

/** Published (on commit) when changes are pushed into a system's inbox: { connectedSystemId }. */
export const INBOX_TOPIC = "inbox";
/** Published (on commit) when a REALTIME run applied some of a system's inbox: { connectedSystemId }. */
export const INBOX_APPLIED_TOPIC = "inbox.applied";

type Q = Pick<pg.PoolClient, "query">;

export interface PushedRecord {
  op: "upsert" | "delete";
  objectType: string;
  anchor: string;
  /** upsert: the whole object, as an import page would bring it. */
  attributes?: Attributes;
  /** The distinguished name where the source has one (an LDAP watcher's entries; not taken from webhooks). */
  dn?: string;
  /** The client's idempotency key; otherwise the content is the key. */
  id?: string;
}

export interface InboxEntry {
  id: string;
  op: "upsert" | "delete";
  objectType: string;
  anchor: string;
  attributes: Attributes | null;
  dn: string | null;
}

/** A content key: the same change pushed twice while the first still waits is one change. */
const contentKey = (r: PushedRecord) =>
  createHash("sha256")
    .update(
      canonicalJson([r.op, r.objectType, r.anchor, r.op === "upsert" ? (r.attributes ?? {}) : null, ...(r.dn ? [r.dn] : [])]),
    )
    .digest("base64url");

/**
 * Store pushed records in order, in the caller's transaction (durable before the push is
 * answered). A repeat of a waiting record, or of a client key, is not stored again: its first
 * entry's id is answered, so a client retrying a push it got no answer for changes nothing.
 */
export async function pushEntries(q: Q, systemId: string, records: PushedRecord[]): Promise<string[]> {
  return (await pushEntriesOfMany(q, [{ systemId, records }]))[0]!;
}

/** One push: the system it is for and its records. */
export interface Push {
  systemId: string;
  records: PushedRecord[];
}

/**
 * pushEntries for several pushes in one statement, their records in the order given (each push's
 * answer as pushEntries would give it, a record repeated by a later push of the same statement
 * answered with the earlier one's id). The statement is atomic: all of them are stored or none.
 */
export async function pushEntriesOfMany(q: Q, pushes: Push[]): Promise<string[][]> {
  const flat = pushes.flatMap((p) => p.records.map((r) => ({ systemId: p.systemId, r })));
  if (!flat.length) return pushes.map(() => []);
  const keys = flat.map(({ r }) => (r.id !== undefined ? `client:${r.id}` : contentKey(r)));
  const upsert = (r: PushedRecord) => r.op === "upsert";
  // One statement for the pushes, their rows in order (ids follow it): atomic and durable on its
  // own, so pushes cost one round trip however many records they have (on this machine a round
  // trip's syscalls are what a push mostly costs). Waking the workers is the caller's: a NOTIFY
  // here would serialise every push's commit (see systems/inbox-wakeup.ts). A plain prepared
  // INSERT: PostgreSQL CPU per single-record statement 0.36 ms against 1.0 ms for the former
  // statement that also looked up each repeat's id (parsed and planned every time), so repeats
  // are looked up by a second statement, only when there are any.
  const { rows } = await q.query<{ system: string; key: string; id: string }>({
    name: "inbox-push",
    text: `INSERT INTO inbox_entry (connected_system_id, op, object_type, anchor, attributes, key, client_key, dn)
           SELECT system, op, object_type, anchor, attributes, key, client_key, dn
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::boolean[], $8::text[])
                  WITH ORDINALITY AS r(system, op, object_type, anchor, attributes, key, client_key, dn, n)
            ORDER BY n
           ON CONFLICT DO NOTHING RETURNING connected_system_id::text AS system, key, id::text AS id`,
    values: [
      flat.map((f) => f.systemId),
      flat.map(({ r }) => r.op),
      flat.map(({ r }) => r.objectType),
      flat.map(({ r }) => r.anchor),
      flat.map(({ r }) => (upsert(r) ? JSON.stringify(r.attributes ?? {}) : null)),
      keys,
      flat.map(({ r }) => r.id !== undefined),
      flat.map(({ r }) => (upsert(r) ? (r.dn ?? null) : null)),
    ],
  });
  // A record repeated in these pushes is answered with its first row's id (stored here or earlier).
  const idOf = new Map(rows.map((r) => [`${r.system} ${r.key}`, r.id]));
  const slot = (i: number) => `${flat[i]!.systemId} ${keys[i]}`;
  const missing = flat.map((_, i) => i).filter((i) => !idOf.has(slot(i)));
  if (missing.length) {
    // Repeats of entries stored before (waiting, or a client key), or being stored by another
    // push at the same instant (its id is committed now that this insert has waited for it): the
    // newest entry of the key is the one the insert met (a waiting one is the newest of its
    // content key, and stays the answer if a run applies it meanwhile).
    const { rows: earlier } = await q.query<{ system: string; key: string; id: string }>(
      `SELECT DISTINCT ON (e.connected_system_id, e.key) e.connected_system_id::text AS system, e.key, e.id::text AS id
         FROM inbox_entry e JOIN unnest($1::uuid[], $2::text[]) AS w(system, key)
           ON e.connected_system_id = w.system AND e.key = w.key
        ORDER BY e.connected_system_id, e.key, e.id DESC`,
      [missing.map((i) => flat[i]!.systemId), missing.map((i) => keys[i]!)],
    );
    for (const r of earlier) idOf.set(`${r.system} ${r.key}`, r.id);
  }
  const ids = flat.map((_, i) => {
    const id = idOf.get(slot(i));
    if (id === undefined) throw new Error(`inbox: no entry for pushed record ${i} after its insert`);
    return id;
  });
  let at = 0;
  return pushes.map((p) => ids.slice(at, (at += p.records.length)) as string[]);
}

/** Waiting entries of the system after `afterId` up to `throughId`, in order. */
export async function waitingEntries(q: Q, systemId: string, afterId: string, throughId: string, limit: number) {
  const { rows } = await q.query<InboxEntry>(
    // Ordered by the bigint column (e.id), not by the text it is read as: "10" < "9".
    `SELECT e.id::text AS id, e.op, e.object_type AS "objectType", e.anchor, e.attributes, e.dn FROM inbox_entry e
      WHERE e.connected_system_id = $1 AND e.applied_at IS NULL AND e.id > $2::bigint AND e.id <= $3::bigint
      ORDER BY e.id LIMIT $4`,
    [systemId, afterId, throughId, limit],
  );
  return rows;
}

/** The newest waiting entry's id ("0": none): a run applies what waited when it started. */
export async function lastWaitingId(q: Q, systemId: string): Promise<string> {
  const { rows } = await q.query<{ id: string | null }>(
    "SELECT max(id)::text AS id FROM inbox_entry WHERE connected_system_id = $1 AND applied_at IS NULL",
    [systemId],
  );
  return rows[0]?.id ?? "0";
}

/** These entries are applied by `runId`: written in the transaction that applied them. */
export async function markApplied(tx: Q, systemId: string, runId: string, ids: string[]): Promise<void> {
  if (!ids.length) return;
  await tx.query(
    `UPDATE inbox_entry SET applied_run_id = $3, applied_at = clock_timestamp()
      WHERE connected_system_id = $1 AND applied_at IS NULL AND id = ANY($2::bigint[])`,
    [systemId, ids, runId],
  );
}

export interface InboxStats {
  systemId: string;
  systemName: string;
  depth: number;
  oldestAgeMs: number | null;
}

/** Waiting entries per system (only systems with any), and how long the oldest has waited. */
export async function inboxStats(q: Q, systemId?: string): Promise<InboxStats[]> {
  const { rows } = await q.query<{ system_id: string; name: string; depth: number; age_ms: number | null }>(
    `SELECT w.system_id, cs.name, w.depth, w.age_ms
       FROM (SELECT connected_system_id AS system_id, count(*)::int AS depth,
                    (EXTRACT(EPOCH FROM clock_timestamp() - min(received_at)) * 1000)::float8 AS age_ms
               FROM inbox_entry WHERE applied_at IS NULL AND ($1::uuid IS NULL OR connected_system_id = $1)
              GROUP BY connected_system_id) w
       JOIN connected_system cs ON cs.id = w.system_id`,
    [systemId ?? null],
  );
  return rows.map((r) => ({ systemId: r.system_id, systemName: r.name, depth: r.depth, oldestAgeMs: r.age_ms }));
}

/**
 * Applied entries older than `keepMs` go (client keys are remembered that long), at most `limit`
 * per call so that one statement never holds a long transaction: the caller repeats while the
 * answer equals the limit.
 */
export async function pruneApplied(q: Q, keepMs: number, limit = 10_000): Promise<number> {
  const { rowCount } = await q.query(
    `DELETE FROM inbox_entry WHERE id IN (
       SELECT id FROM inbox_entry
        WHERE applied_at < clock_timestamp() - make_interval(secs => $1::float8 / 1000) LIMIT $2)`,
    [keepMs, limit],
  );
  return rowCount ?? 0;
}

/** Systems with real-time on and entries waiting: what a REALTIME run should be started for. */
export async function systemsWithWaiting(q: Q): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT cs.id FROM connected_system cs
      WHERE COALESCE((cs.realtime->>'enabled')::boolean, false)
        AND EXISTS (SELECT 1 FROM inbox_entry e WHERE e.connected_system_id = cs.id AND e.applied_at IS NULL)`,
  );
  return rows.map((r) => r.id);
}

/** Real-time settings of a system (null: off or no such system). */
export async function realtimeSettings(q: Q, systemId: string): Promise<RealtimeSettings | null> {
  const { rows } = await q.query<{ realtime: RealtimeSettings | null }>("SELECT realtime FROM connected_system WHERE id = $1", [
    systemId,
  ]);
  const settings = rows[0]?.realtime;
  return settings?.enabled ? settings : null;
}

export interface RealtimeSettings {
  enabled: boolean;
  /** How long the first push waits for others before its run starts (coalescing). */
  windowMs?: number | null;
  batchSize?: number | null;
  /** A watcher (src/jobs/watchers) pushes the source's changes here. */
  watch?: boolean | null;
  pollIntervalMs?: number | null;
}

/** Statuses an export can leave for PENDING without an operator: a run that planned one is not settled. */
const OPEN_EXPORT_STATUSES = "('AWAITING_APPROVAL', 'PENDING', 'EXECUTING', 'FAILED')";

/**
 * Target systems (not in staging) holding exports a REALTIME run planned that are due now
 * (PENDING, or FAILED with their retry time passed): the export runs that finish what a push
 * started, and retry it when the target failed it for a while. As claimReadyExports would take
 * them, so a finished export run never leaves one behind that starts another.
 *
 * Read from the REALTIME runs not yet settled (run.exports_settled; a partial index holds only
 * them), each one's exports by the planning-run index: every worker asks every 2 s and at every
 * run end, and joining every open export with its run to find the real-time ones read all of a
 * full sync's (300,000 rows a call after a full sync of 100,000 people). A finished run none of
 * whose exports is open any more is marked settled here, so the set stays the few recent runs.
 *
 * Call it in a transaction: the runs are locked first (another worker's sweep skips them and
 * reports their targets itself), then their exports are read by a second statement, whose
 * snapshot comes after the locks: an operator's retry committed meanwhile is seen, or its
 * unsettleRealtimeRuns, which waits for the lock, comes after this settles.
 */
export async function realtimeExportTargets(tx: Q): Promise<string[]> {
  const { rows: watched } = await tx.query<{ id: string }>(
    `SELECT r.id FROM run r WHERE r.profile = 'REALTIME' AND NOT r.exports_settled AND r.status NOT IN ${PLANNING_ACTIVE}
        FOR UPDATE SKIP LOCKED`,
  );
  if (!watched.length) return [];
  const { rows } = await tx.query<{ id: string }>(
    `WITH open AS (
       SELECT pe.planning_run_id AS run_id, pe.connected_system_id AS system_id,
              bool_or((pe.status = 'PENDING' OR (pe.status = 'FAILED' AND pe.next_retry_at <= now()))
                      AND (pe.not_before IS NULL OR pe.not_before <= now())) AS due
         FROM pending_export pe
        WHERE pe.planning_run_id = ANY($1::uuid[]) AND pe.status IN ${OPEN_EXPORT_STATUSES}
        GROUP BY 1, 2),
     settled AS (
       UPDATE run SET exports_settled = true
        WHERE id = ANY($1::uuid[]) AND id NOT IN (SELECT run_id FROM open))
     SELECT cs.id FROM connected_system cs
      WHERE NOT cs.staging AND cs.id IN (SELECT system_id FROM open WHERE due)`,
    [watched.map((r) => r.id)],
  );
  return rows.map((r) => r.id);
}

/**
 * Exports an operator put back to PENDING (a retry of FAILED or ERROR ones), after that commit:
 * the REALTIME runs that planned them are watched again, so the sweep starts their export.
 */
export async function unsettleRealtimeRuns(q: Q, runIds: string[]): Promise<void> {
  if (!runIds.length) return;
  // Unconditional: a sweep holding the run's lock (about to settle it from a snapshot taken
  // before the retry) is waited for, and its settling overwritten.
  await q.query("UPDATE run SET exports_settled = false WHERE id = ANY($1::uuid[]) AND profile = 'REALTIME'", [runIds]);
}

/**
 * Latency quantiles of the records applied within the last `windowMs`: from the push to its
 * REALTIME run's commit ("applied"), and to the end of the export run that sent what that run
 * planned ("exported"; records whose run planned nothing are not counted there).
 */
export async function realtimeLatency(q: Q, windowMs: number) {
  const { rows } = await q.query<{ stage: string; p50: number | null; p99: number | null }>(
    `WITH recent AS (
       SELECT e.received_at, e.applied_at, e.applied_run_id FROM inbox_entry e
        WHERE e.applied_at > clock_timestamp() - make_interval(secs => $1::float8 / 1000)),
     sent AS (
       SELECT pe.planning_run_id AS run_id, max(x.finished_at) AS exported_at
         FROM pending_export pe JOIN run x ON x.id = pe.export_run_id
        WHERE pe.planning_run_id IN (SELECT DISTINCT applied_run_id FROM recent) AND x.finished_at IS NOT NULL
        GROUP BY pe.planning_run_id)
     SELECT 'applied' AS stage,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM applied_at - received_at))::float8 AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM applied_at - received_at))::float8 AS p99
       FROM recent
     UNION ALL
     SELECT 'exported',
            percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM s.exported_at - r.received_at))::float8,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM s.exported_at - r.received_at))::float8
       FROM recent r JOIN sent s ON s.run_id = r.applied_run_id`,
    [windowMs],
  );
  return rows;
}
