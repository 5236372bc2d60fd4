import type { ImportPage } from "../../connectors/connector.ts";

/**
 * Merge consecutive connector pages into batches of at least `size` records. Each batch costs a
 * transaction, the run's bookkeeping and a round trip per statement whatever its size, and
 * connectors page by what suits their source (LDAP: the server's page size; CSV: its pageSize).
 * Measured: an unchanged re-import of 100,000 objects took 1.08-1.26 s in 2,000-object batches
 * and 0.98-1.01 s in 5,000-object ones. A merged batch carries its last page's checkpoint, so
 * a resumed import continues after it. Pages with deletes are not merged: a delete must stay
 * ordered after the adds of earlier pages.
 */
export async function* coalescePages(pages: AsyncIterable<ImportPage>, size: number): AsyncGenerator<ImportPage> {
  let pending: ImportPage | null = null;
  for await (const page of pages) {
    if (pending && (page.deletes.length > 0 || pending.deletes.length > 0)) {
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
