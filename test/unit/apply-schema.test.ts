import { existsSync, readdirSync, readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseApplyDocument } from "../../src/cli/apply-document.ts";

const root = new URL("../../", import.meta.url);
const schema = JSON.parse(readFileSync(new URL("docs/apply.schema.json", root), "utf8"));
// strict: false: writeOnly and the like are annotations Ajv does not know by default; formats (uri)
// are left to the server, as an editor does.
const validate = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
const problems = (yaml: string) => {
  validate(parseYaml(yaml));
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
};

const DOC = `# yaml-language-server: $schema=../docs/apply.schema.json
connectedSystems:
  - name: hr
    kind: CSV
    config: { path: /data/hr.csv, anchor: employeeId, multiValued: [groups] }
  - name: corp-ldap
    kind: LDAP
    config:
      url: ldap://127.0.0.1:1389
      bindDn: cn=admin,dc=example,dc=org
      bindPassword: \${LDAP_PASSWORD}
      baseDn: dc=example,dc=org
      pageSize: 200
syncRules:
  - name: hr-in
    connectedSystem: hr
    direction: INBOUND
    objectType: person
    metaverseObjectType: person
    projectToMetaverse: true
    joinRules: [{ source: employeeId, metaverseAttribute: employeeId }]
    attributeFlows:
      - { target: displayName, expression: 'givenName & " " & sn' }
schedules:
  - name: nightly
    cron: "0 2 * * *"
    steps: [{ connectedSystem: hr, profile: FULL_IMPORT }, { connectedSystem: hr, profile: FULL_SYNC }]
`;

describe("docs/apply.schema.json", () => {
  it("accepts a document apply accepts, the editor hint comment included", () => {
    expect(problems(DOC)).toEqual([]);
    expect(parseApplyDocument(DOC, { LDAP_PASSWORD: "x" }).schedules[0]?.name).toBe("nightly");
  });

  it("checks each system's config against its connector kind: a misspelt key and a wrong type are flagged where they are", () => {
    const bad = DOC.replace("bindDn: cn=admin", "bindDN: cn=admin").replace("pageSize: 200", "pageSize: lots");
    const found = problems(bad);
    expect(found).toContain("/connectedSystems/1/config must have required property 'bindDn'");
    expect(found).toContain("/connectedSystems/1/config must NOT have additional properties");
    expect(found).toContain("/connectedSystems/1/config/pageSize must be integer");
    expect(found.filter((p) => p.startsWith("/connectedSystems/0"))).toEqual([]);
  });

  it("flags an unknown top-level key, a bad enum and a schedule step without a system", () => {
    const bad = `${DOC.replace("direction: INBOUND", "direction: INWARD").replace("{ connectedSystem: hr, profile: FULL_SYNC }", "{ profile: FULL_SYNC }")}apiKeys: []\n`;
    const found = problems(bad);
    expect(found).toContain(" must NOT have additional properties");
    expect(found).toContain("/syncRules/0/direction must be equal to one of the allowed values");
    expect(found).toContain("/schedules/0/steps/1 must have required property 'connectedSystem'");
  });

  it("accepts every example under examples/", () => {
    const dir = new URL("examples/", root);
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)) : [];
    for (const f of files)
      expect({ file: f, problems: problems(readFileSync(new URL(f, dir), "utf8")) }).toEqual({ file: f, problems: [] });
  });
});
