import { beforeEach, describe, expect, it } from "vitest";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { identities, person, sourceSystem } from "../../helpers/sync-fixtures.ts";

let services: Services;
beforeEach(async () => {
  services = await createTestServices();
  return () => closeTestServices(services);
});

describe("an attribute flow's source is an attribute copied as-is, inbound as outbound", () => {
  it("a CSV column whose name is not a JSONata path (Employee ID) flows into the metaverse", async () => {
    const hr = await sourceSystem(services, "hr", [person("E1", { "Employee ID": "00042", givenName: "Ada" })], {
      projectToMetaverse: true,
      joinRules: [{ source: "id", metaverseAttribute: "id" }],
      attributeFlows: [
        { target: "id", source: "id" },
        { target: "employeeId", source: "Employee ID" },
        { target: "givenName", source: "givenName" },
      ],
    });
    const run = await hr.importAndSync();
    expect(run).toMatchObject({ status: "COMPLETED", created: 1, failed: 0 });
    expect((await identities(services)).map((i) => i.attributes)).toEqual([{ id: "E1", employeeId: "00042", givenName: "Ada" }]);
  });
});
