// The generated HR people the export benches provision: a source connector yielding `size`
// people in pages of 2,000, and the attributes of person i (for a reference load of the same rows).
import type { Connector, ImportPage } from "../src/connectors/connector.ts";

export const person = (i: number) => ({ id: `E${i}`, givenName: `Given${i}`, sn: `Surname${i}`, mail: `p${i}@example.org` });

export function peopleSource(size: number): Connector {
  const source: Connector = {
    capabilities: { fullImport: true, deltaImport: false, export: false, schemaDiscovery: false, rename: false },
    async testConnection() {
      return { message: "ok" };
    },
    async discoverSchema() {
      return { objectTypes: [] };
    },
    async *importFull(): AsyncIterable<ImportPage> {
      for (let s = 0; s < size; s += 2000) {
        const objects = Array.from({ length: Math.min(2000, size - s) }, (_, k) => ({
          objectType: "person",
          anchor: `E${s + k}`,
          attributes: person(s + k),
        }));
        yield { objects, deletes: [], errors: [], checkpoint: null };
      }
    },
    importDelta(_watermark, _checkpoint, context) {
      return source.importFull(null, context);
    },
    async export() {
      return [];
    },
    async close() {},
  };
  return source;
}
