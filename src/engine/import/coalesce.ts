import type { ImportPage } from "../../connectors/connector.ts";

/**
 * Merge consecutive connector pages into batches of at least `size` records. Each batch costs a
 * transaction, the run's bookkeeping and a round trip per statement whatever its size, and
 * connectors page by what suits their source (LDAP: the server's page size; CSV: its pageSize).
 * Measured: an unchanged re-import of 100,000 objects took 1.08-1.26 s in 2,000-object batches
 * and 0.98-1.01 s in 5,000-object ones. A merged batch carries its last page's checkpoint, so
 * a resumed import continues after it. A page with deletes is merged only with other pages of
 * deletes alone: a batch applies its deletes before its adds, so a delete must not join the adds
 * of earlier pages, nor an add the deletes before it (its stored row is read before they apply).
 * A CSV delta finds its deletes in slices of the stored anchors (100,000 rows: 20 pages of ~17):
 * one batch each took 1.6 s of a 6.2 s delta import.
 */
export async function* coalescePages(pages: AsyncIterable<ImportPage>, size: number): AsyncGenerator<ImportPage> {
  let pending: ImportPage | null = null;
  for await (const page of pages) {
    if (pending && !mergeable(pending, page)) {
      yield pending;
      pending = null;
    }
    pending = pending ? merge(pending, page) : page;
    if (pending.objects.length + pending.errors.length + pending.deletes.length >= size) {
      yield pending;
      pending = null;
    }
  }
  if (pending) yield pending;
}

const deletesOnly = (p: ImportPage) => p.objects.length === 0 && p.errors.length === 0;

function mergeable(pending: ImportPage, page: ImportPage): boolean {
  if (pending.deletes.length === 0 && page.deletes.length === 0) return true;
  return deletesOnly(pending) && deletesOnly(page);
}

function merge(a: ImportPage, b: ImportPage): ImportPage {
  return {
    objects: a.objects.concat(b.objects),
    deletes: a.deletes.concat(b.deletes),
    errors: a.errors.concat(b.errors),
    checkpoint: b.checkpoint,
    watermark: b.watermark !== undefined ? b.watermark : a.watermark,
    total: b.total ?? a.total,
    ...(a.sourceIds || b.sourceIds ? { sourceIds: [...(a.sourceIds ?? []), ...(b.sourceIds ?? [])] } : {}),
  };
}
