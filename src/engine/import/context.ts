import type pg from "pg";
import type { ImportContext } from "../../connectors/connector.ts";
import type { ImportSchema } from "./validate.ts";

/** The engine's side of ImportContext: stored hashes and anchors of one connected system. */
export function createImportContext(pool: pg.Pool, systemId: string, pageSize = 5000): ImportContext {
  return {
    async storedHashes(objectType, anchors) {
      const { rows } = await pool.query<{ anchor: string; content_hash: string }>(
        `SELECT anchor, content_hash FROM connector_space_object
          WHERE connected_system_id = $1 AND object_type = $2 AND anchor = ANY($3::text[]) AND status = 'NORMAL'`,
        [systemId, objectType, anchors],
      );
      return new Map(rows.map((r) => [r.anchor, r.content_hash]));
    },
    async *storedAnchors(objectType) {
      let after = "";
      for (;;) {
        const { rows } = await pool.query<{ anchor: string }>(
          `SELECT anchor FROM connector_space_object
            WHERE connected_system_id = $1 AND object_type = $2 AND status = 'NORMAL' AND anchor > $3
            ORDER BY anchor LIMIT $4`,
          [systemId, objectType, after, pageSize],
        );
        if (rows.length === 0) return;
        yield rows.map((r) => r.anchor);
        after = rows[rows.length - 1]?.anchor ?? after;
      }
    },
    async attributesRead() {
      // Every name the system's rules mention: inbound ones read them, outbound ones write them
      // and compare with what was imported. A superset is safe: it only lets a connector import,
      // sealed, a secret attribute that no rule turns out to use.
      const { rows } = await pool.query<{ text: string | null }>(
        `SELECT string_agg(concat_ws(' ', scope, join_rules::text, attribute_flows::text), ' ') AS text
           FROM sync_rule WHERE connected_system_id = $1 AND enabled`,
        [systemId],
      );
      return new Set((rows[0]?.text ?? "").toLowerCase().match(/[a-z_][\w-]*/g) ?? []);
    },
  };
}

/** The discovered schema of a system, for record validation. */
export async function loadImportSchema(pool: pg.Pool, systemId: string): Promise<ImportSchema> {
  const { rows } = await pool.query<{
    object_type: string;
    name: string;
    type: string;
    multi_valued: boolean;
    required: boolean;
  }>(
    `SELECT t.name AS object_type, a.name, a.type::text AS type, a.multi_valued, a.required
       FROM object_type t JOIN attribute_definition a ON a.object_type_id = t.id
      WHERE t.connected_system_id = $1`,
    [systemId],
  );
  const schema: ImportSchema = new Map();
  for (const r of rows) {
    let attrs = schema.get(r.object_type);
    if (!attrs) schema.set(r.object_type, (attrs = new Map()));
    attrs.set(r.name, { type: r.type as never, multiValued: r.multi_valued, required: r.required });
  }
  return schema;
}
