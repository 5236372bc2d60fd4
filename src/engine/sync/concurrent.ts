import { createHash } from "node:crypto";
import type pg from "pg";
import type { SyncScope } from "./scope.ts";
import { findKeyHolders, lookupKey } from "./store.ts";

type Lookup = { type: string; attribute: string; value: string };

/**
 * Partitions of one FULL_SYNC run on several workers at once (scope.concurrent). A sequential
 * sync sees every earlier batch's identities; two partitions in flight do not see each other's
 * uncommitted ones, so two source objects with the same join key could each project an identity,
 * or both join one. Before a partition looks up keys it claims them for the run: a claim another
 * open partition holds waits until that one commits (a unique insert waits for the uncommitted
 * row), and the lookup then sees its identity. The identities found are then row locked and read
 * again, so "already joined by this system" is current, and recomputing an identity two
 * partitions touch happens one after the other. Deadlocks between partitions (PostgreSQL picks
 * one) roll that batch back whole; the machinery runs it again.
 */
export async function findHolders(tx: pg.PoolClient, scope: SyncScope, lookups: Lookup[]) {
  if (!scope.concurrent || !lookups.length) return findKeyHolders(tx, scope.systemId, lookups);
  await claimKeys(tx, scope.runId, lookups);
  const first = await findKeyHolders(tx, scope.systemId, lookups);
  const ids = [...first.values()].flatMap((holders) => holders.map((h) => h.mvoId));
  if (!ids.length) return first;
  await lockIdentities(tx, scope, ids);
  return findKeyHolders(tx, scope.systemId, lookups);
}

async function claimKeys(tx: pg.PoolClient, runId: string, lookups: Lookup[]) {
  // A digest as the key: values can be long, and the lookup key's separators are NUL characters.
  const keys = [...new Set(lookups.map((l) => digest(lookupKey(l.type, l.attribute, l.value))))].sort();
  // Sorted, so two partitions claiming overlapping keys queue rather than deadlock (mostly).
  await tx.query(
    "INSERT INTO sync_key_claim (run_id, key) SELECT $1, k FROM unnest($2::uuid[]) AS k ORDER BY k ON CONFLICT DO NOTHING",
    [runId, keys],
  );
}

const digest = (key: string) =>
  createHash("md5")
    .update(key)
    .digest("hex")
    .replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-");

/** Row lock the identities a batch will recompute (no-op outside a partitioned run). */
export async function lockIdentities(tx: pg.PoolClient, scope: SyncScope, ids: Iterable<string>) {
  if (!scope.concurrent) return;
  const unique = [...new Set(ids)];
  if (!unique.length) return;
  await tx.query("SELECT 1 FROM metaverse_object WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE", [unique]);
}

/** The run's claims are only needed while its partitions run. */
export async function dropKeyClaims(tx: pg.PoolClient, runId: string) {
  await tx.query("DELETE FROM sync_key_claim WHERE run_id = $1", [runId]);
}
