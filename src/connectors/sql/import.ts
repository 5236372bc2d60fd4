import type pg from "pg";
import type { ConnectorObject, ImportContext, ImportPage } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { SqlConfig } from "./config.ts";
import { connect } from "./connection.ts";
import { toConnectorError } from "./errors.ts";
import { qualifiedName, quoteIdent } from "./identifiers.ts";
import { loadTable, type TableInfo } from "./table.ts";
import { rowToAttributes } from "./values.ts";

/**
 * Position after a page. `after`: the last anchor read (keyset); delta also `afterMark`, the
 * last row's watermark value. `upTo`: the watermark's high end, fixed when the import started so
 * a resumed import reads the same range and the next delta starts exactly there.
 */
export interface SqlCheckpoint {
  after: string | null;
  afterMark?: string | null;
  upTo: string | null;
  phase?: "rows" | "deletes";
}

const MARK = "metasync$watermark";
const KEY = "metasync$anchor";

/** Borrows one connection for the whole import: a lost server fails the import, not a silent reconnect mid-way. */
export async function* importFull(pool: pg.Pool, config: SqlConfig, checkpoint: unknown): AsyncGenerator<ImportPage> {
  const client = await connect(pool);
  let broken = false;
  try {
    const table = await loadTable(client, config);
    const t = qualifiedName(config.schema, config.table);
    const a = quoteIdent(table.anchor.name);
    const resume = checkpoint as SqlCheckpoint | null;
    const upTo = resume ? resume.upTo : await highWatermark(client, t, table);
    const total = await estimateRows(client, config, t);
    let after = resume?.after ?? null;
    for (;;) {
      const select = `SELECT *, ${a}::text AS "${KEY}" FROM ${t}`;
      const { rows } =
        after === null
          ? await client.query(`${select} WHERE ${a} IS NOT NULL ORDER BY ${a} LIMIT $1`, [config.pageSize])
          : await client.query(`${select} WHERE ${a} > $1 ORDER BY ${a} LIMIT $2`, [after, config.pageSize]);
      after = rows.length > 0 ? String(rows.at(-1)[KEY]) : after;
      const page: ImportPage = {
        objects: rows.map((r) => toObject(r, config, table)),
        deletes: [],
        errors: [],
        checkpoint: { after, upTo },
        total,
      };
      if (rows.length < config.pageSize) {
        yield { ...page, watermark: upTo };
        return;
      }
      yield page;
    }
  } catch (error) {
    broken = true;
    throw toConnectorError(error, `full import of ${config.schema}.${config.table}`);
  } finally {
    client.release(broken);
  }
}

/**
 * Rows whose watermark column moved past the last import's (up to the high end read at start),
 * in (watermark, anchor) keyset order; then, when enabled, stored anchors no longer in the table.
 */
export async function* importDelta(
  pool: pg.Pool,
  config: SqlConfig,
  watermark: unknown,
  checkpoint: unknown,
  context: ImportContext,
): AsyncGenerator<ImportPage> {
  if (!config.watermarkColumn) {
    throw new ConnectorError("UNSUPPORTED", "delta import needs a watermarkColumn in the config", false);
  }
  const client = await connect(pool);
  let broken = false;
  try {
    const table = await loadTable(client, config);
    const t = qualifiedName(config.schema, config.table);
    const a = quoteIdent(table.anchor.name);
    const w = quoteIdent(config.watermarkColumn);
    const since = typeof watermark === "string" ? watermark : null;
    const resume = checkpoint as SqlCheckpoint | null;
    const upTo = resume ? resume.upTo : await highWatermark(client, t, table);
    let after = resume?.after ?? null;
    let afterMark = resume?.afterMark ?? null;
    let phase = resume?.phase ?? "rows";
    while (phase === "rows" && upTo !== null) {
      const params: unknown[] = [upTo, config.pageSize];
      const where = [`${w} <= $1`, `${a} IS NOT NULL`];
      if (since !== null) where.push(`${w} > $${params.push(since)}`);
      if (after !== null) where.push(`(${w}, ${a}) > ($${params.push(afterMark)}, $${params.push(after)})`);
      const { rows } = await client.query(
        `SELECT *, ${a}::text AS "${KEY}", ${w}::text AS "${MARK}" FROM ${t} WHERE ${where.join(" AND ")} ORDER BY ${w}, ${a} LIMIT $2`,
        params,
      );
      const last = rows.at(-1);
      if (last) [after, afterMark] = [String(last[KEY]), String(last[MARK])];
      if (rows.length < config.pageSize) phase = "deletes";
      yield {
        objects: rows.map((r) => toObject(r, config, table)),
        deletes: [],
        errors: [],
        checkpoint: { after, afterMark, upTo, phase },
      };
    }
    if (config.deltaDeletes) {
      // Re-run whole on resume: what the engine already deleted is no longer among its anchors.
      for await (const anchors of context.storedAnchors(config.objectType)) {
        const { rows } = await client.query<{ anchor: string }>(`SELECT ${a}::text AS anchor FROM ${t} WHERE ${a} = ANY($1)`, [
          anchors,
        ]);
        const present = new Set(rows.map((r) => r.anchor));
        const deletes = anchors.filter((x) => !present.has(x)).map((anchor) => ({ objectType: config.objectType, anchor }));
        if (deletes.length > 0)
          yield { objects: [], deletes, errors: [], checkpoint: { after, afterMark, upTo, phase: "deletes" } };
      }
    }
    yield {
      objects: [],
      deletes: [],
      errors: [],
      checkpoint: { after, afterMark, upTo, phase: "deletes" },
      watermark: upTo ?? since,
    };
  } catch (error) {
    broken = true;
    throw toConnectorError(error, `delta import of ${config.schema}.${config.table}`);
  } finally {
    client.release(broken);
  }
}

function toObject(row: Record<string, unknown>, config: SqlConfig, table: TableInfo): ConnectorObject {
  return { objectType: config.objectType, anchor: String(row[KEY]), attributes: rowToAttributes(row, table) };
}

/** The watermark column's maximum as text (full precision: microseconds, big integers). */
async function highWatermark(client: pg.ClientBase, t: string, table: TableInfo): Promise<string | null> {
  if (!table.watermark) return null;
  const w = quoteIdent(table.watermark.name);
  const { rows } = await client.query<{ max: string | null }>(`SELECT max(${w})::text AS max FROM ${t}`);
  return rows[0]?.max ?? null;
}

/**
 * The planner's row estimate once the table was analysed, an exact count before that; none for
 * a view (counting would run the whole view once more just for a progress bar).
 */
async function estimateRows(client: pg.ClientBase, config: SqlConfig, t: string): Promise<number | undefined> {
  const { rows } = await client.query<{ n: number; kind: string }>(
    `SELECT reltuples::float8 AS n, relkind::text AS kind FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
      WHERE s.nspname = $1 AND c.relname = $2`,
    [config.schema, config.table],
  );
  const relation = rows[0];
  if (!relation || !["r", "p", "m"].includes(relation.kind)) return undefined;
  if (relation.n > 0) return Math.round(relation.n);
  const exact = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`);
  return Number(exact.rows[0]?.n ?? 0);
}
