import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createCsvSystem } from "../../helpers/fixtures.ts";

let app: TestApp;
let systemId: string;
let discoveredId: string;
beforeAll(async () => {
  app = await startTestApp();
  systemId = (await createCsvSystem(app.services, "hr")).id;
  // A system whose schema was discovered: object type "person" with three attributes.
  const discovered = await createCsvSystem(app.services, "directory");
  discoveredId = discovered.id;
  await app.services.db.prisma.objectType.create({
    data: {
      connectedSystemId: discoveredId,
      name: "person",
      anchorAttribute: "id",
      attributes: { create: [{ name: "id" }, { name: "mail" }, { name: "givenName" }] },
    },
  });
  await app.services.db.prisma.connectedSystem.update({ where: { id: discoveredId }, data: { schemaDiscoveredAt: new Date() } });
});
afterAll(() => app?.stop());

const CREATE = /* GraphQL */ `
  mutation ($input: SyncRuleInput!) {
    createSyncRule(input: $input) {
      id name direction scope precedence projectToMetaverse enabled
      joinRules { source metaverseAttribute }
      attributeFlows { target source expression unique initialOnly }
      connectedSystem { name }
    }
  }`;

const rule = (overrides: Record<string, unknown> = {}) => ({
  name: "hr-in",
  connectedSystemId: systemId,
  direction: "INBOUND",
  objectType: "person",
  metaverseObjectType: "person",
  scope: 'status = "active"',
  joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
  projectToMetaverse: true,
  precedence: 10,
  attributeFlows: [
    { target: "employeeId", source: "id" },
    { target: "displayName", expression: 'givenName & " " & sn' },
  ],
  ...overrides,
});

