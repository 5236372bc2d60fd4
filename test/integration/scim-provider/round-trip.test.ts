import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { EXAMPLES, type ExampleHarness, startExample } from "../../helpers/examples.ts";

// A round trip through both halves of SCIM: examples/hr-csv-to-scim.yaml's SCIM connector ("saas")
// provisions HR's people and groups into the SCIM service provider of another connected system
// of the same Metasync ("idp", SCIM_INBOUND), over HTTP on a free port; the pushes drain through
// idp's inbox into its connector space, and saas imports them back, confirming its exports.
let h: ExampleHarness;
let app: TestApp;
const TOKEN = "round-trip-token-0123456789";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const IDP = `
connectedSystems:
  - name: idp
    kind: SCIM_INBOUND
    config:
      bearerToken: \${SCIM_TOKEN}
syncRules:
  # What idp holds joins HR's identities by employee id (externalId): it adds nothing else.
  - name: idp-in
    connectedSystem: idp
    direction: INBOUND
    objectType: person
    metaverseObjectType: person
    joinRules: [{ source: externalId, metaverseAttribute: employeeId }]
    attributeFlows:
      - { target: scimUserName, source: userName }
`;

let env: Record<string, string>;

beforeAll(async () => {
  h = await startExample("hr");
  app = await startTestApp(h.services);
  const port = new URL(app.url).port;
  env = {
    HR_DIR: h.files,
    SCIM_SCHEME: "http",
    SCIM_HOST: "127.0.0.1",
    SCIM_PORT: port,
    SCIM_PATH: "scim/v2/idp",
    SCIM_TOKEN: TOKEN,
  };
  const idp = path.join(h.files, "idp.yaml");
  writeFileSync(idp, IDP);
  await h.cli(["apply", idp], env);
  await h.cli(["apply", path.join(EXAMPLES, "hr-csv-to-scim.yaml")], env);
  await h.cli(["systems", "discover", "idp", "hr-people", "hr-groups", "saas"], env);
});
afterAll(async () => {
  await app?.stop();
  await h?.stop();
});

async function idpGet(route: string) {
  const res = await fetch(`${app.url}/scim/v2/idp${route}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as any;
}

async function idpStore(objectType: string) {
  const idp = await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "idp" } });
  return h.services.db.prisma.connectorSpaceObject.findMany({
    where: { connectedSystemId: idp.id, objectType, status: "NORMAL" },
  });
}

/** Every REALTIME run of idp finished, and its inbox is empty. */
async function drained() {
  await waitFor(
    async () => {
      const waiting = await h.services.db.prisma.inboxEntry.count({ where: { appliedAt: null } });
      const active = await h.services.db.prisma.run.count({
        where: { trigger: "REALTIME", status: { in: ["QUEUED", "RUNNING"] } },
      });
      return waiting === 0 && active === 0;
    },
    30_000,
    100,
  );
}

describe("SCIM connector -> SCIM service provider", () => {
  it("provisions people (enterprise extension, manager) and groups (members) into idp's connector space", async () => {
    for (const [system, profile] of [
      ["hr-people", "FULL_IMPORT"],
      ["hr-groups", "FULL_IMPORT"],
      ["hr-people", "FULL_SYNC"],
      ["hr-groups", "FULL_SYNC"],
      ["saas", "EXPORT"],
    ] as const)
      await h.run(system, profile);
    await drained();

    const people = await idpStore("person");
    expect(people.map((p) => (p.attributes as any).externalId).sort()).toEqual(["E1001", "E1002", "E1003", "E1004", "E1005"]);
    const ada = people.find((p) => (p.attributes as any).externalId === "E1001")!;
    const alan = people.find((p) => (p.attributes as any).externalId === "E1002")!;
    expect(alan.attributes).toMatchObject({
      userName: "alan.turing@example.org",
      "name.givenName": "Alan",
      'emails[type eq "work"].value': "alan.turing@example.org",
      [`${ENTERPRISE}:department`]: "Engineering",
      // The manager reference arrived as the manager's SCIM id.
      [`${ENTERPRISE}:manager.value`]: ada.anchor,
      active: true,
    });
    const groups = await idpStore("group");
    const engineering = groups.find((g) => (g.attributes as any).displayName === "engineering")!;
    const ids = (externalIds: string[]) =>
      people.filter((p) => externalIds.includes((p.attributes as any).externalId)).map((p) => p.anchor);
    expect([...((engineering.attributes as any).members as string[])].sort()).toEqual(ids(["E1001", "E1002", "E1003"]).sort());

    // idp's inbound rule joined each pushed user to HR's identity.
    expect(people.every((p) => p.metaverseObjectId !== null)).toBe(true);
  });

  it("imports back what it provisioned: full import confirms every export", async () => {
    const run = await h.run("saas", "FULL_IMPORT");
    expect(run.fetched).toBe(7);
    const open = await h.services.db.prisma.pendingExport.count({
      where: { connectedSystem: { name: "saas" }, status: { notIn: ["CONFIRMED"] } },
    });
    expect(open).toBe(0);
  });

  it("a mover and a leaver reach idp as PATCHes: new title, then active false", async () => {
    const csv = path.join(h.files, "people.csv");
    writeFileSync(csv, readFileSync(csv, "utf8").replace("Alan,Turing,Engineer,", "Alan,Turing,Principal Engineer,"));
    await h.run("hr-people", "FULL_IMPORT");
    await h.run("hr-people", "DELTA_SYNC");
    await h.run("saas", "EXPORT");
    const found = await idpGet(`/Users?filter=${encodeURIComponent('externalId eq "E1002"')}`);
    expect(found.Resources[0].title).toBe("Principal Engineer");
    await drained();
    const alan = (await idpStore("person")).find((p) => (p.attributes as any).externalId === "E1002")!;
    expect((alan.attributes as any).title).toBe("Principal Engineer");

    // A leaver: deactivated at once (DISABLE_THEN_DELETE), the user kept for the grace period.
    writeFileSync(csv, readFileSync(csv, "utf8").replace(/^E1004,.*\n/m, ""));
    await h.run("hr-people", "FULL_IMPORT");
    await h.run("hr-people", "DELTA_SYNC");
    await h.run("saas", "EXPORT");
    await drained();
    const katherine = (await idpStore("person")).find((p) => (p.attributes as any).externalId === "E1004")!;
    expect((katherine.attributes as any).active).toBe(false);
    const delta = await h.run("saas", "DELTA_IMPORT");
    expect(delta.failed).toBe(0);
  });
});
