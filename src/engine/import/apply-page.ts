import type pg from "pg";
import type { ConnectorObject, ImportPage, RecordError } from "../../connectors/connector.ts";
import { contentHash } from "../../connectors/content-hash.ts";
import { insertImported, type NewObject, objectKey, obsoleteByAnchors, updateImported } from "../connector-space/store.ts";
import { confirmExports } from "../outbound/confirm.ts";
import { diffAttributes, insertRunChanges, type RunChangeRow } from "../run-changes.ts";
import type { RunCounts } from "../run-context.ts";
import type { FirstImportKeys } from "./first-import.ts";
import type { SeenObjects } from "./seen.ts";
import { loadAttributes, lookupObjects, queueForSync, type StoredObject } from "./store.ts";
import { anchorError, type ImportSchema, validateObject } from "./validate.ts";

export interface PageScope {
  systemId: string;
  runId: string;
  /** Compute and record, write nothing to connector space. */
  dryRun: boolean;
  schema: ImportSchema;
  /**
   * Every stored object of the system was validated against this same schema
   * (schema-trust.ts): an object found unchanged needs no second check.
   */
  trustUnchanged: boolean;
  /** Exports of this system await confirmation by an import (see hasExportsAwaitingConfirmation). */
  confirming: boolean;
  /** Full imports: what the run has seen so far. */
  seen: SeenObjects | null;
  /** A full import started on an empty connector space: pages of keys not met before need no lookup. */
  firstImport: FirstImportKeys | null;
}

const locate = (o: ConnectorObject) => o.dn ?? `${o.objectType}/${o.anchor}`;

export interface HashedObject {
  object: ConnectorObject;
  hash: string;
  /** Its place in the page: record errors are listed in page order. */
  position: number;
  /**
   * Validated against the schema already. Otherwise it is once its stored row is known, unless
   * that row shows it unchanged under a trusted schema: its attributes are then never read.
   */
  checked: boolean;
}

/** A RECORD_ERROR of a page, at the place in the page of its object (connector errors first). */
interface Rejected {
  position: number;
  change: RunChangeRow;
}

/** A page checked and hashed, ready to be written: no database needed to get here. */
export interface PreparedPage {
  page: ImportPage;
  /**
   * Objects by objectKey, with their content hash: the first of duplicate anchors within the
   * page; those not yet `checked` are validated in applyImportPage.
   */
  valid: Map<string, HashedObject>;
  rejected: Rejected[];
  /**
   * The page's stored rows when read ahead, outside the batch transaction (readStoredAhead);
   * read again inside it when null.
   */
  stored: Map<string, StoredObject> | null;
}

/** objectKeys a page writes or reads: its objects and its deletes. */
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
  scope: Pick<PageScope, "systemId" | "runId" | "firstImport">,
  prepared: PreparedPage,
) {
  prepared.stored = scope.firstImport?.allNew(prepared.valid.keys())
    ? new Map()
    : await lookupObjects(q, scope.systemId, scope.runId, prepared.valid);
  return prepared;
}

/**
 * Check each object's anchor, keep the first valid one of duplicate anchors within the page
 * and hash each object's content; validation against the schema waits for the stored rows
 * (applyImportPage). Pure CPU: the import prepares the next page with it while the database
 * writes the current one.
 */
export function prepareImportPage(scope: Pick<PageScope, "systemId" | "schema">, page: ImportPage): PreparedPage {
  const rejected = page.errors.map<Rejected>((e) => ({
    position: -1,
    change: {
      changeType: "RECORD_ERROR",
      anchor: e.anchor ?? null,
      location: e.location,
      errorCode: e.code,
      message: e.message,
      sourceSystemId: scope.systemId,
    },
  }));
  const valid = new Map<string, HashedObject>();
  const reject = (entry: Pick<HashedObject, "object" | "position">, error: Rejection) => {
    rejected.push(rejection(scope, entry, error));
  };
  for (let position = 0; position < page.objects.length; position++) {
    const object = page.objects[position]!;
    const missing = anchorError(object, () => locate(object));
    if (missing) {
      reject({ object, position }, missing);
      continue;
    }
    const key = objectKey(object.objectType, object.anchor);
    const entry = { object, hash: object.contentHash ?? contentHash(object.attributes), position, checked: false };
    const first = valid.get(key);
    if (!first) {
      valid.set(key, entry);
      continue;
    }
    // A duplicate anchor within the page (rare): validate both now, so that the first valid
    // one stands, as when every object was validated in order.
    const firstError = check(first, scope.schema);
    if (firstError) {
      valid.delete(key);
      reject(first, firstError);
    }
    const error = check(entry, scope.schema);
    if (error) reject(entry, error);
    else if (firstError) valid.set(key, entry);
    else reject(entry, duplicateError(object));
  }
  return { page, valid, rejected, stored: null };
}

