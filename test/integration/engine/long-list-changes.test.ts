import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expandAttributeChanges, LONG_LIST } from "../../../src/engine/run-changes.ts";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { person, sourceSystem } from "../../helpers/sync-fixtures.ts";

let services: Services;
beforeAll(async () => {
  services = await createTestServices();
});
afterAll(() => closeTestServices(services));

const members = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

describe("run changes of long lists", () => {
  it("record the values a long list gained and lost, on import and on sync; a short list keeps before and after", async () => {
    const long = members(0, LONG_LIST + 50);
    const hr = await sourceSystem(services, "groups", [person("G1", { members: long, owners: ["a", "b"] })], {
      projectToMetaverse: true,
      joinRules: [{ source: "id", metaverseAttribute: "groupId" }],
      attributeFlows: [
        { target: "groupId", source: "id" },
        { target: "members", source: "members" },
        { target: "owners", source: "owners" },
      ],
    });
    await hr.importAndSync();

    // Two members leave, three join, one owner changes.
    const next = [...long.filter((m) => m !== "m3" && m !== "m77"), "x1", "x2", "x3"];
    hr.connector.objects = [person("G1", { members: next, owners: ["a", "c"] })];
    const imported = await hr.run("FULL_IMPORT");
    expect(imported).toMatchObject({ updated: 1 });
    const csoChange = await services.db.prisma.runChange.findFirstOrThrow({
      where: { runId: imported.id, changeType: "CSO_UPDATED" },
    });
    expect(csoChange.attributeChanges).toHaveLength(2);
    expect(csoChange.attributeChanges).toEqual(
      expect.arrayContaining([
        { attribute: "members", added: ["x1", "x2", "x3"], removed: ["m3", "m77"] },
        { attribute: "owners", before: ["a", "b"], after: ["a", "c"] },
      ]),
    );

    const synced = await hr.run("DELTA_SYNC");
    expect(synced).toMatchObject({ updated: 1, failed: 0 });
    const mvoChange = await services.db.prisma.runChange.findFirstOrThrow({
      where: { runId: synced.id, changeType: "MVO_UPDATED" },
    });
    const origin = { syncRuleId: hr.ruleId, sourceSystemId: hr.id };
    expect(mvoChange.attributeChanges).toHaveLength(2);
    expect(expandAttributeChanges(mvoChange.attributeChanges, mvoChange)).toEqual(
      expect.arrayContaining([
        { attribute: "members", added: ["x1", "x2", "x3"], removed: ["m3", "m77"], ...origin },
        { attribute: "owners", before: ["a", "b"], after: ["a", "c"], ...origin },
      ]),
    );
    const identity = await services.db.prisma.metaverseObject.findFirstOrThrow({ where: { type: "person" } });
    expect((identity.attributes as { members: string[] }).members).toEqual(next);
  });

  it("a long list that only changed order, or a value's type, still says what differs", async () => {
    const long = members(0, LONG_LIST + 1);
    const hr = await sourceSystem(services, "ordered", [person("G2", { members: long })], {
      projectToMetaverse: true,
      joinRules: [{ source: "id", metaverseAttribute: "groupId" }],
      attributeFlows: [{ target: "members", source: "members" }],
    });
    await hr.importAndSync();
    const reversed = [...long].reverse();
    hr.connector.objects = [person("G2", { members: reversed })];
    const imported = await hr.run("FULL_IMPORT");
    const change = await services.db.prisma.runChange.findFirstOrThrow({
      where: { runId: imported.id, changeType: "CSO_UPDATED" },
    });
    expect(change.attributeChanges).toEqual([{ attribute: "members", before: long, after: reversed }]);

    // "1" and 1 are different values.
    hr.connector.objects = [{ objectType: "person", anchor: "G2", attributes: { id: "G2", members: [...reversed.slice(1), 1] } }];
    const typed = await hr.run("FULL_IMPORT");
    const typedChange = await services.db.prisma.runChange.findFirstOrThrow({
      where: { runId: typed.id, changeType: "CSO_UPDATED" },
    });
    expect(typedChange.attributeChanges).toEqual([{ attribute: "members", added: [1], removed: [reversed[0]] }]);
  });
});
