import type pg from "pg";
import type { ConnectorObject, ImportPage } from "../../connectors/connector.ts";
import { contentHash } from "../hash.ts";
import { confirmExports } from "../outbound/confirm.ts";
import { diffAttributes, insertRunChanges, type RunChangeRow } from "../run-changes.ts";
import type { RunCounts } from "../run-context.ts";
import type { SeenObjects } from "./seen.ts";
import {
  insertObjects,
  loadAttributes,
  lookupObjects,
  type NewObject,
  objectKey,
  obsoleteByAnchors,
  queueForSync,
  type StoredObject,
  updateObjects,
} from "./store.ts";
import { type ImportSchema, validateObject } from "./validate.ts";

export interface PageScope {
  systemId: string;
  runId: string;
  /** Compute and record, write nothing to connector space. */
  dryRun: boolean;
  schema: ImportSchema;
  /** Exports of this system await confirmation by an import (see hasExportsAwaitingConfirmation). */
  confirming: boolean;
  /** Full imports: what the run has seen so far. */
  seen: SeenObjects | null;
}

const locate = (o: ConnectorObject) => o.dn ?? `${o.objectType}/${o.anchor}`;

export interface HashedObject {
  object: ConnectorObject;
  hash: string;
}

/** A page checked and hashed, ready to be written: no database needed to get here. */
export interface PreparedPage {
  page: ImportPage;
  /** Valid objects by objectKey, the first of duplicate anchors within the page, with their content hash. */
  valid: Map<string, HashedObject>;
  /** Located RECORD_ERRORs of the page. */
  changes: RunChangeRow[];
  failed: number;
  /**
   * The page's stored rows when read ahead, outside the batch transaction (readStoredAhead);
   * read again inside it when null.
   */
  stored: Map<string, StoredObject> | null;
}

/** objectKeys a page writes or reads: its valid objects and its deletes. */
export function pageKeys(prepared: PreparedPage): string[] {
  return [...prepared.valid.keys(), ...prepared.page.deletes.map((d) => objectKey(d.objectType, d.anchor))];
}

/**
 * Read a prepared page's stored rows ahead, on a connection of its own, while the previous page
 * is being written (an unchanged re-import is mostly this lookup). Only rows of the previous
 * page's keys can change before this page's batch runs (the import holds the system's connector
 * space): the caller drops the result when the two pages share a key.
 */
export async function readStoredAhead(
  q: Pick<pg.Pool, "query">,
  scope: Pick<PageScope, "systemId" | "runId">,
  prepared: PreparedPage,
) {
  prepared.stored = await lookupObjects(q, scope.systemId, scope.runId, prepared.valid);
  return prepared;
}

/**
 * Validate a page against the discovered schema, keep the first of duplicate anchors within it
 * and hash each object's content. Pure CPU: the import prepares the next page with it while
 * the database writes the current one.
 */
export function prepareImportPage(scope: Pick<PageScope, "systemId" | "schema">, page: ImportPage): PreparedPage {
  const changes: RunChangeRow[] = page.errors.map((e) => ({
    changeType: "RECORD_ERROR",
    anchor: e.anchor ?? null,
    location: e.location,
    errorCode: e.code,
    message: e.message,
    sourceSystemId: scope.systemId,
  }));
  let failed = page.errors.length;
  const valid = new Map<string, HashedObject>();
  for (const object of page.objects) {
    const error = validateObject(object, scope.schema, () => locate(object));
    const key = objectKey(object.objectType, object.anchor);
    const duplicate = !error && valid.has(key);
    if (error || duplicate) {
      failed++;
      changes.push({
        changeType: "RECORD_ERROR",
        anchor: object.anchor || null,
        location: error?.location ?? locate(object),
        errorCode: error?.code ?? "DUPLICATE_ANCHOR",
        message: error?.message ?? `anchor ${object.anchor} appears more than once`,
        sourceSystemId: scope.systemId,
      });
      continue;
    }
    valid.set(key, { object, hash: object.contentHash ?? contentHash(object.attributes) });
  }
  return { page, valid, changes, failed, stored: null };
}

/**
 * Write one prepared page of an import to connector space in bulk: new objects inserted,
 * changed ones updated, unchanged ones (same content hash and DN) skipped without touching
 * their rows; invalid records become located RECORD_ERROR changes. Every written object is
 * queued for delta sync. Runs inside the batch transaction.
 */
