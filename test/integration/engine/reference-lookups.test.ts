import pg from "pg";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { csvTarget, person, sourceSystem } from "../../helpers/sync-fixtures.ts";

let services: Services;
beforeEach(async () => {
  services = await createTestServices();
  return () => closeTestServices(services);
});
afterEach(() => vi.restoreAllMocks());

/** The statement that finds referenced identities' objects in a target (outbound/store.ts). */
const isReferenceLookup = (text: unknown) =>
  typeof text === "string" && /FROM metaverse_key k\s+LEFT JOIN connector_space_object c/.test(text);

it("looks up the references of a batch's identities once, not once per referenced value, with the same outcome", async () => {
  // 8 managers and 32 reports in one batch (the source pages 50 objects at a time).
  const managers = Array.from({ length: 8 }, (_, i) => person(`M${i}`, { givenName: `Boss${i}`, sn: "Manager" }));
  const reports = Array.from({ length: 32 }, (_, i) =>
    person(`E${i}`, { givenName: `Worker${i}`, sn: "Report", manager: `M${i % 8}` }),
  );
  const hr = await sourceSystem(services, "hr", [...managers, ...reports], {
    projectToMetaverse: true,
    joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
    attributeFlows: ["employeeId:id", "givenName", "sn", "manager"].map((f) => {
      const [target, source] = f.split(":");
      return { target, source: source ?? target };
    }),
  });
  const dir = await csvTarget(services, [
    { target: "uid", expression: "$lowercase(employeeId)" },
    { target: "sn", source: "sn" },
    { target: "manager", source: "manager", reference: true },
  ]);

  const query = vi.spyOn(pg.Client.prototype, "query");
  await hr.importAndSync();
  const lookups = query.mock.calls.filter(([q]) => isReferenceLookup(typeof q === "string" ? q : (q as { text?: string })?.text));
  // One for the batch, one when the late references are planned after it: 8 before the prefetch.
  expect(lookups.length).toBeGreaterThan(0);
  expect(lookups.length).toBeLessThanOrEqual(2);

  // Every report's CREATE refers to its own manager's identity (the DN replaces it once the
  // manager's entry exists), exactly as when looked up one by one.
  const identities = await services.db.prisma.metaverseObject.findMany();
  const identityOf = new Map(identities.map((m) => [(m.attributes as { employeeId: string }).employeeId, m.id]));
  const creates = await services.db.prisma.pendingExport.findMany({
    where: { connectedSystemId: dir.id, changeType: "CREATE" },
    include: { metaverseObject: true },
  });
  expect(creates).toHaveLength(40);
  const reportsCreates = creates.filter((c) => (c.metaverseObject?.attributes as Record<string, unknown>)?.manager);
  expect(reportsCreates).toHaveLength(32);
  for (const c of reportsCreates) {
    const manager = (c.attributeChanges as { attribute: string; values: string[] }[]).find((a) => a.attribute === "manager");
    const managerId = (c.metaverseObject?.attributes as { manager?: string } | undefined)?.manager;
    expect(manager?.values ?? [], `report ${c.id}`).toEqual([identityOf.get(String(managerId))]);
  }
});
