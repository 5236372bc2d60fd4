import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { person, sourceSystem } from "../../helpers/sync-fixtures.ts";

// A unique flow whose value is taken and whose expression cannot give another (it ignores the
// try number $n) is that object's located error; the run goes on and plans everyone else. It used
// to throw "no unique dn after 100 tries" out of the whole sync (found restoring a truncated HR
// file: the people projected again met their own old directory entries' DNs).
let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

describe("unique outbound flows", () => {
  it("records a value no try can make unique against the object, and plans the rest", async () => {
    const hr = await sourceSystem(
      services,
      "hr",
      [person("E1", { givenName: "Ada" }), person("E2", { givenName: "Ada" }), person("E3", { givenName: "Grace" })],
      {
        projectToMetaverse: true,
        joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
        attributeFlows: [
          { target: "employeeId", source: "id" },
          { target: "givenName", source: "givenName" },
        ],
      },
    );
    const target = await services.systems.create({
      name: "directory",
      kind: "CSV",
      config: { path: "/tmp/directory.csv", anchor: "dn" },
    });
    await services.db.prisma.syncRule.create({
      data: {
        name: "directory-out",
        connectedSystemId: target.id,
        direction: "OUTBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        provisionToConnector: true,
        attributeFlows: [{ target: "dn", expression: "'cn=' & givenName & ',dc=example'", unique: true }],
      },
    });

    const run = await hr.importAndSync();
    const planned = await services.db.prisma.pendingExport.findMany({
      where: { connectedSystemId: target.id },
      include: { connectorSpaceObject: { select: { distinguishedName: true } } },
    });
    expect(planned.map((p) => p.connectorSpaceObject?.distinguishedName).sort()).toEqual([
      "cn=Ada,dc=example",
      "cn=Grace,dc=example",
    ]);
    const failed = await services.db.prisma.runChange.findMany({ where: { runId: run.id, errorCode: { not: null } } });
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ errorCode: "EXPRESSION_FAILED" });
    expect(failed[0]!.message).toContain('rule "directory-out", attribute flow "dn"');
    expect(failed[0]!.message).toContain('"cn=Ada,dc=example" is taken by another object');
    expect(failed[0]!.message).toContain("$n");
  });
});
