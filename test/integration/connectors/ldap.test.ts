import net from "node:net";
import { Attribute, Change } from "ldapts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connector, ConnectorError, type ExportChange } from "../../../src/connectors/connector.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import { dnEquals } from "../../../src/connectors/ldap/dn.ts";
import { createLogger } from "../../../src/logger.ts";
import { collect, noContext, objectsOf, seedPeople, withAdmin } from "../../helpers/ldap-data.ts";
import { type Slapd, startSlapd } from "../../helpers/slapd.ts";

const logger = createLogger({ logLevel: "silent" });
let ldap: Slapd;
const open: Connector[] = [];

async function connector(extra: Record<string, unknown> = {}): Promise<Connector> {
  const c = await createConnector(
    "LDAP",
    { url: ldap.url, bindDn: ldap.bindDn, bindPassword: ldap.password, baseDn: ldap.baseDn, timeoutMs: 3000, ...extra },
    { logger },
  );
  open.push(c);
  return c;
}

async function errorOf(p: Promise<unknown>): Promise<ConnectorError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectorError);
  return err as ConnectorError;
}

const PEOPLE = 230;

beforeAll(async () => {
  ldap = await startSlapd({ overlays: ["syncprov"] });
  await seedPeople(ldap, PEOPLE);
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await ldap?.stop();
});

describe("LDAP connector: connection and schema", () => {
  it("testConnection binds and reads the base entry", async () => {
    const c = await connector();
    await expect(c.testConnection(2000)).resolves.toMatchObject({ message: expect.stringContaining(ldap.baseDn) });
  });

  it("wrong credentials are AUTH_FAILED and not transient", async () => {
    const c = await connector({ bindPassword: "wrong" });
    const err = await errorOf(c.testConnection(2000));
    expect(err).toMatchObject({ code: "AUTH_FAILED", transient: false });
    const importErr = await errorOf(collect(c.importFull(null, noContext)));
    expect(importErr.code).toBe("AUTH_FAILED");
  });

  it("nothing listening is CONNECTION_FAILED (transient)", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    const c = await connector({ url: `ldap://127.0.0.1:${port}` });
    expect(await errorOf(c.testConnection(2000))).toMatchObject({ code: "CONNECTION_FAILED", transient: true });
  });

  it("a server that accepts and never answers is TIMEOUT", async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const c = await connector({ url: `ldap://127.0.0.1:${(server.address() as net.AddressInfo).port}` });
      const started = Date.now();
      expect(await errorOf(c.testConnection(300))).toMatchObject({ code: "TIMEOUT", transient: true });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it("discovers object types from the subschema: syntaxes, multi-valued, required", async () => {
    const c = await connector({
      objectTypes: [
        { name: "person", objectClasses: ["inetOrgPerson"] },
        { name: "group", objectClasses: ["groupOfNames"] },
      ],
    });
    const { objectTypes } = await c.discoverSchema();
    const person = objectTypes.find((t) => t.name === "person")!;
    const attr = (name: string) => person.attributes.find((a) => a.name === name);
    expect(person.anchorAttribute).toBe("entryUUID");
    expect(attr("cn")).toEqual({ name: "cn", type: "STRING", multiValued: true, required: true });
    expect(attr("sn")?.required).toBe(true);
    expect(attr("mail")).toMatchObject({ type: "STRING", required: false });
    expect(attr("jpegPhoto")?.type).toBe("BINARY");
    expect(attr("userCertificate")?.type).toBe("BINARY");
    expect(attr("manager")?.type).toBe("REFERENCE");
    expect(attr("displayName")?.multiValued).toBe(false);
    const group = objectTypes.find((t) => t.name === "group")!;
    expect(group.attributes.find((a) => a.name === "member")).toMatchObject({ type: "REFERENCE", required: true });
  });
});

