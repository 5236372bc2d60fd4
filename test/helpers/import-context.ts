import type { ConnectorObject, ImportContext, ImportPage } from "../../src/connectors/connector.ts";
import { contentHash } from "../../src/connectors/content-hash.ts";

/**
 * The engine's side of the import contract, in memory: what the last import stored (anchor ->
 * content hash per object type). Tests feed it with pages exactly as the engine would.
 */
export class MemoryImportContext implements ImportContext {
  readonly stored = new Map<string, Map<string, string>>();
  constructor(private readonly anchorPageSize = 3) {}

  /** A full import replaces what was stored; a delta applies its changes and deletes. */
  apply(pages: ImportPage[], mode: "full" | "delta"): void {
    if (mode === "full") this.stored.clear();
    for (const page of pages) {
      for (const o of page.objects) this.store(o);
      for (const d of page.deletes) this.stored.get(d.objectType)?.delete(d.anchor);
    }
  }

  store(o: ConnectorObject): void {
    const byType = this.stored.get(o.objectType) ?? new Map<string, string>();
    byType.set(o.anchor, contentHash(o.attributes));
    this.stored.set(o.objectType, byType);
  }

  async storedHashes(objectType: string, anchors: string[]): Promise<Map<string, string>> {
    const byType = this.stored.get(objectType) ?? new Map<string, string>();
    return new Map(anchors.filter((a) => byType.has(a)).map((a) => [a, byType.get(a)!]));
  }

  async *storedAnchors(objectType: string): AsyncIterable<string[]> {
    const anchors = [...(this.stored.get(objectType)?.keys() ?? [])].sort();
    for (let i = 0; i < anchors.length; i += this.anchorPageSize) yield anchors.slice(i, i + this.anchorPageSize);
  }
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
