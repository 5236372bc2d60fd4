import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSyncExecutor } from "../../../src/engine/sync/run-sync.ts";
import type { Services } from "../../../src/services.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { csvTarget, person, sourceSystem } from "../../helpers/sync-fixtures.ts";

// A full sync works in batches: a report synced in an earlier batch than their manager was
// planned before the manager's identity existed, and its manager reference was dropped for good
// (48 of 110 managers missing from a real slapd after a 120-person sync in batches of 30).
let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

describe("references to identities projected later in the same sync", () => {
  it("are planned once the run's last batch is in, whatever batch the referrer was in", async () => {
    // Reports first, managers last: with batches of 2, every report is planned before its manager exists.
    const reports = Array.from({ length: 6 }, (_, i) => person(`R${i}`, { sn: `Report${i}`, manager: `M${i % 2}` }));
    const managers = [person("M0", { sn: "Boss0" }), person("M1", { sn: "Boss1" })];
    const hr = await sourceSystem(services, "hr", [...reports, ...managers], {
      projectToMetaverse: true,
      joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
      attributeFlows: [
        { target: "employeeId", source: "id" },
        { target: "sn", source: "sn" },
        { target: "manager", source: "manager" },
      ],
    });
    const dir = await csvTarget(services, [
      { target: "uid", source: "employeeId" },
      { target: "sn", source: "sn" },
      { target: "manager", source: "manager", reference: true },
    ]);
    await hr.run("FULL_IMPORT");
    const sync = await runEngine(services, {
      systemId: hr.id,
      profile: "FULL_SYNC",
      executor: createSyncExecutor("full", { batchSize: 2 }),
    });
    expect(sync).toMatchObject({ status: "COMPLETED", exportsQueued: 8, failed: 0 });

    const { rows } = await services.db.pool.query(
      `SELECT m.attributes->>'employeeId' AS who, mgr.attributes->>'employeeId' AS manager
         FROM pending_export p JOIN metaverse_object m ON m.id = p.metaverse_object_id
         LEFT JOIN LATERAL jsonb_array_elements(p.attribute_changes) c ON c->>'attribute' = 'manager'
         LEFT JOIN metaverse_object mgr ON mgr.id::text = c->'values'->>0
        WHERE p.connected_system_id = $1 AND p.change_type = 'CREATE' ORDER BY 1`,
      [dir.id],
    );
    expect(rows).toEqual([
      { who: "M0", manager: null },
      { who: "M1", manager: null },
      ...reports.map((r, i) => ({ who: r.anchor, manager: `M${i % 2}` })),
    ]);
  });
});
