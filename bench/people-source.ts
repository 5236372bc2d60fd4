// The generated HR people the export benches provision: a source connector yielding `size`
// people in pages of 2,000, and the attributes of person i (for a reference load of the same rows).
// After `change(fraction)`, a delta import yields only that share of the people, changed in
// equal parts: renamed (new surname), moved (new department, so a new DN) and leavers (deleted).
import type { Connector, ConnectorObject, ImportPage } from "../src/connectors/connector.ts";

export const DEPARTMENTS = 10;

export const person = (i: number) => ({
  id: `E${i}`,
  givenName: `Given${i}`,
  sn: `Surname${i}`,
  mail: `p${i}@example.org`,
  department: `D${i % DEPARTMENTS}`,
});

export interface PeopleSource extends Connector {
  /** Change every (1/fraction)th person from `offset` on; returns how many of each kind. */
  change(fraction: number, offset?: number): { renamed: number; moved: number; left: number };
}

export function peopleSource(size: number): PeopleSource {
  let changed: { objects: ConnectorObject[]; deletes: ImportPage["deletes"] } = { objects: [], deletes: [] };
  const object = (i: number, attributes = person(i)): ConnectorObject => ({ objectType: "person", anchor: `E${i}`, attributes });
  const source: PeopleSource = {
    capabilities: { fullImport: true, deltaImport: true, export: false, schemaDiscovery: false, rename: false },
    async testConnection() {
      return { message: "ok" };
    },
    async discoverSchema() {
      return { objectTypes: [] };
    },
    async *importFull(): AsyncIterable<ImportPage> {
      for (let s = 0; s < size; s += 2000) {
        const objects = Array.from({ length: Math.min(2000, size - s) }, (_, k) => object(s + k));
        yield { objects, deletes: [], errors: [], checkpoint: null };
      }
    },
    async *importDelta(): AsyncIterable<ImportPage> {
      yield { ...changed, errors: [], checkpoint: null, watermark: { changed: changed.objects.length } };
    },
    change(fraction, offset = 0) {
      const step = Math.round(1 / fraction);
      changed = { objects: [], deletes: [] };
      const counts = { renamed: 0, moved: 0, left: 0 };
      for (let i = offset, n = 0; i < size; i += step, n++) {
        const p = person(i);
        if (n % 3 === 0) {
          changed.objects.push(object(i, { ...p, sn: `Renamed${i}` }));
          counts.renamed++;
        } else if (n % 3 === 1) {
          changed.objects.push(object(i, { ...p, department: `D${(i + 1) % DEPARTMENTS}` }));
          counts.moved++;
        } else {
          changed.deletes.push({ objectType: "person", anchor: `E${i}` });
          counts.left++;
        }
      }
      return counts;
    },
    async export() {
      return [];
    },
    async close() {},
  };
  return source;
}
