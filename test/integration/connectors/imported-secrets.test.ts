import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, createDiscoveredSystem, ok, REFRESH, rawId, runToEnd } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { ldapEntry } from "../../helpers/hr-to-ldap.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// Directory secrets read from a system that is not a directory (an HR file with a userPassword
// column) are sealed like a directory's, and a value that merely looks sealed (a ciphertext
// copied from elsewhere, here one sealed by this very server) is never opened on its way out:
// an export to a directory writes it as the text it is.
let app: TestApp;
let worker: WorkerHandle;
let slapd: Slapd;
let copied: string;
const ids: Record<string, string> = {};
const dir = mkdtempSync(path.join(tmpdir(), "metasync-secrets-"));
const hrFile = path.join(dir, "hr.csv");

const CSOS = `query($id: ID!) { connectorSpaceObjects(connectedSystemId: $id, first: 10) {
  edges { node { anchor attributes } } } }`;
const EXPORTS = `query($id: ID!) { pendingExports(connectedSystemId: $id, first: 10) {
  edges { node { attributeChanges { attribute values } } } } }`;

beforeAll(async () => {
  slapd = await startSlapd();
  const services = await createTestServices({}, { runOptions: FAST_RUN_OPTIONS });
  copied = services.secrets.sealValue("{SSHA}the-victims-hash");
  writeFileSync(
    hrFile,
    [
      "employeeId,cn,sn,userPassword,description",
      `E1,Alice Ames,Ames,alice-pw,${copied}`,
      `E2,Bob Bell,Bell,${copied},staff`,
    ].join("\n"),
  );
  app = await startTestApp(services);
  worker = await startWorker({ services, executors: defaultExecutors, scheduler: false });
  const system = (input: Record<string, unknown>) => createDiscoveredSystem(app, input);
  ids.hr = await system({ name: "hr", kind: "CSV", config: { path: hrFile, anchor: "employeeId", objectType: "person" } });
  ids.ldap = await system({
    name: "directory",
    kind: "LDAP",
    config: {
      url: slapd.url,
      bindDn: slapd.bindDn,
      bindPassword: slapd.password,
      baseDn: `ou=people,${slapd.baseDn}`,
      objectClasses: ["inetOrgPerson"],
      objectType: "person",
    },
  });
  const flows = ["cn", "sn", "userPassword", "description"].map((a) => ({ target: a, source: a }));
  await ok(app, CREATE_RULE, {
    i: {
      name: "hr-people",
      connectedSystemId: ids.hr,
      direction: "INBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      projectToMetaverse: true,
      joinRules: [{ source: "employeeId", metaverseAttribute: "employeeId" }],
      attributeFlows: [{ target: "employeeId", source: "employeeId" }, ...flows],
    },
  });
  await ok(app, CREATE_RULE, {
    i: {
      name: "directory-accounts",
      connectedSystemId: ids.ldap,
      direction: "OUTBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      provisionToConnector: true,
      attributeFlows: [
        { target: "dn", expression: `'uid=' & $lowercase(employeeId) & ',ou=people,${slapd.baseDn}'` },
        { target: "uid", expression: "$lowercase(employeeId)" },
        ...flows,
      ],
    },
  });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  await slapd?.stop();
});

