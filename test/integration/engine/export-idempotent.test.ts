import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createConnector } from "../../../src/connectors/index.ts";
import { createExportExecutor } from "../../../src/engine/outbound/run-export.ts";
import { createLogger } from "../../../src/logger.ts";
import type { Services } from "../../../src/services.ts";
import { runEngine } from "../../helpers/engine-run.ts";
import { withAdmin } from "../../helpers/ldap-data.ts";
import { ldapRequestIs, startLossyProxy } from "../../helpers/lossy-proxy.ts";
import { closeTestServices, createTestServices } from "../../helpers/services.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";
import { person, sourceSystem } from "../../helpers/sync-fixtures.ts";

// Provisioning to a real slapd when the entry is already there: the export joins it instead of
// failing with ALREADY_EXISTS, and the next import confirms it.
let ldap: Slapd;
let services: Services;
beforeAll(async () => {
  ldap = await startSlapd();
});
afterAll(() => ldap?.stop());
beforeEach(async () => {
  services = await createTestServices();
  return () => closeTestServices(services);
});

async function setup(url = ldap.url) {
  const hr = await sourceSystem(services, "hr", [person("E1", { givenName: "Grace", sn: "Hopper" })], {
    projectToMetaverse: true,
    joinRules: [{ source: "id", metaverseAttribute: "employeeId" }],
    attributeFlows: [
      { target: "employeeId", source: "id" },
      { target: "givenName", source: "givenName" },
      { target: "sn", source: "sn" },
    ],
  });
  const config = {
    url,
    bindDn: ldap.bindDn,
    bindPassword: ldap.password,
    baseDn: `ou=people,${ldap.baseDn}`,
    objectClasses: ["inetOrgPerson"],
    objectType: "person",
    timeoutMs: 3000,
  };
  const dir = await services.systems.create({ name: "dir", kind: "LDAP", config });
  await services.db.prisma.syncRule.create({
    data: {
      name: "dir-out",
      connectedSystemId: dir.id,
      direction: "OUTBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      provisionToConnector: true,
      attributeFlows: [
        { target: "dn", expression: `'uid=' & $lowercase(employeeId) & ',ou=people,${ldap.baseDn}'` },
        { target: "uid", expression: "$lowercase(employeeId)" },
        { target: "cn", expression: "givenName & ' ' & sn" },
        { target: "sn", source: "sn" },
        { target: "givenName", source: "givenName" },
      ],
    },
  });
  const connector = await createConnector("LDAP", config, { logger: createLogger({ logLevel: "silent" }) });
  const run = (profile: "EXPORT" | "FULL_IMPORT") =>
    runEngine(services, {
      systemId: dir.id,
      profile,
      connector,
      ...(profile === "EXPORT" ? { executor: createExportExecutor({ batchSize: 50, retryBaseMs: 10 }) } : {}),
    });
  const exports = () => services.db.prisma.pendingExport.findMany({ where: { connectedSystemId: dir.id } });
  const entry = (uid: string) =>
    withAdmin(
      ldap,
      async (c) =>
        (await c.search(`uid=${uid},ou=people,${ldap.baseDn}`, { scope: "base", attributes: ["*", "entryUUID"] }))
          .searchEntries[0],
    );
  return { hr, dirId: dir.id, connector, run, exports, entry };
}

describe("export: a CREATE that meets the entry already there", () => {
  it("an entry made by hand and imported before: the CREATE joins it, the stale object merges, the import confirms", async () => {
    await withAdmin(ldap, (c) =>
      c.add(`uid=e1,ou=people,${ldap.baseDn}`, {
        objectClass: "inetOrgPerson",
        uid: "e1",
        cn: "G. Hopper",
        sn: "Hopper",
        title: "Rear Admiral",
      }),
    );
    const { hr, dirId, connector, run, exports, entry } = await setup();
    try {
      // The directory is imported first: the hand-made entry is an object no identity joins.
      await run("FULL_IMPORT");
      const handMade = await entry("e1");
      await hr.importAndSync();
      expect((await exports()).map((e) => [e.changeType, e.status])).toEqual([["CREATE", "PENDING"]]);

      const exported = await run("EXPORT");
      expect(exported).toMatchObject({ created: 1, failed: 0 });
      expect((await exports()).map((e) => [e.status, e.lastErrorCode])).toEqual([["EXPORTED", null]]);
      expect(await entry("e1")).toMatchObject({ cn: "Grace Hopper", givenName: "Grace", sn: "Hopper", title: "Rear Admiral" });
      // One object holds the entry's anchor, joined to the identity.
      const objects = await services.db.prisma.connectorSpaceObject.findMany({ where: { connectedSystemId: dirId } });
      expect(objects.map((o) => [o.anchor, o.metaverseObjectId !== null])).toEqual([[handMade?.entryUUID, true]]);

      const confirm = await run("FULL_IMPORT");
      expect(confirm.failed).toBe(0);
      expect((await exports()).map((e) => e.status)).toEqual(["CONFIRMED"]);
    } finally {
      await connector.close();
    }
  });

  it("an add the server applied whose reply was lost: the run fails as unreachable, the next one joins and confirms", async () => {
    const proxy = await startLossyProxy(Number(new URL(ldap.url).port));
    const { hr, run, exports, entry, connector } = await setup(`ldap://127.0.0.1:${proxy.port}`);
    try {
      await hr.importAndSync();
      await connector.testConnection();
      proxy.loseReplyTo(ldapRequestIs(0x68));
      await expect(run("EXPORT")).rejects.toMatchObject({ code: "CONNECTION_FAILED" });
      expect((await exports()).map((e) => e.status)).toEqual(["PENDING"]);
      expect(await entry("e1")).toMatchObject({ cn: "Grace Hopper" });

      const retry = await run("EXPORT");
      expect(retry).toMatchObject({ created: 1, failed: 0 });
      await run("FULL_IMPORT");
      const [done] = await exports();
      expect(done).toMatchObject({ status: "CONFIRMED", lastError: null });
    } finally {
      await connector.close();
      await proxy.close();
    }
  });
});
