import { beforeEach, describe, expect, it } from "vitest";
import type { Services } from "../../../src/services.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { identities, person, sourceSystem } from "../../helpers/sync-fixtures.ts";

let services: Services;
beforeEach(async () => {
  services = await createTestServices();
  return () => closeTestServices(services);
});

const errorsOf = (runId: string) =>
  services.db.prisma.runChange.findMany({ where: { runId, changeType: "RECORD_ERROR" }, orderBy: { location: "asc" } });

const hrRule = (extra: Record<string, unknown> = {}) => ({
  projectToMetaverse: true,
  precedence: 10,
  joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
  attributeFlows: [
    { target: "employeeId", source: "id" },
    { target: "givenName", source: "givenName" },
  ],
  ...extra,
});

describe("hostile expressions are bounded per record", () => {
  it("a scope that recurses forever is a per-record error naming the rule; another system's run goes on", async () => {
    const scope = "( $f := function($x){ $f($x) }; $f(1) )";
    const hr = await sourceSystem(
      services,
      "hr",
      [person("E1", { givenName: "Ada" }), person("E2", { givenName: "Alan" }), person("E3", { givenName: "Grace" })],
      hrRule({ scope }),
    );
    const run = await hr.importAndSync();
    expect(run).toMatchObject({ fetched: 3, created: 0, failed: 3 });
    const errors = await errorsOf(run.id);
    expect(errors).toHaveLength(3);
    for (const e of errors)
      expect(e).toMatchObject({
        errorCode: "EXPRESSION_LIMIT_EXCEEDED",
        syncRuleId: hr.ruleId,
        location: "scope",
        attributeChanges: { rule: "hr-in", part: "scope", expression: scope },
      });
    expect(errors[0]?.message).toContain('rule "hr-in", scope: expression `( $f := function($x){ $f($x) }; $f(1) )`');

    // The process is alive and the engine still works for a sane rule.
    const crm = await sourceSystem(services, "crm", [person("C1", { givenName: "Edsger" })], hrRule());
    expect(await crm.importAndSync()).toMatchObject({ fetched: 1, created: 1, failed: 0 });
  });

  it("flows that recurse without end or map ten million items fail alone; the identity gets its other attributes", async () => {
    const recursive = "( $f := function($x){ 1 + $f($x) }; $f(1) )";
    const huge = "$map([1..10000000], function($v){$v})";
    const hr = await sourceSystem(
      services,
      "hr",
      [person("E1", { givenName: "Ada" }), person("E2", { givenName: "Alan" })],
      hrRule({
        attributeFlows: [
          { target: "employeeId", source: "id" },
          { target: "givenName", source: "givenName" },
          { target: "depth", expression: recursive },
          { target: "numbers", expression: huge },
        ],
      }),
    );
    const run = await hr.importAndSync();
    expect(run).toMatchObject({ fetched: 2, created: 2, failed: 2 });
    expect((await identities(services)).map((i) => i.attributes)).toEqual([
      { employeeId: "E1", givenName: "Ada" },
      { employeeId: "E2", givenName: "Alan" },
    ]);
    const errors = await errorsOf(run.id);
    expect(errors.map((e) => [e.location, e.errorCode, e.syncRuleId])).toEqual([
      ['attribute flow "depth"', "EXPRESSION_LIMIT_EXCEEDED", hr.ruleId],
      ['attribute flow "depth"', "EXPRESSION_LIMIT_EXCEEDED", hr.ruleId],
      ['attribute flow "numbers"', "EXPRESSION_LIMIT_EXCEEDED", hr.ruleId],
      ['attribute flow "numbers"', "EXPRESSION_LIMIT_EXCEEDED", hr.ruleId],
    ]);
    expect(errors[0]?.message).toMatch(
      /rule "hr-in", attribute flow "depth": expression `.*1 \+ \$f\(\$x\).*` exceeded the depth bound/,
    );
    expect(errors[2]?.message).toContain("exceeded the sequence-size bound");
  });
});

describe("outbound expressions are bounded per identity", () => {
  it("an outbound scope that recurses forever is recorded against the outbound rule; the sync goes on and nothing is exported", async () => {
    const dir = await services.systems.create({ name: "dir", kind: "CSV", config: { path: "/tmp/dir.csv", anchor: "uid" } });
    const scope = "( $f := function($x){ $f($x) }; $f(1) )";
    const out = await services.db.prisma.syncRule.create({
      data: {
        name: "dir-out",
        connectedSystemId: dir.id,
        direction: "OUTBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        provisionToConnector: true,
        scope,
        attributeFlows: [{ target: "uid", source: "employeeId" }],
      },
    });
    const hr = await sourceSystem(
      services,
      "hr",
      [person("E1", { givenName: "Ada" }), person("E2", { givenName: "Alan" })],
      hrRule(),
    );
    const run = await hr.importAndSync();
    expect(run).toMatchObject({ fetched: 2, created: 2, failed: 2, exportsQueued: 0 });
    const errors = await errorsOf(run.id);
    expect(errors).toHaveLength(2);
    for (const e of errors)
      expect(e).toMatchObject({
        errorCode: "EXPRESSION_LIMIT_EXCEEDED",
        syncRuleId: out.id,
        sourceSystemId: dir.id,
        location: "scope",
      });
    expect(await services.db.prisma.pendingExport.count()).toBe(0);
  });
});

describe("a failing flow is isolated to its rule", () => {
  it("system A's broken flow does not fail system B's full sync of shared identities and is attributed to A's rule", async () => {
    const a = await sourceSystem(
      services,
      "a",
      [person("E1", { givenName: "Ada", title: "Countess" })],
      hrRule({
        attributeFlows: [
          { target: "employeeId", source: "id" },
          { target: "title", source: "title" },
        ],
      }),
    );
    await a.importAndSync();
    const b = await sourceSystem(services, "b", [person("B1", { employeeNumber: "E1", mail: "ada@example.com" })], {
      precedence: 20,
      joinRules: [{ source: "employeeNumber", metaverseAttribute: "employeeId" }],
      attributeFlows: [{ target: "mail", source: "mail" }],
    });
    // A's rule now has a flow that fails at run time for this object ("Ada" is not a number).
    const broken = "$number(givenName)";
    await services.db.prisma.syncRule.update({
      where: { id: a.ruleId },
      data: {
        attributeFlows: [
          { target: "employeeId", source: "id" },
          { target: "title", expression: broken },
        ],
      },
    });

    await b.run("FULL_IMPORT");
    const run = await b.run("FULL_SYNC");
    expect(run).toMatchObject({ fetched: 1, failed: 0, updated: 1 });
    // B's flow applied; the attribute A's broken flow sets keeps its value.
    const [ada] = await identities(services);
    expect(ada?.attributes).toEqual({ employeeId: "E1", title: "Countess", mail: "ada@example.com" });
    const [error] = await errorsOf(run.id);
    expect(error).toMatchObject({
      errorCode: "EXPRESSION_FAILED",
      syncRuleId: a.ruleId,
      sourceSystemId: a.id,
      metaverseObjectId: ada?.id,
      location: 'attribute flow "title"',
      attributeChanges: { rule: "a-in", part: 'attribute flow "title"', expression: broken },
    });
    expect(error?.message).toContain('rule "a-in", attribute flow "title": expression `$number(givenName)`');
  });
});
