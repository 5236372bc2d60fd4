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

/** HR people projected by employeeId, with their manager's employeeId. */
const HR_RULE = {
  projectToMetaverse: true,
  joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
  attributeFlows: [
    { target: "employeeId", source: "id" },
    { target: "sn", source: "sn" },
    { target: "manager", source: "manager" },
  ],
};
/** The directory's accounts, whose manager is a reference to the manager's account. */
const DIR_FLOWS = [
  { target: "uid", source: "employeeId" },
  { target: "sn", source: "sn" },
  { target: "manager", source: "manager", reference: true },
];

describe("references to identities projected later in the same sync", () => {
  it("are planned once the run's last batch is in, whatever batch the referrer was in", async () => {
    // Reports first, managers last: with batches of 2, every report is planned before its manager exists.
    const reports = Array.from({ length: 6 }, (_, i) => person(`R${i}`, { sn: `Report${i}`, manager: `M${i % 2}` }));
    const managers = [person("M0", { sn: "Boss0" }), person("M1", { sn: "Boss1" })];
    const hr = await sourceSystem(services, "hr", [...reports, ...managers], HR_RULE);
    const dir = await csvTarget(services, DIR_FLOWS);
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

describe("a delta sync's late references", () => {
  it("plan again only the identities whose reference matched no one: a renamed report is planned once, a new report before their new manager gets the manager", async () => {
    const own = await createTestServices();
    try {
      const hr = await sourceSystem(
        own,
        "hr",
        [person("M0", { sn: "Boss0" }), person("R0", { sn: "Report0", manager: "M0" })],
        HR_RULE,
      );
      const dir = await csvTarget(own, DIR_FLOWS);
      await hr.importAndSync();
      // As an export run and its confirming import would leave the target: both people there,
      // R0 with M0 as manager.
      await own.db.pool.query("UPDATE pending_export SET status = 'CONFIRMED' WHERE connected_system_id = $1", [dir.id]);
      await own.db.pool.query(
        `UPDATE connector_space_object c SET status = 'NORMAL', anchor = m.attributes->>'employeeId', attributes = jsonb_strip_nulls(jsonb_build_object(
           'uid', m.attributes->>'employeeId', 'sn', m.attributes->>'sn', 'manager', m.attributes->>'manager'))
           FROM metaverse_object m WHERE m.id = c.metaverse_object_id AND c.connected_system_id = $1`,
        [dir.id],
      );
      // R0 renamed; R1 arrives in the batch before their new manager M1.
      // One delta import each, so that each is its own sync batch, in this order.
      for (const changed of [
        person("R0", { sn: "Renamed0", manager: "M0" }),
        person("R1", { sn: "Report1", manager: "M1" }),
        person("M1", { sn: "Boss1" }),
      ]) {
        hr.connector.setDelta({ objects: [changed], deletes: [] });
        await hr.run("DELTA_IMPORT");
      }
      const delta = await runEngine(own, {
        systemId: hr.id,
        profile: "DELTA_SYNC",
        executor: createSyncExecutor("delta", { batchSize: 1 }),
      });
      expect(delta).toMatchObject({ status: "COMPLETED", failed: 0 });

      // R0's rename is one UPDATE without the manager (unchanged), planned once: not superseded by
      // an identical plan at the end of the run.
      const { rows } = await own.db.pool.query(
        `SELECT m.attributes->>'employeeId' AS who, c.change_type AS change FROM run_change c
           JOIN metaverse_object m ON m.id = c.metaverse_object_id
          WHERE c.run_id = $1 AND c.change_type LIKE 'EXPORT%' ORDER BY 1, 2`,
        [delta.id],
      );
      expect(rows).toEqual([
        { who: "M1", change: "EXPORT_PLANNED" },
        { who: "R0", change: "EXPORT_PLANNED" },
        { who: "R1", change: "EXPORT_PLANNED" },
        // R1 was planned before M1 existed: planned again at the end, now with the manager.
        { who: "R1", change: "EXPORT_SUPERSEDED" },
      ]);
      const manager = await own.db.pool.query(
        `SELECT mgr.attributes->>'employeeId' AS manager FROM pending_export p
           JOIN metaverse_object m ON m.id = p.metaverse_object_id AND m.attributes->>'employeeId' = 'R1'
           CROSS JOIN LATERAL jsonb_array_elements(p.attribute_changes) c
           JOIN metaverse_object mgr ON mgr.id::text = c->'values'->>0
          WHERE p.connected_system_id = $1 AND c->>'attribute' = 'manager'`,
        [dir.id],
      );
      expect(manager.rows).toEqual([{ manager: "M1" }]);
    } finally {
      await closeTestServices(own);
    }
  });
});