describe("directory secrets imported from a file", () => {
  it("are held sealed, shown as [secret], and stable from one import to the next", async () => {
    expect(await runToEnd(app, ids.hr!, "FULL_IMPORT", { expect: "COMPLETED" })).toMatchObject({ created: 2, failed: 0 });
    const { rows } = await app.services.db.pool.query<{ anchor: string; attributes: Record<string, unknown>; text: string }>(
      "SELECT anchor, attributes, attributes::text AS text FROM connector_space_object WHERE connected_system_id = $1 ORDER BY anchor",
      [ids.hr],
    );
    expect(rows.map((r) => r.anchor)).toEqual(["E1", "E2"]);
    expect(rows[0]!.text).not.toContain("alice-pw");
    const alice = String(rows[0]!.attributes.userPassword);
    expect(alice).toMatch(/^sealed:v1\./);
    expect(app.services.secrets.openValue(alice)).toBe("alice-pw");
    // Bob's copied ciphertext is sealed again: it opens to the text the file held, not to what it hides.
    const bob = String(rows[1]!.attributes.userPassword);
    expect(bob).not.toBe(copied);
    expect(app.services.secrets.openValue(bob)).toBe(copied);

    const { connectorSpaceObjects } = await ok(app, CSOS, { id: ids.hr });
    for (const { node } of connectorSpaceObjects.edges) expect(node.attributes.userPassword).toBe("[secret]");

    const again = await runToEnd(app, ids.hr!, "FULL_IMPORT", { expect: "COMPLETED" });
    expect(again).toMatchObject({ created: 0, updated: 0, failed: 0 });
  });

  it("reach a directory as the text the file held; a sealed-looking value is never opened", async () => {
    expect(await runToEnd(app, ids.hr!, "FULL_SYNC", { expect: "COMPLETED" })).toMatchObject({ exportsQueued: 2 });
    // The planned changes show neither the password nor the ciphertexts.
    const { pendingExports } = await ok(app, EXPORTS, { id: ids.ldap });
    type Change = { attribute: string; values: string[] };
    const changes: Change[] = pendingExports.edges.flatMap(
      (e: { node: { attributeChanges: Change[] } }) => e.node.attributeChanges,
    );
    const shown = (name: string) => changes.filter((c) => c.attribute === name).flatMap((c) => c.values);
    expect(shown("userPassword")).toEqual(["[secret]", "[secret]"]);
    expect(shown("description").sort()).toEqual(["[secret]", "staff"]);
    expect(await runToEnd(app, ids.ldap!, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ created: 2, failed: 0 });
    const alice = await ldapEntry(slapd, `uid=e1,ou=people,${slapd.baseDn}`);
    const bob = await ldapEntry(slapd, `uid=e2,ou=people,${slapd.baseDn}`);
    expect(String(alice?.userPassword)).toBe("alice-pw");
    // Neither the copied ciphertext in a plain attribute nor the one in a password is opened.
    expect(alice?.description).toBe(copied);
    expect(String(bob?.userPassword)).toBe(copied);
    for (const entry of [alice, bob]) expect(JSON.stringify(entry)).not.toContain("the-victims-hash");
  });

  it("reach a file as the text the source held, and its confirming import finds nothing to export again", async () => {
    const feedFile = path.join(dir, "feed.csv");
    const feed = rawId(
      (await ok(app, CREATE_SYSTEM, { i: { name: "feed", kind: "CSV", config: { path: feedFile, anchor: "id" } } }))
        .createConnectedSystem.id,
    );
    await ok(app, CREATE_RULE, {
      i: {
        name: "feed-out",
        connectedSystemId: feed,
        direction: "OUTBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        provisionToConnector: true,
        attributeFlows: [
          { target: "id", source: "employeeId" },
          { target: "userPassword", source: "userPassword" },
        ],
      },
    });
    await ok(app, REFRESH, { id: feed });
    expect(await runToEnd(app, ids.hr!, "FULL_SYNC", { expect: "COMPLETED" })).toMatchObject({ exportsQueued: 2 });
    expect(await runToEnd(app, feed, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ created: 2, failed: 0 });
    const [header, ...rows] = readFileSync(feedFile, "utf8").trimEnd().split("\n");
    expect(header).toBe("id,userPassword");
    // Never the server's ciphertext of the password (anyone reading the file could copy it).
    expect(rows.sort()).toEqual(["E1,alice-pw", `E2,${copied}`]);

    expect(await runToEnd(app, feed, "FULL_IMPORT", { expect: "COMPLETED" })).toMatchObject({ failed: 0 });
    expect(await runToEnd(app, ids.hr!, "FULL_SYNC", { expect: "COMPLETED" })).toMatchObject({ exportsQueued: 0 });
    const open = await app.services.db.prisma.pendingExport.count({
      where: { connectedSystemId: feed, status: { not: "CONFIRMED" } },
    });
    expect(open).toBe(0);
  });
});
