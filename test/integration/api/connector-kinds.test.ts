import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../helpers/app.ts";

const KINDS = `{ connectorKinds { kind configSchema defaults secretFields } }`;

describe("connectorKinds", () => {
  let app: TestApp;
  let kinds: { kind: string; configSchema: any; defaults: Record<string, unknown>; secretFields: string[] }[];

  beforeAll(async () => {
    app = await startTestApp();
    const r = await app.gql(KINDS);
    expect(r.errors).toBeUndefined();
    kinds = r.data.connectorKinds;
  });
  afterAll(() => app.stop());

  const kind = (k: string) => kinds.find((x) => x.kind === k)!;

  it("lists every connector kind with a JSON Schema whose every field explains itself", () => {
    expect(kinds.map((k) => k.kind).sort()).toEqual(["CSV", "LDAP", "SCIM", "SCIM_INBOUND", "SQL"]);
    for (const k of kinds) {
      expect(k.configSchema).toMatchObject({ type: "object", additionalProperties: false });
      const undescribed = Object.entries(k.configSchema.properties).filter(([, p]: [string, any]) => !p.description);
      expect(undescribed.map(([name]) => `${k.kind}.${name}`)).toEqual([]);
    }
    expect(kind("LDAP").configSchema.required).toEqual(["url", "bindDn", "bindPassword", "baseDn"]);
    expect(kind("LDAP").configSchema.properties.deltaStrategy.enum).toEqual(["entryCSN", "accesslog"]);
  });

  it("names the secret fields the server encrypts and marks them writeOnly", () => {
    expect(kind("LDAP").secretFields).toEqual(["bindPassword"]);
    expect(kind("SQL").secretFields).toEqual(["connectionString"]);
    expect(kind("CSV").secretFields).toEqual([]);
    expect(kind("SCIM_INBOUND").secretFields).toEqual(["bearerToken"]);
    expect(kind("SCIM_INBOUND").configSchema.properties.bearerToken.writeOnly).toBe(true);
    expect(kind("LDAP").configSchema.properties.bindPassword.writeOnly).toBe(true);
    expect(kind("LDAP").configSchema.properties.bindDn.writeOnly).toBeUndefined();
  });

  it("gives the defaults the server fills in when a system is saved without them", async () => {
    const { defaults } = kind("CSV");
    expect(defaults).toMatchObject({ delimiter: ",", pageSize: 5000, multiValued: [] });
    const created = await app.gql(
      `mutation ($input: ConnectedSystemInput!) { createConnectedSystem(input: $input) { config } }`,
      { input: { name: "kinds-csv", kind: "CSV", config: { path: "/data/kinds.csv", anchor: "id" } } },
    );
    expect(created.errors).toBeUndefined();
    expect(created.data.createConnectedSystem.config).toEqual({ path: "/data/kinds.csv", anchor: "id", ...defaults });
  });
});
