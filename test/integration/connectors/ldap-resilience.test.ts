import { Attribute, Change } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connector, ConnectorError, type ExportChange } from "../../../src/connectors/connector.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import { createLogger } from "../../../src/logger.ts";
import { collect, noContext, objectsOf, seedPeople, withAdmin } from "../../helpers/ldap-data.ts";
import { ldapRequestIs, startLossyProxy } from "../../helpers/lossy-proxy.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

// accesslog without syncprov: deletes come from cn=accesslog, and with no contextCSN on the
// base entry the watermark falls back to the largest entryCSN.
const logger = createLogger({ logLevel: "silent" });
let ldap: Slapd;
const open: Connector[] = [];
const PEOPLE = 300;

async function connector(extra: Record<string, unknown> = {}): Promise<Connector> {
  const c = await createConnector(
    "LDAP",
    {
      url: ldap.url,
      bindDn: ldap.bindDn,
      bindPassword: ldap.password,
      baseDn: ldap.baseDn,
      timeoutMs: 3000,
      deltaStrategy: "accesslog",
      objectTypes: [
        { name: "person", objectClasses: ["inetOrgPerson"] },
        { name: "group", objectClasses: ["groupOfNames"] },
      ],
      ...extra,
    },
    { logger },
  );
  open.push(c);
  return c;
}

beforeAll(async () => {
  ldap = await startSlapd({ overlays: ["accesslog"] });
  await seedPeople(ldap, PEOPLE);
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await ldap?.stop();
});

describe("LDAP connector with accesslog: delta with deletes", () => {
  it("reports adds, changes, renames and deletes since the watermark", async () => {
    const c = await connector();
    await withAdmin(ldap, (client) =>
      client.add(`cn=team,ou=groups,${ldap.baseDn}`, {
        objectClass: "groupOfNames",
        cn: "team",
        member: `uid=user1,ou=people,${ldap.baseDn}`,
      }),
    );
    const full = await collect(c.importFull(null, noContext));
    const before = objectsOf(full);
    const anchorOf = (rdn: string) => before.find((o) => o.dn?.startsWith(`${rdn},`))!.anchor;
    const watermark = full.at(-1)!.watermark;
    expect(watermark).toMatchObject({ csn: expect.any(String) });

    await seedPeople(ldap, 1, 5000);
    await withAdmin(ldap, async (client) => {
      await client.modify(
        `uid=user10,ou=people,${ldap.baseDn}`,
        new Change({ operation: "replace", modification: new Attribute({ type: "title", values: ["Lead"] }) }),
      );
      await client.modifyDN(`uid=user11,ou=people,${ldap.baseDn}`, `uid=user11b,ou=people,${ldap.baseDn}`);
      await client.del(`uid=user12,ou=people,${ldap.baseDn}`);
      await client.del(`uid=user13,ou=people,${ldap.baseDn}`);
      await client.del(`cn=team,ou=groups,${ldap.baseDn}`);
    });

    const delta = await collect(c.importDelta(watermark, null, noContext));
    const objects = objectsOf(delta);
    expect(objects.map((o) => o.dn?.split(",")[0]).sort()).toEqual(["uid=user10", "uid=user11b", "uid=user5000"]);
    expect(objects.find((o) => o.dn?.startsWith("uid=user11b,"))?.anchor).toBe(anchorOf("uid=user11"));
    expect(delta.flatMap((p) => p.deletes).sort((a, b) => a.anchor.localeCompare(b.anchor))).toEqual(
      [
        { objectType: "person", anchor: anchorOf("uid=user12") },
        { objectType: "person", anchor: anchorOf("uid=user13") },
        { objectType: "group", anchor: anchorOf("cn=team") },
      ].sort((a, b) => a.anchor.localeCompare(b.anchor)),
    );
    const next = delta.at(-1)!.watermark;
    expect(next).not.toEqual(watermark);
    const again = await collect(c.importDelta(next, null, noContext));
    expect(objectsOf(again)).toEqual([]);
    expect(again.flatMap((p) => p.deletes)).toEqual([]);
  });
});