/**
 * Validate the page's objects not checked yet, except those stored unchanged while the schema
 * is trusted (schema-trust.ts); invalid ones leave `valid`. Returns the page's record errors
 * in page order.
 */
function validateChanged(scope: PageScope, prepared: PreparedPage, stored: Map<string, StoredObject>): RunChangeRow[] {
  const rejected = [...prepared.rejected];
  for (const [key, entry] of prepared.valid) {
    if (entry.checked) continue;
    const row = stored.get(key);
    const unchanged = row?.status === "NORMAL" && row.contentHash === entry.hash && row.dn === (entry.object.dn ?? null);
    if (unchanged && scope.trustUnchanged) continue;
    const error = check(entry, scope.schema);
    if (error) {
      prepared.valid.delete(key);
      rejected.push(rejection(scope, entry, error));
    }
  }
  return rejected.sort((a, b) => a.position - b.position).map((r) => r.change);
}

function check(entry: HashedObject, schema: ImportSchema): RecordError | null {
  if (entry.checked) return null;
  entry.checked = true;
  return validateObject(entry.object, schema, () => locate(entry.object));
}

/** Why an object of a page is not imported. */
type Rejection = Pick<RecordError, "location" | "message"> & { code: string };

function duplicateError(object: ConnectorObject): Rejection {
  return { location: locate(object), code: "DUPLICATE_ANCHOR", message: `anchor ${object.anchor} appears more than once` };
}

function rejection(
  scope: Pick<PageScope, "systemId">,
  { object, position }: Pick<HashedObject, "object" | "position">,
  error: Rejection,
): Rejected {
  const change = {
    changeType: "RECORD_ERROR",
    anchor: object.anchor || null,
    location: error.location,
    errorCode: error.code,
    message: error.message,
    sourceSystemId: scope.systemId,
  };
  return { position, change };
}

/**
 * Write one prepared page of an import to connector space in bulk: new objects inserted,
 * changed ones updated, unchanged ones (same content hash and DN) skipped without touching
 * their rows; invalid records become located RECORD_ERROR changes. Every written object is
 * queued for delta sync. Runs inside the batch transaction. Long because it is the page's one
 * pass (classify, validate, write, queue), kept together so no row is read twice.
 */
export async function applyImportPage(tx: pg.PoolClient, scope: PageScope, prepared: PreparedPage): Promise<Partial<RunCounts>> {
  const { page, valid } = prepared;
  const stored = prepared.stored ?? (await lookupObjects(tx, scope.systemId, scope.runId, valid));
  const changes = validateChanged(scope, prepared, stored);
  const counts = {
    fetched: page.objects.length + page.errors.length,
    created: 0,
    updated: 0,
    unchanged: 0,
    deleted: 0,
    failed: changes.length,
  };
  // A full import that meets an anchor it already saw in an earlier page: a duplicate in the
  // source. Seen are the objects this run wrote, and the others recorded in import_seen_page.
  if (scope.seen) {
    const existingIds: string[] = [];
    for (const row of stored.values()) if (!row.writtenByRun) existingIds.push(row.id);
    const duplicates = await scope.seen.record(tx, existingIds);
    for (const [key, entry] of valid) {
      const row = stored.get(key);
      if (row && (row.writtenByRun || duplicates.has(row.id))) {
        valid.delete(key);
        counts.failed++;
        changes.push({ ...rejection(scope, entry, duplicateError(entry.object)).change, csoId: row.id });
      }
    }
  }

  const inserts: NewObject[] = [];
  const updates: {
    id: string;
    dn: string | null;
    attributes: ConnectorObject["attributes"];
    attributesJson?: string;
    hash: string;
    anchor: string;
  }[] = [];
  for (const [key, { object, hash }] of valid) {
    const row = stored.get(key);
    if (!row)
      inserts.push({
        objectType: object.objectType,
        anchor: object.anchor,
        dn: object.dn ?? null,
        attributes: object.attributes,
        attributesJson: object.attributesJson,
        hash,
      });
    else if (row.contentHash !== hash || row.dn !== (object.dn ?? null) || row.status === "OBSOLETE")
      updates.push({
        id: row.id,
        dn: object.dn ?? null,
        attributes: object.attributes,
        attributesJson: object.attributesJson,
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

  const insertedIds = await insertImported(tx, scope.systemId, scope.runId, inserts);
  for (const o of inserts)
    changes.push({
      changeType: "CSO_ADDED",
      csoId: insertedIds.get(objectKey(o.objectType, o.anchor)) ?? null,
      anchor: o.anchor,
      sourceSystemId: scope.systemId,
    });
  await updateImported(tx, scope.runId, updates);
  const newIds = [...insertedIds.values()];
  await queueForSync(tx, scope.systemId, scope.runId, [...newIds, ...updates.map((u) => u.id), ...deletes.map((d) => d.id)]);
  await insertRunChanges(tx, scope.runId, changes);
  return counts;
}