describe("sync rules", () => {
  it("creates a valid rule and lists it per system", async () => {
    const r = await app.gql(CREATE, { input: rule() });
    expect(r.errors).toBeUndefined();
    expect(r.data.createSyncRule).toMatchObject({
      name: "hr-in",
      direction: "INBOUND",
      precedence: 10,
      enabled: true,
      connectedSystem: { name: "hr" },
      attributeFlows: [
        { target: "employeeId", source: "id", expression: null, unique: false },
        { target: "displayName", source: null, expression: 'givenName & " " & sn' },
      ],
    });
    const list = await app.gql(`query ($id: ID) { syncRules(connectedSystemId: $id) { name } }`, { id: systemId });
    expect(list.data.syncRules).toEqual([{ name: "hr-in" }]);
    const node = await app.gql(`query ($id: ID!) { node(id: $id) { __typename ... on SyncRule { name } } }`, {
      id: r.data.createSyncRule.id,
    });
    expect(node.data.node).toEqual({ __typename: "SyncRule", name: "hr-in" });
  });

  it("rejects a JSONata syntax error with its position", async () => {
    const r = await app.gql(CREATE, {
      input: rule({ name: "bad-expr", attributeFlows: [{ target: "cn", expression: "$uppercase(givenName" }] }),
    });
    const err = r.errors?.[0];
    expect(err?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(err?.message).toMatch(/^attributeFlows\[0\]\.expression: invalid JSONata at position \d+/);
    expect(err?.extensions?.path).toBe("attributeFlows[0].expression");
    expect(typeof err?.extensions?.position).toBe("number");
    const scope = await app.gql(CREATE, { input: rule({ name: "bad-scope", scope: "status = " }) });
    expect(scope.errors?.[0]?.message).toMatch(/^scope: invalid JSONata at position 9: Unexpected end of expression/);
  });

  it("rejects malformed flows, unknown systems and duplicate names with their codes", async () => {
    const both = await app.gql(CREATE, {
      input: rule({ name: "both", attributeFlows: [{ target: "cn", source: "a", expression: "b" }] }),
    });
    expect(both.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(both.errors?.[0]?.message).toContain("exactly one of source or expression");
    const reserved = await app.gql(CREATE, { input: rule({ name: "reserved", attributeFlows: [{ target: "$", source: "a" }] }) });
    expect(reserved.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "attributeFlows[0].target" });
    const missing = await app.gql(CREATE, {
      input: rule({ name: "orphan", connectedSystemId: "00000000-0000-4000-8000-000000000000" }),
    });
    expect(missing.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const dup = await app.gql(CREATE, { input: rule() });
    expect(dup.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    const wrongDirection = await app.gql(CREATE, { input: rule({ name: "wd", provisionToConnector: true }) });
    expect(wrongDirection.errors?.[0]?.extensions?.path).toBe("provisionToConnector");
    expect(await app.services.db.prisma.syncRule.count()).toBe(1);
  });

  it("checks attribute names against a discovered schema", async () => {
    const inbound = (flows: unknown[], extra: Record<string, unknown> = {}) =>
      app.gql(CREATE, {
        input: rule({
          name: `dir-${Math.random()}`,
          connectedSystemId: discoveredId,
          joinRules: [],
          attributeFlows: flows,
          ...extra,
        }),
      });
    const unknown = await inbound([{ target: "email", source: "mial" }]);
    expect(unknown.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(unknown.errors?.[0]?.message).toContain('attribute "mial" does not exist on object type "person"');
    const badJoin = await inbound([], { joinRules: [{ source: "employeeNumber", metaverseAttribute: "employeeId" }] });
    expect(badJoin.errors?.[0]?.extensions?.path).toBe("joinRules[0].source");
    const badType = await inbound([], { objectType: "group" });
    expect(badType.errors?.[0]?.message).toContain('"group" is not an object type of directory (known: person)');
    expect((await inbound([{ target: "email", source: "MAIL" }])).errors).toBeUndefined();

    const outbound = (flows: unknown[]) =>
      app.gql(CREATE, {
        input: rule({
          name: `out-${Math.random()}`,
          connectedSystemId: discoveredId,
          direction: "OUTBOUND",
          projectToMetaverse: false,
          provisionToConnector: true,
          joinRules: [],
          attributeFlows: flows,
        }),
      });
    const badTarget = await outbound([{ target: "telephone", source: "phone" }]);
    expect(badTarget.errors?.[0]?.extensions?.path).toBe("attributeFlows[0].target");
    const ok = await outbound([
      { target: "dn", expression: '"uid=" & uid & ",ou=people,dc=example,dc=org"' },
      { target: "mail", source: "email" },
    ]);
    expect(ok.errors).toBeUndefined();
  });

  it("updates and deletes, NOT_FOUND for an unknown id", async () => {
    const created = (await app.gql(CREATE, { input: rule({ name: "to-change" }) })).data.createSyncRule;
    const UPDATE = `mutation ($id: ID!, $input: SyncRuleInput!) { updateSyncRule(id: $id, input: $input) { id name precedence enabled deduplication } }`;
    const updated = await app.gql(UPDATE, {
      id: created.id,
      input: rule({ name: "changed", precedence: 5, enabled: false, deduplication: { keys: ["mail"] } }),
    });
    expect(updated.errors).toBeUndefined();
    expect(updated.data.updateSyncRule).toMatchObject({ id: created.id, name: "changed", precedence: 5, enabled: false });
    expect(updated.data.updateSyncRule.deduplication).toMatchObject({ keys: ["mail"], match: "exact", strategy: "keep_first" });
    const taken = await app.gql(UPDATE, { id: created.id, input: rule({ name: "hr-in" }) });
    expect(taken.errors?.[0]?.extensions?.code).toBe("CONFLICT");
    const del = `mutation ($id: ID!) { deleteSyncRule(id: $id) }`;
    expect((await app.gql(del, { id: created.id })).data.deleteSyncRule).toBe(true);
    expect((await app.gql(del, { id: created.id })).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const gone = await app.gql(UPDATE, { id: created.id, input: rule({ name: "x" }) });
    expect(gone.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  });

  it("refuses calls of functions that do not exist, naming the field, the flow and the function", async () => {
    const UPDATE = `mutation ($id: ID!, $input: SyncRuleInput!) { updateSyncRule(id: $id, input: $input) { id } }`;
    const flows = (expression: string) => [
      { target: "employeeId", source: "id" },
      { target: "displayName", expression },
    ];
    const created = await app.gql(CREATE, {
      input: rule({
        name: "functions-ok",
        scope: '$lowercase(status) = "active"',
        attributeFlows: flows("( $f := function($x){ $uppercase($x) }; $f(givenName) & $string($n) ~> $trim )"),
      }),
    });
    expect(created.errors).toBeUndefined();

    const bad = await app.gql(CREATE, { input: rule({ name: "functions-bad", attributeFlows: flows("$nosuch(x)") }) });
    expect(bad.errors?.[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      path: "attributeFlows[1].expression",
      function: "$nosuch",
    });
    expect(bad.errors?.[0]?.message).toBe(
      'attributeFlows[1].expression (attribute flow "displayName"): function $nosuch does not exist',
    );
    const badScope = await app.gql(UPDATE, {
      id: created.data.createSyncRule.id,
      input: rule({ name: "functions-ok", scope: "$nosuch(x)" }),
    });
    expect(badScope.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "scope", function: "$nosuch" });
  });

  it("evaluates each expression once against a sample object and refuses one that reaches a bound", async () => {
    await app.services.db.prisma.connectorSpaceObject.create({
      data: {
        connectedSystemId: discoveredId,
        objectType: "person",
        anchor: "P1",
        attributes: { id: "P1", mail: "ada@example.com", givenName: "Ada" },
        contentHash: "x",
      },
    });
    const hostile = (overrides: Record<string, unknown>) =>
      app.gql(CREATE, {
        input: rule({
          name: "hostile",
          connectedSystemId: discoveredId,
          scope: null,
          joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
          attributeFlows: [{ target: "employeeId", source: "id" }],
          ...overrides,
        }),
      });
    const scope = await hostile({ scope: "( $f := function($x){ $f($x) }; $f(1) )" });
    expect(scope.errors?.[0]?.extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      path: "scope",
      errorCode: "EXPRESSION_LIMIT_EXCEEDED",
    });
    expect(scope.errors?.[0]?.message).toMatch(
      /^scope \(scope\): exceeded the time bound of \d+ ms .*connector space object P1$/,
    );
    const depth = await hostile({
      attributeFlows: [
        { target: "employeeId", source: "id" },
        { target: "depth", expression: "( $f := function($x){ 1 + $f($x) }; $f(1) )" },
      ],
    });
    expect(depth.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "attributeFlows[1].expression" });
    expect(depth.errors?.[0]?.message).toContain("exceeded the depth bound of");
    const huge = await hostile({ joinRules: [{ source: "$map([1..10000000], function($v){$v})", metaverseAttribute: "n" }] });
    expect(huge.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", path: "joinRules[0].source" });
    expect(huge.errors?.[0]?.message).toContain("exceeded the sequence-size bound of");
    expect(await app.services.db.prisma.syncRule.count({ where: { name: "hostile" } })).toBe(0);
  });
});