describe("LDAP connector: a server that goes away", () => {
  it("server stopped mid-import: the next page fails CONNECTION_FAILED (transient); resume after restart loses nothing", async () => {
    const c = await connector({ pageSize: 50 });
    const first: string[] = [];
    let checkpoint: unknown = null;
    const pages = c.importFull(null, noContext)[Symbol.asyncIterator]();
    for (let i = 0; i < 2; i++) {
      const page = await pages.next();
      first.push(...page.value.objects.map((o: { anchor: string }) => o.anchor));
      checkpoint = page.value.checkpoint;
    }
    let failure: unknown;
    await ldap.restart(async () => {
      failure = await pages.next().then(
        () => undefined,
        (e: unknown) => e,
      );
    });
    expect(failure).toBeInstanceOf(ConnectorError);
    expect(failure).toMatchObject({ code: "CONNECTION_FAILED", transient: true });

    // The same connector reconnects and binds again by itself.
    const rest = objectsOf(await collect(c.importFull(checkpoint, noContext))).map((o) => o.anchor);
    const all = new Set([...first, ...rest]);
    expect(first.length + rest.length).toBe(all.size);
    const total = objectsOf(await collect(c.importFull(null, noContext))).length;
    expect(all.size).toBe(total);
  });

  it("a server that bounces between two pages: the dead paged search is CONNECTION_FAILED (transient), not a protocol error", async () => {
    const c = await connector({ pageSize: 50 });
    const pages = c.importFull(null, noContext)[Symbol.asyncIterator]();
    await pages.next();
    await ldap.restart();
    const failure = await pages.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toMatchObject({ code: "CONNECTION_FAILED", transient: true });
  });

  it("a connection dropped mid-export: affected changes are TRANSIENT_FAILURE, the next export reconnects", async () => {
    const c = await connector({ concurrency: 8 });
    const changes: ExportChange[] = Array.from({ length: 1500 }, (_, i) => ({
      id: `x${i}`,
      changeType: "CREATE",
      objectType: "person",
      dn: `uid=drop${i},ou=people,${ldap.baseDn}`,
      attributes: [
        { attribute: "cn", operation: "ADD", values: [`Drop ${i}`] },
        { attribute: "sn", operation: "ADD", values: ["Drop"] },
      ],
    }));
    await c.testConnection(); // warm: the drop must hit requests in flight, not the first bind
    const running = c.export(changes);
    await new Promise((r) => setTimeout(r, 60));
    await ldap.restart(async () => {
      await new Promise((r) => setTimeout(r, 50));
    });
    const results = await running;
    expect(results).toHaveLength(changes.length);
    const failed = results.filter((r) => r.status !== "APPLIED");
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed)
      expect(f).toMatchObject({ status: "TRANSIENT_FAILURE", code: expect.stringMatching(/CONNECTION_FAILED|TIMEOUT/) });

    // Retrying the failed ones on the same connector: a change whose reply was lost may already exist.
    const ids = new Set(failed.map((f) => f.id));
    const retry = await c.export(changes.filter((ch) => ids.has(ch.id)));
    expect(retry.filter((r) => r.status !== "APPLIED")).toEqual([]);
    const count = await withAdmin(ldap, (client) =>
      client.search(`ou=people,${ldap.baseDn}`, { filter: "(uid=drop*)", attributes: ["1.1"] }),
    );
    expect(count.searchEntries).toHaveLength(changes.length);
  });
});

