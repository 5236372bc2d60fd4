import type pg from "pg";
import { NumberSet } from "../../util/number-set.ts";
import { insertSeenPage, loadSeenPages, seenAmong } from "./store.ts";

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
    const rows = await loadSeenPages(q, runId);
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
    if (suspects.length) for (const id of await seenAmong(tx, this.runId, suspects)) duplicates.add(id);
    const fresh = duplicates.size ? ids.filter((id) => !duplicates.has(id)) : ids;
    if (fresh.length) {
      await insertSeenPage(tx, this.runId, this.nextPage++, fresh);
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
