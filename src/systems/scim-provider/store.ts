/**
 * Where a SCIM_INBOUND system's resources live: its connector space, plus what waits in its
 * real-time inbox. Reads go through both in one statement (one snapshot): the last waiting entry
 * of an object wins over its connector-space row, so a client reads back what it just wrote
 * although the REALTIME run applies it a moment later. Writes are inbox entries only, so each goes
 * through connector space, the delta sync and the exports like any other push.
 */
import type pg from "pg";
import { RESOURCE_ATTRIBUTE } from "../../connectors/scim-inbound/schemas.ts";
import { type PushedRecord, pushEntries } from "../../engine/realtime/inbox-store.ts";
import type { InboxWakeup } from "../inbox-wakeup.ts";

type Q = Pick<pg.PoolClient, "query">;
export type Json = Record<string, unknown>;

export interface ResourceQuery {
  /** Only these ids (anchors). */
  ids?: string[];
  /** Only resources whose userName equals this, case-insensitively (RFC 7643: userName is not case-exact). */
  userName?: string;
}

/**
 * The current resources of one object type (as stored: JSON with id and meta), in id order. Each
 * kind of lookup is its own statement, so each can use its index: ids the connector space's
 * (system, type, anchor) key, a userName the expression index of migration scim_user_name_index.
 */
export async function readResources(q: Q, systemId: string, objectType: string, where: ResourceQuery = {}): Promise<Json[]> {
  const params: unknown[] = [systemId, objectType, RESOURCE_ATTRIBUTE];
  let waitingWhere = "";
  let storedWhere = "";
  if (where.ids) {
    params.push(where.ids);
    waitingWhere = "AND e.anchor = ANY($4::text[])";
    storedWhere = "AND c.anchor = ANY($4::text[])";
  } else if (where.userName !== undefined) {
    // Any object a waiting entry names with it (its last entry decides), or a stored one with it.
    params.push(where.userName);
    waitingWhere = `AND e.anchor IN (SELECT n.anchor FROM inbox_entry n WHERE n.connected_system_id = $1 AND n.object_type = $2
                      AND n.applied_at IS NULL AND lower(n.attributes->>'userName') = lower($4::text))`;
    storedWhere = "AND c.attributes ? 'userName' AND lower(c.attributes->>'userName') = lower($4::text)";
  }
  const { rows } = await q.query<{ resource: string | null }>(
    `WITH waiting AS (
       SELECT DISTINCT ON (e.anchor) e.anchor, e.op, e.attributes FROM inbox_entry e
        WHERE e.connected_system_id = $1 AND e.object_type = $2 AND e.applied_at IS NULL ${waitingWhere}
        ORDER BY e.anchor, e.id DESC),
     current AS (
       SELECT w.anchor, w.attributes FROM waiting w WHERE w.op = 'upsert'
       UNION ALL
       SELECT c.anchor, c.attributes FROM connector_space_object c
        WHERE c.connected_system_id = $1 AND c.object_type = $2 AND c.status = 'NORMAL' ${storedWhere}
          AND NOT EXISTS (SELECT 1 FROM inbox_entry w WHERE w.connected_system_id = $1 AND w.object_type = $2
                            AND w.applied_at IS NULL AND w.anchor = c.anchor))
     SELECT attributes->>$3 AS resource FROM current
      ${where.userName !== undefined && !where.ids ? "WHERE lower(attributes->>'userName') = lower($4::text)" : ""}
      ORDER BY anchor`,
    params,
  );
  return rows.flatMap((r) => (r.resource ? [JSON.parse(r.resource) as Json] : []));
}

/** Ids among `ids` that exist as one of `objectTypes` (group members may be users or groups). */
export async function existingIds(q: Q, systemId: string, objectTypes: string[], ids: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  if (!ids.length) return found;
  for (const type of objectTypes) for (const r of await readResources(q, systemId, type, { ids })) found.add(String(r.id));
  return found;
}

/**
 * One write: in a transaction holding advisory locks (an id's, then a userName's), `decide` reads
 * what it needs and returns the record to push, or null to push nothing; the record is durable
 * and the workers woken when this returns. Locks serialise writes to one resource (no lost PATCH)
 * and to one userName (no two users with it); the lock order (id before name) rules out deadlock.
 */
export async function writeLocked<T>(
  pool: pg.Pool,
  wake: InboxWakeup,
  systemId: string,
  decide: (q: Q, lock: (key: string) => Promise<void>) => Promise<{ record: PushedRecord | null; result: T }>,
): Promise<T> {
  const client = await pool.connect();
  let open = false;
  try {
    const lock = async (key: string) => {
      const literal = client.escapeLiteral(`scim:${systemId}:${key}`);
      // The transaction starts with its first lock, in the same round trip (a request's latency is
      // mostly round trips): reads before it need no lock (a group's member check).
      const sql = `${open ? "" : "BEGIN; "}SELECT pg_advisory_xact_lock(hashtextextended(${literal}, 0))`;
      open = true; // a failure half-way still rolls back
      await client.query(sql);
    };
    const { record, result } = await decide(client, lock);
    if (record) await pushEntries(client, systemId, [record]);
    if (open) await client.query("COMMIT");
    open = false;
    if (record) void wake(systemId);
    return result;
  } catch (e) {
    if (open) await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}