export async function applyImportPage(tx: pg.PoolClient, scope: PageScope, prepared: PreparedPage): Promise<Partial<RunCounts>> {
  const { page, valid } = prepared;
  const changes = [...prepared.changes];
  const counts = {
    fetched: page.objects.length + page.errors.length,
    created: 0,
    updated: 0,
    unchanged: 0,
    deleted: 0,
    failed: prepared.failed,
  };

  const stored = prepared.stored ?? (await lookupObjects(tx, scope.systemId, scope.runId, valid));
  // A full import that meets an anchor it already saw in an earlier page: a duplicate in the
  // source. Seen are the objects this run wrote, and the others recorded in import_seen_page.
  if (scope.seen) {
    const existingIds: string[] = [];
    for (const row of stored.values()) if (!row.writtenByRun) existingIds.push(row.id);
    const duplicates = await scope.seen.record(tx, existingIds);
    for (const [key, { object }] of valid) {
      const row = stored.get(key);
      if (row && (row.writtenByRun || duplicates.has(row.id))) {
        valid.delete(key);
        counts.failed++;
        changes.push({
          changeType: "RECORD_ERROR",
          anchor: object.anchor,
          location: locate(object),
          errorCode: "DUPLICATE_ANCHOR",
          message: `anchor ${object.anchor} appears more than once`,
          sourceSystemId: scope.systemId,
          csoId: row.id,
        });
      }
    }
  }

  const inserts: NewObject[] = [];
  const updates: { id: string; dn: string | null; attributes: ConnectorObject["attributes"]; hash: string; anchor: string }[] =
    [];
  for (const [key, { object, hash }] of valid) {
    const row = stored.get(key);
    if (!row)
      inserts.push({
        objectType: object.objectType,
        anchor: object.anchor,
        dn: object.dn ?? null,
        attributes: object.attributes,
        hash,
      });
    else if (row.contentHash !== hash || row.dn !== (object.dn ?? null) || row.obsolete)
      updates.push({
        id: row.id,
        dn: object.dn ?? null,
        attributes: object.attributes,
        hash,
        anchor: object.anchor,
      });
    else counts.unchanged++;
  }

  const before = await loadAttributes(
    tx,
    updates.map((u) => u.id),
  );
  for (const u of updates)
    changes.push({
      changeType: "CSO_UPDATED",
      csoId: u.id,
      anchor: u.anchor,
      attributeChanges: diffAttributes(before.get(u.id) ?? {}, u.attributes),
      sourceSystemId: scope.systemId,
    });
  counts.updated = updates.length;
  counts.created = inserts.length;

  const deletes = page.deletes.length && !scope.dryRun ? await obsoleteByAnchors(tx, scope.systemId, page.deletes) : [];
  for (const d of deletes)
    changes.push({ changeType: "CSO_DELETED", csoId: d.id, anchor: d.anchor, sourceSystemId: scope.systemId });
  counts.deleted = scope.dryRun ? page.deletes.length : deletes.length;

  if (scope.dryRun) {
    for (const o of inserts) changes.push({ changeType: "CSO_ADDED", anchor: o.anchor, sourceSystemId: scope.systemId });
    await insertRunChanges(tx, scope.runId, changes);
    return counts;
  }

  // Exports applied earlier are confirmed (or flagged) by what this page shows.
  if (scope.confirming) {
    const seen = new Map<string, { attributes: ConnectorObject["attributes"]; dn: string | null }>();
    for (const [key, { object }] of valid) {
      const row = stored.get(key);
      if (row) seen.set(row.id, { attributes: object.attributes, dn: object.dn ?? null });
    }
    changes.push(
      ...(await confirmExports(
        tx,
        seen,
        deletes.map((d) => d.id),
      )),
    );
  }

  const insertedIds = await insertObjects(tx, scope.systemId, scope.runId, inserts);
  for (const o of inserts)
    changes.push({
      changeType: "CSO_ADDED",
      csoId: insertedIds.get(objectKey(o.objectType, o.anchor)) ?? null,
      anchor: o.anchor,
      sourceSystemId: scope.systemId,
    });
  await updateObjects(tx, scope.runId, updates);
  const newIds = [...insertedIds.values()];
  await queueForSync(tx, scope.systemId, scope.runId, [...newIds, ...updates.map((u) => u.id), ...deletes.map((d) => d.id)]);
  await insertRunChanges(tx, scope.runId, changes);
  return counts;
}
