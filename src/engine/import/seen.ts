import type pg from "pg";
import { NumberSet } from "../../util/number-set.ts";

type Q = Pick<pg.PoolClient, "query">;

/**
 * What a full import has seen, for its final sweep and to flag an anchor met twice. Objects it
 * creates or updates carry the run's id (last_import_run_id); the unchanged ones, which are
 * not written, are recorded here: one import_seen_page row per batch holding their ids.
 *
 * A duplicate is an unchanged object already recorded by an earlier batch. Each recorded id is
 * kept in memory as a 53-bit fingerprint of its random bits (in a NumberSet: 8-16 bytes per
 * object, against ~110 for the id string); a fingerprint hit is confirmed against the stored
 * pages, so the answer is exact. A resumed run reloads the fingerprints from its pages.
 */
export class SeenObjects {
  private constructor(
    private readonly runId: string,
    private readonly fingerprints: NumberSet,
    private nextPage: number,
  ) {}

  static async load(q: Q, runId: string): Promise<SeenObjects> {
    const { rows } = await q.query<{ page: number; ids: string[] }>(
      "SELECT page, connector_space_object_ids AS ids FROM import_seen_page WHERE run_id = $1",
      [runId],
    );
    const fingerprints = new NumberSet();
    let nextPage = 0;
    for (const row of rows) {
      for (const id of row.ids ?? []) fingerprints.add(fingerprint(id));
      nextPage = Math.max(nextPage, row.page + 1);
    }
    return new SeenObjects(runId, fingerprints, nextPage);
  }

  /**
   * Record `ids` as seen in the batch transaction `tx`; returns those an earlier batch already
   * recorded (duplicates, not recorded again).
   */
  async record(tx: Q, ids: string[]): Promise<Set<string>> {
    const prints = ids.map(fingerprint);
    const suspects = ids.filter((_, i) => this.fingerprints.has(prints[i]!));
    const duplicates = new Set<string>();
    if (suspects.length) {
      const { rows } = await tx.query<{ id: string }>(
        `SELECT DISTINCT x AS id FROM import_seen_page s, unnest(s.connector_space_object_ids) AS x
          WHERE s.run_id = $1 AND x = ANY($2::uuid[])`,
        [this.runId, suspects],
      );
      for (const r of rows) duplicates.add(r.id);
    }
    const fresh = duplicates.size ? ids.filter((id) => !duplicates.has(id)) : ids;
    if (fresh.length) {
      // Ids are plain UUIDs: the array literal needs no quoting.
      await tx.query("INSERT INTO import_seen_page (run_id, page, connector_space_object_ids) VALUES ($1, $2, $3::uuid[])", [
        this.runId,
        this.nextPage++,
        `{${fresh.join(",")}}`,
      ]);
      // Added before the batch commits: after a rollback they only cost a confirming query.
      for (let i = 0; i < ids.length; i++) if (!duplicates.has(ids[i]!)) this.fingerprints.add(prints[i]!);
    }
    return duplicates;
  }
}

/**
 * 53 random bits of a UUID (the last 48 hex bits and 5 of the group before), exact as a JS
 * number. Version 4 and the engine's time-ordered ids are random there.
 */
function fingerprint(id: string): number {
  let high = 0;
  for (let i = 24; i < 36; i++) high = high * 16 + hexDigit(id.charCodeAt(i));
  return high * 32 + (hexDigit(id.charCodeAt(22)) | ((hexDigit(id.charCodeAt(21)) & 1) << 4));
}

// 0-9, a-f, A-F; read without a substring per id (this runs for every unchanged object).
const hexDigit = (c: number) => (c <= 57 ? c - 48 : (c | 32) - 87);

/**
 * Full-import sweep, one slice at a time: objects of the system the run neither wrote nor
 * recorded as seen become obsolete. The seen ids are joined as one hashed set (an anti-join),
 * not probed per object. Placeholders awaiting provisioning are not the source's to delete.
 */
export async function sweepUnseen(tx: Q, systemId: string, runId: string, limit: number) {
  // The pages are written by this run and never analysed before its sweep: left to the row
  // estimates, the planner chose a nested loop that re-read every page per object (306 s for
  // 100,000 objects, measured). A hash join reads them once.
  await tx.query("SET LOCAL enable_nestloop = off");
  const { rows } = await tx.query<{ id: string; anchor: string }>(
    `UPDATE connector_space_object c SET status = 'OBSOLETE', obsoleted_at = now(), updated_at = now()
      WHERE c.id IN (
        SELECT o.id FROM connector_space_object o
          LEFT JOIN (SELECT DISTINCT x AS id FROM import_seen_page s, unnest(s.connector_space_object_ids) AS x
                      WHERE s.run_id = $2) seen ON seen.id = o.id
         WHERE o.connected_system_id = $1 AND o.status = 'NORMAL' AND o.last_import_run_id IS DISTINCT FROM $2
           AND seen.id IS NULL
         LIMIT $3)
      RETURNING c.id, c.anchor`,
    [systemId, runId, limit],
  );
  return rows;
}

export async function clearSeen(q: Q, runId: string) {
  await q.query("DELETE FROM import_seen_page WHERE run_id = $1", [runId]);
}
