import { expect } from "vitest";
import type { ConnectorObject } from "../../src/connectors/connector.ts";
import type { Services } from "../../src/services.ts";
import type { ArrayConnector } from "../fixtures/array-connector.ts";
import { runEngine } from "./engine-run.ts";

/** An HR person numbered `i` (anchor and employeeId E0001...), with attributes to override. */
export const person = (i: number, extra: Record<string, string> = {}): ConnectorObject => ({
  objectType: "person",
  anchor: `E${String(i).padStart(4, "0")}`,
  attributes: {
    employeeId: `E${String(i).padStart(4, "0")}`,
    givenName: `Given${i}`,
    sn: `Sur${i}`,
    age: String(20 + (i % 40)),
    ...extra,
  },
});

/**
 * Import runs of engine tests, against the services `current()` gives at call time (created in
 * the file's beforeAll). Full imports go one batch per connector page unless told otherwise, so
 * that batch boundaries, crashes between batches and cross-batch duplicates are exact.
 */
export function importHarness(current: () => Services) {
  /** A CSV source system keyed by employeeId; its id. */
  const system = async (name: string) =>
    (await current().systems.create({ name, kind: "CSV", config: { path: `/tmp/${name}.csv`, anchor: "employeeId" } })).id;

  const csoRows = (systemId: string) =>
    current()
      .db.pool.query(
        "SELECT anchor, status, attributes, xmin::text AS xmin FROM connector_space_object WHERE connected_system_id = $1 ORDER BY anchor",
        [systemId],
      )
      .then((r) => r.rows);

  /** A full import whose worker dies after `batches` committed batches: the run it leaves behind. */
  const crashedImport = async (systemId: string, connector: ArrayConnector, batches: number, importBatchSize = 1) => {
    const services = current();
    await expect(
      runEngine(services, { importBatchSize, systemId, profile: "FULL_IMPORT", connector, crashAfterBatches: batches }),
    ).rejects.toThrow("simulated crash");
    return services.db.prisma.run.findFirstOrThrow({ where: { connectedSystemId: systemId }, orderBy: { createdAt: "desc" } });
  };

  /** Resume (runId) or start a full import, one batch per connector page unless told otherwise. */
  const fullImport = (systemId: string, connector: ArrayConnector, options: { runId?: string; importBatchSize?: number } = {}) =>
    runEngine(current(), { importBatchSize: 1, systemId, profile: "FULL_IMPORT", connector, ...options });

  return { system, csoRows, crashedImport, fullImport };
}
