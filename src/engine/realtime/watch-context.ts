import type pg from "pg";
import type { Attributes, ImportContext } from "../../connectors/connector.ts";
import { contentHash } from "../../connectors/content-hash.ts";
import { createImportContext } from "../import/context.ts";

/**
 * The ImportContext a watcher runs a connector's delta read with: the connector space as it
 * will be once the waiting inbox entries are applied. Without the overlay, a row changed twice
 * before the drainer ran would be compared with the stale stored copy (pushed again: harmless),
 * but a row added and removed before then would never be deleted (its anchor is not stored yet).
 * Each lookup is one statement, so it sees stored objects and waiting entries at one instant.
 */
export function createWatchContext(pool: pg.Pool, systemId: string): ImportContext {
  const base = createImportContext(pool, systemId);
  return {
    ...base,
    async storedHashes(objectType, anchors) {
      const { rows } = await pool.query<{
        anchor: string;
        hash: string | null;
        op: string | null;
        attributes: Attributes | null;
      }>(
        `SELECT a.anchor, cso.content_hash AS hash, w.op, w.attributes
           FROM unnest($3::text[]) AS a(anchor)
           LEFT JOIN connector_space_object cso
             ON cso.connected_system_id = $1 AND cso.object_type = $2 AND cso.anchor = a.anchor AND cso.status = 'NORMAL'
           LEFT JOIN LATERAL (
             SELECT e.op, e.attributes FROM inbox_entry e
              WHERE e.connected_system_id = $1 AND e.applied_at IS NULL AND e.object_type = $2 AND e.anchor = a.anchor
              ORDER BY e.id DESC LIMIT 1) w ON true`,
        [systemId, objectType, anchors],
      );
      const hashes = new Map<string, string>();
      for (const r of rows) {
        if (r.op === "upsert") hashes.set(r.anchor, contentHash(r.attributes ?? {}));
        else if (r.op === null && r.hash !== null) hashes.set(r.anchor, r.hash);
      }
      return hashes;
    },
    async *storedAnchors(objectType) {
      const { rows } = await pool.query<{ anchor: string; op: string; stored: boolean }>(
        `SELECT DISTINCT ON (e.anchor) e.anchor, e.op,
                EXISTS (SELECT 1 FROM connector_space_object c WHERE c.connected_system_id = $1 AND c.object_type = $2
                           AND c.anchor = e.anchor AND c.status = 'NORMAL') AS stored
           FROM inbox_entry e
          WHERE e.connected_system_id = $1 AND e.applied_at IS NULL AND e.object_type = $2
          ORDER BY e.anchor, e.id DESC`,
        [systemId, objectType],
      );
      const deleted = new Set(rows.filter((r) => r.op === "delete").map((r) => r.anchor));
      for await (const page of base.storedAnchors(objectType)) {
        const kept = deleted.size ? page.filter((a) => !deleted.has(a)) : page;
        if (kept.length) yield kept;
      }
      const added = rows.filter((r) => r.op === "upsert" && !r.stored).map((r) => r.anchor);
      if (added.length) yield added;
    },
  };
}
