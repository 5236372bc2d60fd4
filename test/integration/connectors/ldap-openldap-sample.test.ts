import { Client } from "ldapts";
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
const systems: Record<string, string> = {};

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
    systems.people = id;
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

  it("does not import userPassword (or any directory secret) when no rule reads it", async () => {
    const id = systems.people!;
    const { connectorSpaceObjects } = await ok(app, CSOS, { id });
    const attributeNames = connectorSpaceObjects.edges.flatMap((e: { node: { attributes: object } }) =>
      Object.keys(e.node.attributes),
    );
    expect(attributeNames).toContain("mail");
    expect(attributeNames.filter((n: string) => /password|pwd/i.test(n))).toEqual([]);
    const stored = await app.services.db.pool.query(
      `SELECT count(*)::int AS n FROM connector_space_object WHERE connected_system_id = $1 AND attributes::text ILIKE '%password%'`,
      [id],
    );
    expect(stored.rows[0].n).toBe(0);
  });

  it("imports userPassword sealed when a rule reads it: never plaintext in the database, never returned by GraphQL", async () => {
    const id = await createSystem("sample-secrets", { objectClasses: ["inetOrgPerson"], objectType: "person" });
    await ok(app, CREATE_RULE, {
      i: {
        name: "sample-passwords",
        connectedSystemId: id,
        direction: "INBOUND",
        objectType: "person",
        metaverseObjectType: "person",
        projectToMetaverse: true,
        joinRules: [{ source: "uid", metaverseAttribute: "uid" }],
        attributeFlows: [
          { target: "uid", source: "uid" },
          { target: "passwordHash", source: "userPassword" },
        ],
      },
    });
    const run = await runToEnd(app, id, "FULL_IMPORT", { expect: "COMPLETED" });
    expect(run).toMatchObject({ created: 10, failed: 0 });
    const { rows } = await app.services.db.pool.query<{ dn: string; password: unknown }>(
      `SELECT distinguished_name AS dn, attributes->'userPassword' AS password FROM connector_space_object
        WHERE connected_system_id = $1`,
      [id],
    );
    const babs = rows.find((r) => r.dn.startsWith("cn=Barbara Jensen"))!;
    const held = JSON.stringify(babs.password);
    expect(held).toMatch(/sealed:v1\./);
    expect(held).not.toContain("bjensen");
    expect(held).not.toContain("YmplbnNlbg==");
    // A second import of the same directory finds nothing changed (the sealed form is stable).
    expect(await runToEnd(app, id, "FULL_IMPORT", { expect: "COMPLETED" })).toMatchObject({ updated: 0, unchanged: 10 });

    const { connectorSpaceObjects } = await ok(app, CSOS, { id });
    const text = JSON.stringify(connectorSpaceObjects);
    expect(text).not.toContain('"userPassword":["bjensen"]');
    expect(text).not.toContain("sealed:v1");
    const node = connectorSpaceObjects.edges.find((e: { node: { distinguishedName: string } }) =>
      e.node.distinguishedName.startsWith("cn=Barbara Jensen"),
    ).node;
    expect(node.attributes.userPassword).toEqual(["[secret]"]);
  });

  it("provisions the sample's people to another directory verbatim (spaces, several cn, seeAlso), and the next sync plans nothing", async () => {
    const target = await startSlapd();
    try {
      const source = systems.people!;
      await ok(app, CREATE_RULE, {
        i: {
          name: "sample-people-in",
          connectedSystemId: source,
          direction: "INBOUND",
          objectType: "person",
          metaverseObjectType: "member",
          projectToMetaverse: true,
          joinRules: [{ source: "uid", metaverseAttribute: "uid" }],
          attributeFlows: ["uid", "cn", "sn", "mail", "title", "seeAlso", "telephoneNumber", "userPassword"].map((a) => ({
            target: a,
            source: a,
          })),
        },
      });
      const out = rawId(
        (
          await ok(app, CREATE_SYSTEM, {
            i: {
              name: "copy",
              kind: "LDAP",
              config: { url: target.url, bindDn: target.bindDn, bindPassword: target.password, baseDn: target.baseDn },
            },
          })
        ).createConnectedSystem.id,
      );
      await ok(app, REFRESH, { id: out });
      await ok(app, CREATE_RULE, {
        i: {
          name: "copy-out",
          connectedSystemId: out,
          direction: "OUTBOUND",
          objectType: "person",
          metaverseObjectType: "member",
          provisionToConnector: true,
          attributeFlows: [
            { target: "dn", expression: `'uid=' & uid & ',ou=people,${target.baseDn}'` },
            ...["uid", "cn", "sn", "mail", "title", "seeAlso", "telephoneNumber", "userPassword"].map((a) => ({
              target: a,
              source: a,
            })),
          ],
        },
      });
      // The rule now reads userPassword: the next import brings it, sealed.
      await runToEnd(app, source, "FULL_IMPORT", { expect: "COMPLETED" });
      const sync = await runToEnd(app, source, "FULL_SYNC", { expect: "COMPLETED" });
      expect(sync).toMatchObject({ created: 10, failed: 0, exportsQueued: 10 });
      expect(await runToEnd(app, out, "EXPORT", { expect: "COMPLETED" })).toMatchObject({ created: 10, failed: 0 });
      // What the target is now expected to hold keeps the secret as planned, sealed: the connector
      // sent it opened, and its answer must not put it in the database in the clear.
      const expected = await app.services.db.pool.query<{ text: string }>(
        "SELECT attributes::text AS text FROM connector_space_object WHERE connected_system_id = $1 AND anchor <> '' ORDER BY anchor",
        [out],
      );
      expect(expected.rows).toHaveLength(10);
      const withPassword = expected.rows.filter(({ text }) => text.includes('"userPassword"'));
      expect(withPassword.length).toBeGreaterThan(0);
      for (const { text } of withPassword) expect(text).toMatch(/"userPassword": \["sealed:v1\.[^"]*"\]/);

      const client = new Client({ url: target.url });
      await client.bind(target.bindDn, target.password);
      const { searchEntries } = await client.search(`uid=bjensen,ou=people,${target.baseDn}`, { scope: "base" });
      await client.unbind();
      expect(searchEntries[0]).toMatchObject({
        sn: " Jensen ",
        cn: ["Barbara Jensen", "Babs Jensen"],
        seeAlso: "cn=All Staff,ou=Groups,dc=example,dc=com",
        title: "Mythical Manager, Research Systems",
      });
      // The password hash (plaintext in this sample) arrives as it was in the source, not sealed.
      expect(String(searchEntries[0]?.userPassword)).toBe("bjensen");

      await runToEnd(app, out, "FULL_IMPORT", { expect: "COMPLETED" });
      const again = await runToEnd(app, source, "FULL_SYNC", { expect: "COMPLETED" });
      expect(again.exportsQueued).toBe(0);
      const open = await app.services.db.prisma.pendingExport.count({
        where: { connectedSystemId: out, status: { not: "CONFIRMED" } },
      });
      expect(open).toBe(0);
    } finally {
      await target.stop();
    }
  });
});