describe("LDAP connector: import", () => {
  it("full import pages through every entry once, with the watermark on the last page", async () => {
    const c = await connector({ pageSize: 50 });
    const pages = await collect(c.importFull(null, noContext));
    const objects = objectsOf(pages);
    expect(pages.length).toBe(Math.ceil(PEOPLE / 50));
    expect(objects).toHaveLength(PEOPLE);
    expect(new Set(objects.map((o) => o.anchor)).size).toBe(PEOPLE);
    const one = objects.find((o) => o.dn === `uid=user7,ou=people,${ldap.baseDn}`)!;
    expect(one).toMatchObject({
      objectType: "person",
      attributes: {
        uid: ["user7"],
        cn: ["User 7"],
        sn: ["Number7"],
        mail: ["user7@example.org"],
        objectClass: ["inetOrgPerson"],
      },
    });
    expect(one.anchor).toMatch(/^[0-9a-f-]{36}$/);
    expect(pages.slice(0, -1).every((p) => p.watermark === undefined)).toBe(true);
    expect(pages.at(-1)?.watermark).toMatchObject({ csn: expect.stringMatching(/^\d{14}\.\d{6}Z#/) });
  });

  it("resumes from a checkpoint after a crash: every entry exactly once", async () => {
    const c = await connector({ pageSize: 40 });
    const first: string[] = [];
    let checkpoint: unknown = null;
    for await (const page of c.importFull(null, noContext)) {
      first.push(...page.objects.map((o) => o.anchor));
      checkpoint = page.checkpoint;
      if (first.length >= 80) break; // the worker dies after committing two pages
    }
    const resumed = await collect(
      (await connector({ pageSize: 40 })).importFull(JSON.parse(JSON.stringify(checkpoint)), noContext),
    );
    const rest = objectsOf(resumed).map((o) => o.anchor);
    expect(first).toHaveLength(80);
    expect(rest).toHaveLength(PEOPLE - 80);
    expect(new Set([...first, ...rest]).size).toBe(PEOPLE);
    expect(resumed.at(-1)?.watermark).toEqual((checkpoint as { watermark: unknown }).watermark);
  });

  it("imports groups and binary attributes (base64) as their own object type", async () => {
    const photo = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x80, 0xfe]);
    await withAdmin(ldap, async (client) => {
      await client.modify(`uid=user1,ou=people,${ldap.baseDn}`, [
        new Change({ operation: "replace", modification: new Attribute({ type: "jpegPhoto", values: [photo] }) }),
      ]);
      await client.add(`cn=staff,ou=groups,${ldap.baseDn}`, {
        objectClass: "groupOfNames",
        cn: "staff",
        member: [`uid=user1,ou=people,${ldap.baseDn}`, `uid=user2,ou=people,${ldap.baseDn}`],
      });
    });
    const c = await connector({
      objectTypes: [
        { name: "person", objectClasses: ["inetOrgPerson"] },
        { name: "group", objectClasses: ["groupOfNames"] },
      ],
    });
    const objects = objectsOf(await collect(c.importFull(null, noContext)));
    const group = objects.find((o) => o.objectType === "group")!;
    expect(group.attributes.member).toEqual([`uid=user1,ou=people,${ldap.baseDn}`, `uid=user2,ou=people,${ldap.baseDn}`]);
    const user1 = objects.find((o) => o.dn === `uid=user1,ou=people,${ldap.baseDn}`)!;
    expect(user1.attributes.jpegPhoto).toEqual([photo.toString("base64")]);
    expect(objects.filter((o) => o.objectType === "person")).toHaveLength(PEOPLE);
  });

  it("delta by entryCSN reports adds and changes since the watermark; deletes show at the next full import", async () => {
    const c = await connector();
    const full = await collect(c.importFull(null, noContext));
    const watermark = full.at(-1)!.watermark;
    const empty = await collect(c.importDelta(watermark, null, noContext));
    expect(objectsOf(empty)).toEqual([]);

    await seedPeople(ldap, 2, 1000);
    await withAdmin(ldap, async (client) => {
      await client.modify(`uid=user5,ou=people,${ldap.baseDn}`, [
        new Change({ operation: "replace", modification: new Attribute({ type: "title", values: ["Engineer"] }) }),
      ]);
      await client.del(`uid=user6,ou=people,${ldap.baseDn}`);
    });
    const delta = await collect(c.importDelta(watermark, null, noContext));
    const changed = objectsOf(delta);
    expect(changed.map((o) => o.attributes.uid).sort()).toEqual([["user1000"], ["user1001"], ["user5"]]);
    expect(changed.find((o) => o.dn?.startsWith("uid=user5,"))?.attributes.title).toEqual(["Engineer"]);
    expect(delta.flatMap((p) => p.deletes)).toEqual([]);

    // The next delta from the new watermark is empty again: the boundary entry is not repeated.
    expect(objectsOf(await collect(c.importDelta(delta.at(-1)!.watermark, null, noContext)))).toEqual([]);
    const after = objectsOf(await collect(c.importFull(null, noContext)));
    const gone = objectsOf(full).find((o) => o.dn?.startsWith("uid=user6,"))!;
    expect(after.some((o) => o.anchor === gone.anchor)).toBe(false);
  });
});

describe("LDAP connector: export", () => {
  const dnOf = (uid: string) => `uid=${uid},ou=people,${ldap.baseDn}`;
  const create = (id: string, uid: string, extra: ExportChange["attributes"] = []): ExportChange => ({
    id,
    changeType: "CREATE",
    objectType: "person",
    dn: dnOf(uid),
    attributes: [
      { attribute: "cn", operation: "ADD", values: [`Export ${uid}`] },
      { attribute: "sn", operation: "ADD", values: ["Exported"] },
      ...extra,
    ],
  });

  it("creates, updates (ADD/REPLACE/REMOVE/REMOVE_ALL), renames and deletes", async () => {
    const c = await connector();
    // A real (self-signed, EC) certificate: slapd validates the certificate syntax.
    const cert =
      "MIIBhjCCAS2gAwIBAgIUPhkp767Ew98YGYhHH9A8G/roFiYwCgYIKoZIzj0EAwIwGDEWMBQGA1UEAwwNbWV0YXN5bmMtdGVzdDAgFw0yNjExMjMxODIyMDRaGA8yMTI2MTAzMDE4MjIwNFowGDEWMBQGA1UEAwwNbWV0YXN5bmMtdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABIUi2RIHvQyNrL9Tw0IovANcy84+ABzdA223F2VGpStiui/DyzO0bryF8ik2qRg6EveURn8ksGtTeisNsV9zHFKjUzBRMB0GA1UdDgQWBBSgZ4hDQuMUcpisTFQQGMj90HqvgzAfBgNVHSMEGDAWgBSgZ4hDQuMUcpisTFQQGMj90HqvgzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIEFGKWbOrOdr+Upzqps7tSkUJICfqy5qN27olCnONV5PAiAYnaWpzVArh1B2jsoM8O2/UOsGMQ0rVGcKSkcF4N8Ybg==";
    const [created] = await c.export([
      create("c1", "exp1", [
        { attribute: "mail", operation: "ADD", values: ["a@x.org", "b@x.org"] },
        { attribute: "description", operation: "ADD", values: ["temp"] },
        { attribute: "jpegPhoto", operation: "ADD", values: [Buffer.from([1, 2, 3, 250]).toString("base64")] },
        { attribute: "userCertificate", operation: "ADD", values: [cert] },
      ]),
    ]);
    expect(created).toMatchObject({
      id: "c1",
      status: "APPLIED",
      dn: dnOf("exp1"),
      anchor: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    const anchor = (created as { anchor: string }).anchor;

    const [updated] = await c.export([
      {
        id: "u1",
        changeType: "UPDATE",
        objectType: "person",
        anchor,
        dn: dnOf("exp1"),
        newDn: `uid=exp1\\, renamed,ou=groups,${ldap.baseDn}`,
        attributes: [
          { attribute: "uid", operation: "REPLACE", values: ["exp1, renamed"] },
          { attribute: "mail", operation: "REMOVE", values: ["a@x.org"] },
          { attribute: "mail", operation: "ADD", values: ["c@x.org"] },
          { attribute: "title", operation: "REPLACE", values: ["Boss"] },
          { attribute: "description", operation: "REMOVE_ALL", values: [] },
          { attribute: "employeeType", operation: "REMOVE_ALL", values: [] },
        ],
      },
    ]);
    expect(updated).toMatchObject({ status: "APPLIED", dn: `uid=exp1\\, renamed,ou=groups,${ldap.baseDn}` });

    const c2 = await connector({ baseDn: ldap.baseDn });
    const mine = objectsOf(await collect(c2.importFull(null, noContext))).find((o) => o.anchor === anchor)!;
    // slapd writes the comma as \2C; import stores the canonical spelling (canonicalDn), as rules compute it.
    expect(mine.dn).toBe(`uid=exp1\\, renamed,ou=groups,${ldap.baseDn}`);
    expect(dnEquals(mine.dn!, (updated as { dn: string }).dn)).toBe(true);
    expect(mine.attributes).toMatchObject({
      uid: ["exp1, renamed"],
      mail: ["b@x.org", "c@x.org"],
      title: ["Boss"],
      jpegPhoto: [Buffer.from([1, 2, 3, 250]).toString("base64")],
      userCertificate: [cert],
    });
    expect(mine.attributes.description).toBeUndefined();

    const [deleted] = await c.export([{ id: "d1", changeType: "DELETE", objectType: "person", anchor, attributes: [] }]);
    expect(deleted).toMatchObject({ status: "APPLIED" });
    const exists = await withAdmin(ldap, (client) => client.search(ldap.baseDn, { filter: `(entryUUID=${anchor})` }));
    expect(exists.searchEntries).toHaveLength(0);
  });

  it("escapes DN values built with escapeDnValue and many changes run in flight", async () => {
    const c = await connector({ concurrency: 8 });
    const changes = Array.from({ length: 60 }, (_, i) => create(`m${i}`, `many${i}`));
    const results = await c.export(changes);
    expect(results.map((r) => r.status)).toEqual(changes.map(() => "APPLIED"));
    expect(results.map((r) => r.id)).toEqual(changes.map((ch) => ch.id));
    expect(new Set(results.map((r) => (r as { anchor: string }).anchor)).size).toBe(60);
  });

  it("returns a typed failure per change and never throws for the batch", async () => {
    await connector().then((c) => c.export([create("dup0", "dupe")]));
    const c = await connector();
    const results = await c.export([
      create("dup", "dupe"),
      {
        id: "nf",
        changeType: "UPDATE",
        objectType: "person",
        dn: dnOf("nobody"),
        attributes: [{ attribute: "title", operation: "REPLACE", values: ["x"] }],
      },
      { id: "bad-dn", changeType: "CREATE", objectType: "person", dn: "not a dn", attributes: [] },
      { ...create("schema", "nosn"), attributes: [{ attribute: "cn", operation: "ADD", values: ["x"] }] },
      { id: "bad-dn2", changeType: "DELETE", objectType: "person", dn: "uid=x,,dc=org", attributes: [] },
      create("undef", "undef", [{ attribute: "noSuchAttribute", operation: "ADD", values: ["x"] }]),
      { id: "nodn", changeType: "CREATE", objectType: "person", attributes: [] },
      create("ok", "fine"),
    ]);
    const byId = Object.fromEntries(results.map((r) => [r.id, r]));
    expect(byId.dup).toMatchObject({ status: "APPLIED" }); // joined to the entry dup0 made
    expect(byId.nf).toMatchObject({ status: "PERMANENT_FAILURE", code: "NOT_FOUND" });
    expect(byId["bad-dn"]).toMatchObject({ status: "PERMANENT_FAILURE", code: "INVALID_INPUT" });
    expect(byId["bad-dn2"]).toMatchObject({ status: "PERMANENT_FAILURE", code: "INVALID_INPUT" });
    expect(byId.schema).toMatchObject({ status: "PERMANENT_FAILURE", code: "SCHEMA_VIOLATION" });
    expect(byId.undef).toMatchObject({ status: "PERMANENT_FAILURE", code: "SCHEMA_VIOLATION" });
    expect(byId.nodn).toMatchObject({ status: "PERMANENT_FAILURE", code: "INVALID_INPUT" });
    expect(byId.ok).toMatchObject({ status: "APPLIED" });
  });

  it("a bind DN without write access gets PERMISSION_DENIED per change, and can still import", async () => {
    const reader = `uid=reader,ou=people,${ldap.baseDn}`;
    await withAdmin(ldap, (client) =>
      client.add(reader, { objectClass: "inetOrgPerson", uid: "reader", cn: "Reader", sn: "Reader", userPassword: "readonly" }),
    );
    const c = await connector({ bindDn: reader, bindPassword: "readonly" });
    const [result] = await c.export([create("p1", "denied")]);
    expect(result).toMatchObject({ status: "PERMANENT_FAILURE", code: "PERMISSION_DENIED" });
    expect(objectsOf(await collect(c.importFull(null, noContext))).length).toBeGreaterThan(PEOPLE);
  });

  it("an offline target fails every change TRANSIENT_FAILURE (CONNECTION_FAILED) without throwing", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    const c = await connector({ url: `ldap://127.0.0.1:${port}` });
    const results = await c.export([create("o1", "o1"), create("o2", "o2")]);
    expect(results).toEqual([
      expect.objectContaining({ id: "o1", status: "TRANSIENT_FAILURE", code: "CONNECTION_FAILED" }),
      expect.objectContaining({ id: "o2", status: "TRANSIENT_FAILURE", code: "CONNECTION_FAILED" }),
    ]);
  });

  it("export with wrong credentials fails every change with AUTH_FAILED, permanent", async () => {
    const c = await connector({ bindPassword: "wrong" });
    const results = await c.export([create("w1", "w1"), create("w2", "w2")]);
    expect(results).toEqual([
      expect.objectContaining({ id: "w1", status: "PERMANENT_FAILURE", code: "AUTH_FAILED" }),
      expect.objectContaining({ id: "w2", status: "PERMANENT_FAILURE", code: "AUTH_FAILED" }),
    ]);
  });
});

describe("LDAP connector: delta resume", () => {
  it("a delta interrupted after its first page resumes from the checkpoint: every change exactly once", async () => {
    const c = await connector({ pageSize: 10 });
    const watermark = (await collect(c.importFull(null, noContext))).at(-1)!.watermark;
    await seedPeople(ldap, 35, 2000);
    const first: string[] = [];
    let checkpoint: unknown = null;
    for await (const page of c.importDelta(watermark, null, noContext)) {
      first.push(...page.objects.map((o) => o.anchor));
      checkpoint = page.checkpoint;
      break;
    }
    const resumed = await collect(c.importDelta(watermark, JSON.parse(JSON.stringify(checkpoint)), noContext));
    const rest = objectsOf(resumed).map((o) => o.anchor);
    // The first server page may also hold the boundary entry (already imported, skipped).
    expect(first.length).toBeGreaterThanOrEqual(9);
    expect(first.length + rest.length).toBe(35);
    expect(new Set([...first, ...rest]).size).toBe(35);
    expect(resumed.at(-1)?.watermark).toBeDefined();
  });
});