describe("LDAP connector: idempotent export", () => {
  const person = (id: string, uid: string, attributes: Record<string, string[]>): ExportChange => ({
    id,
    changeType: "CREATE",
    objectType: "person",
    dn: `uid=${uid},ou=people,${ldap.baseDn}`,
    attributes: Object.entries(attributes).map(([attribute, values]) => ({ attribute, operation: "REPLACE", values })),
  });
  const read = (uid: string) =>
    withAdmin(ldap, async (client) => {
      const { searchEntries } = await client.search(`uid=${uid},ou=people,${ldap.baseDn}`, {
        scope: "base",
        attributes: ["*", "entryUUID"],
      });
      return searchEntries[0];
    });

  it("a CREATE the server applied but whose reply was lost: the retry joins the entry and is APPLIED", async () => {
    const proxy = await startLossyProxy(Number(new URL(ldap.url).port));
    try {
      const c = await connector({ url: `ldap://127.0.0.1:${proxy.port}` });
      await c.testConnection();
      const change = person("lost1", "lostreply", { cn: ["Lost Reply"], sn: ["Reply"], mail: ["lost@example.org"] });
      proxy.loseReplyTo(ldapRequestIs(0x68));
      const [first] = await c.export([change]);
      expect(first).toMatchObject({ status: "TRANSIENT_FAILURE", code: "CONNECTION_FAILED" });
      const applied = await read("lostreply");
      expect(applied).toMatchObject({ cn: "Lost Reply", mail: "lost@example.org" });

      const [retry] = await c.export([change]);
      expect(retry).toEqual({
        id: "lost1",
        status: "APPLIED",
        anchor: applied?.entryUUID,
        dn: change.dn,
        // What the entry holds of what the CREATE sends, as an import reads it.
        attributes: {
          objectClass: ["inetOrgPerson"],
          uid: ["lostreply"],
          cn: ["Lost Reply"],
          sn: ["Reply"],
          mail: ["lost@example.org"],
        },
      });
      expect(await read("lostreply")).toMatchObject({ cn: "Lost Reply", sn: "Reply", mail: "lost@example.org" });
    } finally {
      await proxy.close();
    }
  });

  it("a CREATE meeting an entry someone else made becomes an UPDATE of the differing attributes only", async () => {
    await withAdmin(ldap, (client) =>
      client.add(`uid=byhand,ou=people,${ldap.baseDn}`, {
        objectClass: "inetOrgPerson",
        uid: "byhand",
        cn: "Old Name",
        sn: "Hand",
        description: "made by hand",
      }),
    );
    const before = await read("byhand");
    const c = await connector();
    const [result] = await c.export([person("hand1", "byhand", { cn: ["New Name"], sn: ["Hand"], mail: ["hand@example.org"] })]);
    expect(result).toEqual({
      id: "hand1",
      status: "APPLIED",
      anchor: before?.entryUUID,
      dn: `uid=byhand,ou=people,${ldap.baseDn}`,
      // The wanted attributes as reconciled; description, which the CREATE does not set, is not said.
      attributes: {
        objectClass: ["inetOrgPerson"],
        uid: ["byhand"],
        cn: ["New Name"],
        sn: ["Hand"],
        mail: ["hand@example.org"],
      },
    });
    // Attributes the export does not manage stay as they were.
    expect(await read("byhand")).toMatchObject({
      cn: "New Name",
      sn: "Hand",
      mail: "hand@example.org",
      description: "made by hand",
    });
    // The server saw one modify, naming only what differed.
    const log = await withAdmin(ldap, (client) =>
      client.search("cn=accesslog", {
        filter: `(&(reqType=modify)(reqDN=uid=byhand,ou=people,${ldap.baseDn}))`,
        attributes: ["reqMod"],
      }),
    );
    expect(log.searchEntries).toHaveLength(1);
    const mods = [log.searchEntries[0]?.reqMod].flat().map((m) => String(m).split(":")[0]);
    expect(mods.filter((m) => !/^(entryCSN|modifiersName|modifyTimestamp)$/.test(m ?? ""))).toEqual(["cn", "mail"]);
  });

  it("a DELETE of an entry that is already gone is APPLIED", async () => {
    const c = await connector();
    const [result] = await c.export([
      { id: "gone1", changeType: "DELETE", objectType: "person", dn: `uid=neverthere,ou=people,${ldap.baseDn}`, attributes: [] },
    ]);
    expect(result).toMatchObject({ id: "gone1", status: "APPLIED" });
  });
});

describe("LDAP connector over TLS", () => {
  let secure: Slapd;
  const tlsConnectors: Connector[] = [];
  beforeAll(async () => {
    secure = await startSlapd({ tls: true });
  });
  afterAll(async () => {
    await Promise.all(tlsConnectors.map((c) => c.close()));
    await secure?.stop();
  });
  const over = (extra: Record<string, unknown>) =>
    createConnector(
      "LDAP",
      { bindDn: secure.bindDn, bindPassword: secure.password, baseDn: secure.baseDn, ...extra },
      { logger },
    ).then((c) => {
      tlsConnectors.push(c);
      return c;
    });

  it("binds over ldaps:// and StartTLS with the configured CA, and refuses an untrusted certificate", async () => {
    await expect((await over({ url: secure.ldapsUrl, tlsCa: secure.caCert })).testConnection(3000)).resolves.toBeDefined();
    const startTls = await over({ url: secure.url, startTls: true, tlsCa: secure.caCert });
    await expect(startTls.testConnection(3000)).resolves.toBeDefined();
    const [created] = await startTls.export([
      {
        id: "t1",
        changeType: "CREATE",
        objectType: "person",
        dn: `uid=tls,ou=people,${secure.baseDn}`,
        attributes: [
          { attribute: "cn", operation: "ADD", values: ["TLS"] },
          { attribute: "sn", operation: "ADD", values: ["TLS"] },
        ],
      },
    ]);
    expect(created).toMatchObject({ status: "APPLIED" });
    const err = await (await over({ url: secure.ldapsUrl })).testConnection(3000).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CONNECTION_FAILED", transient: false });
  });
});
