import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultExecutors } from "../../../src/jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../../../src/jobs/worker.ts";
import { CREATE_RULE, CREATE_SYSTEM, ok, REFRESH, rawId, runToEnd } from "../../e2e/helpers.ts";
import { FAST_RUN_OPTIONS } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// OpenLDAP's own sample directory (dc=example,dc=com) imported through the product: public API,
// start gate, worker, real slapd. Its people are OpenLDAPperson entries (SUP inetOrgPerson), with
// userPassword values, Barbara Jensen's sn ' Jensen ' (base64 in the LDIF), several cn values.
let app: TestApp;
let worker: WorkerHandle;
let slapd: Slapd;

const CSOS = `query($id: ID!) { connectorSpaceObjects(connectedSystemId: $id, first: 100) {
  totalCount edges { node { objectType anchor distinguishedName attributes } } } }`;

async function createSystem(name: string, extra: Record<string, unknown> = {}) {
  const config = { url: slapd.url, bindDn: slapd.bindDn, bindPassword: slapd.password, baseDn: slapd.baseDn, ...extra };
  const id = rawId((await ok(app, CREATE_SYSTEM, { i: { name, kind: "LDAP", config } })).createConnectedSystem.id);
  await ok(app, REFRESH, { id });
  return id;
}

beforeAll(async () => {
  slapd = await startSlapd({ sample: "openldap" });
  const services = await createTestServices({}, { runOptions: FAST_RUN_OPTIONS });
  app = await startTestApp(services);
  worker = await startWorker({ services, executors: defaultExecutors, scheduler: false });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  const services = app?.services;
  await app?.stop();
  if (services) await closeTestServices(services);
  await slapd?.stop();
});

describe("OpenLDAP's sample directory through the product", () => {
  it("imports the 10 OpenLDAPperson entries as inetOrgPerson objects (the class hierarchy counts)", async () => {
    const id = await createSystem("sample-people", { objectClasses: ["inetOrgPerson"], objectType: "person" });
    const run = await runToEnd(app, id, "FULL_IMPORT", { expect: "COMPLETED" });
    expect(run).toMatchObject({ fetched: 10, created: 10, failed: 0 });

    const { connectorSpaceObjects } = await ok(app, CSOS, { id });
    expect(connectorSpaceObjects.totalCount).toBe(10);
    const byDn = new Map(
      connectorSpaceObjects.edges.map((e: { node: { distinguishedName: string } }) => [e.node.distinguishedName, e.node]),
    );
    const babs = byDn.get("cn=Barbara Jensen,ou=Information Technology Division,ou=People,dc=example,dc=com") as {
      objectType: string;
      attributes: Record<string, unknown>;
    };
    expect(babs.objectType).toBe("person");
    expect(babs.attributes.sn).toEqual([" Jensen "]);
    expect(babs.attributes.cn).toEqual(["Barbara Jensen", "Babs Jensen"]);
    expect(babs.attributes.seeAlso).toEqual(["cn=All Staff,ou=Groups,dc=example,dc=com"]);
  });
});
