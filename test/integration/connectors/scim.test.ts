import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Connector, ExportChange } from "../../../src/connectors/connector.ts";
import { createConnector } from "../../../src/connectors/index.ts";
import { createLogger } from "../../../src/logger.ts";
import { createSecretBox } from "../../../src/secrets.ts";
import { expectError } from "../../helpers/connector-errors.ts";
import { collect, MemoryImportContext } from "../../helpers/import-context.ts";
import { CUSTOM_USER, type ScimServer, startScimServer } from "../../helpers/scim-server.ts";

// The SCIM connector against scimmy (someone else's SCIM 2.0 server), in memory, on a free port.
let scim: ScimServer;
const logger = createLogger({ logLevel: "silent" });
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

beforeAll(async () => {
  scim = await startScimServer({ basic: { username: "metasync", password: "s3cret" } });
});
afterAll(() => scim?.stop());
beforeEach(() => {
  scim.users.clear();
  scim.groups.clear();
  scim.requests.clear();
  scim.features({ patch: true, bulk: true, filter: true, cursor: false });
  scim.throttle(0, "0");
});

const connector = (config: Record<string, unknown> = {}): Promise<Connector> =>
  createConnector("SCIM", { baseUrl: scim.baseUrl, bearerToken: scim.token, useBulk: false, ...config }, { logger });

const person = (id: string, employee: string, extra: ExportChange["attributes"] = []): ExportChange => ({
  id,
  changeType: "CREATE",
  objectType: "person",
  attributes: [
    { attribute: "userName", operation: "REPLACE", values: [`${employee.toLowerCase()}@example.org`] },
    { attribute: "externalId", operation: "REPLACE", values: [employee] },
    { attribute: "name.givenName", operation: "REPLACE", values: ["Ada"] },
    { attribute: 'emails[type eq "work"].value', operation: "REPLACE", values: [`${employee}@work.example.org`] },
    { attribute: `${ENTERPRISE}:department`, operation: "REPLACE", values: ["Engineering"] },
    { attribute: "active", operation: "REPLACE", values: ["true"] },
    ...extra,
  ],
});
const byUserName = (name: string) => [...scim.users.values()].find((u) => u.userName === name);

describe("SCIM connector", () => {
  it("tests the connection, and a wrong token is AUTH_FAILED", async () => {
    const ok = await connector();
    expect((await ok.testConnection()).message).toContain("patch, bulk, filter");
    const wrong = await connector({ bearerToken: "wrong" });
    await expectError(wrong.testConnection(), "AUTH_FAILED", false);
    const results = await wrong.export([person("c1", "E1")]);
    expect(results[0]).toMatchObject({ status: "PERMANENT_FAILURE", code: "AUTH_FAILED" });
  });

  it("authenticates with username and password (basic) instead of a token", async () => {
    const basic = await connector({ bearerToken: undefined, username: "metasync", password: "s3cret" });
    expect((await basic.testConnection()).message).toContain("SCIM");
    const [created] = await basic.export([person("c1", "E1")]);
    expect(created).toMatchObject({ status: "APPLIED" });
    const wrong = await connector({ bearerToken: undefined, username: "metasync", password: "nope" });
    await expectError(wrong.testConnection(), "AUTH_FAILED", false);
    await expectError(connector({ bearerToken: undefined, username: "metasync" }), "INVALID_INPUT", false);
    // Credentials in the URL would travel with every request (and fetch refuses them).
    await expectError(connector({ baseUrl: scim.baseUrl.replace("http://", "http://u:p@") }), "INVALID_INPUT", false);
  });

  it("pages by cursor where the service advertises it, and resumes from a page's checkpoint", async () => {
    const c = await connector();
    expect(
      (await c.export(Array.from({ length: 7 }, (_, i) => person(`c${i}`, `E${i}`)))).every((r) => r.status === "APPLIED"),
    ).toBe(true);
    scim.features({ cursor: true });
    const d = await connector({ pageSize: 3 });
    const pages = await collect(d.importFull(null, new MemoryImportContext()));
    const people = pages.filter((p) => p.objects.some((o) => o.objectType === "person"));
    expect(people.map((p) => p.objects.length)).toEqual([3, 3, 1]);
    expect(scim.requests.get("GET /Users") ?? 0).toBeGreaterThanOrEqual(3);
    // Resumed after the first page: the rest, nothing twice.
    const rest = await collect(d.importFull(people[0]!.checkpoint, new MemoryImportContext()));
    const first = new Set(people[0]!.objects.map((o) => o.anchor));
    const resumed = rest.flatMap((p) => p.objects).filter((o) => o.objectType === "person");
    expect(resumed).toHaveLength(4);
    expect(resumed.some((o) => first.has(o.anchor))).toBe(false);
    expect(rest.at(-1)?.watermark).toBeDefined();
  });

  it("discovers Users (with the enterprise extension) and Groups from /Schemas and /ResourceTypes", async () => {
    const schema = await (await connector()).discoverSchema();
    const person = schema.objectTypes.find((t) => t.name === "person");
    const group = schema.objectTypes.find((t) => t.name === "group");
    expect(person?.anchorAttribute).toBe("id");
    const names = person?.attributes.map((a) => a.name) ?? [];
    expect(names).toEqual(
      expect.arrayContaining([
        "userName",
        "name.givenName",
        'emails[type eq "work"].value',
        "active",
        `${ENTERPRISE}:department`,
      ]),
    );
    expect(person?.attributes.find((a) => a.name === "userName")).toMatchObject({ required: true, multiValued: false });
    expect(person?.attributes.find((a) => a.name === "active")).toMatchObject({ type: "BOOLEAN" });
    expect(group?.attributes.find((a) => a.name === "members")).toMatchObject({ type: "REFERENCE", multiValued: true });
  });

  it("discovers, writes and reads a custom schema extension (typed and multi-valued attributes)", async () => {
    const c = await connector();
    const schema = await c.discoverSchema();
    const attrs = schema.objectTypes.find((t) => t.name === "person")?.attributes ?? [];
    expect(attrs.find((a) => a.name === `${CUSTOM_USER}:clearance`)).toMatchObject({ type: "INTEGER", multiValued: false });
    expect(attrs.find((a) => a.name === `${CUSTOM_USER}:badges`)).toMatchObject({ type: "STRING", multiValued: true });
    const [created] = await c.export([
      person("c1", "E1", [
        { attribute: `${CUSTOM_USER}:costCode`, operation: "REPLACE", values: ["CC-7"] },
        { attribute: `${CUSTOM_USER}:clearance`, operation: "REPLACE", values: ["3"] },
        { attribute: `${CUSTOM_USER}:badges`, operation: "REPLACE", values: ["a", "b"] },
      ]),
    ]);
    const id = (created as { anchor: string }).anchor;
    expect(scim.users.get(id)?.[CUSTOM_USER]).toEqual({ costCode: "CC-7", clearance: 3, badges: ["a", "b"] });
    const [updated] = await c.export([
      {
        id: "u1",
        changeType: "UPDATE",
        objectType: "person",
        anchor: id,
        attributes: [
          { attribute: `${CUSTOM_USER}:badges`, operation: "ADD", values: ["c"] },
          { attribute: `${CUSTOM_USER}:badges`, operation: "REMOVE", values: ["a"] },
          { attribute: `${CUSTOM_USER}:clearance`, operation: "REPLACE", values: [4] },
        ],
      },
    ]);
    expect(updated).toMatchObject({ status: "APPLIED" });
    expect(scim.users.get(id)?.[CUSTOM_USER]).toEqual({ costCode: "CC-7", clearance: 4, badges: ["b", "c"] });
    const pages = await collect(c.importFull(null, new MemoryImportContext()));
    expect(pages.flatMap((p) => p.objects).find((o) => o.anchor === id)?.attributes).toMatchObject({
      [`${CUSTOM_USER}:costCode`]: "CC-7",
      [`${CUSTOM_USER}:clearance`]: 4,
      [`${CUSTOM_USER}:badges`]: ["b", "c"],
    });
  });

  it("sends a sealed secret (a password from another system) opened, and refuses it without the key", async () => {
    const box = createSecretBox(randomBytes(32));
    const sealed = box.sealValue("Initial-Passw0rd");
    const change = person("c1", "E1", [{ attribute: "password", operation: "REPLACE", values: [sealed] }]);
    const refused = await (await connector()).export([change]);
    expect(refused[0]).toMatchObject({ status: "PERMANENT_FAILURE", code: "INVALID_INPUT" });
    expect(scim.users.size).toBe(0);
    const c = await createConnector(
      "SCIM",
      { baseUrl: scim.baseUrl, bearerToken: scim.token, useBulk: false },
      { logger, openValue: (v) => box.openValue(v) },
    );
    const [created] = await c.export([change]);
    expect(created).toMatchObject({ status: "APPLIED" });
    const sent = scim.received.filter((r) => r.method === "POST" && r.path.endsWith("/Users")).at(-1);
    expect(sent?.body).toMatchObject({ userName: "e1@example.org", password: "Initial-Passw0rd" });
    expect(JSON.stringify(scim.received)).not.toContain(sealed);
  });

  it("creates, updates by PATCH (value paths, extension, rename), deactivates and deletes", async () => {
    const c = await connector();
    const [created] = await c.export([person("c1", "E1")]);
    expect(created).toMatchObject({ status: "APPLIED" });
    const id = (created as { anchor: string }).anchor;
    expect(scim.users.get(id)).toMatchObject({
      userName: "e1@example.org",
      externalId: "E1",
      name: { givenName: "Ada" },
      emails: [{ type: "work", value: "E1@work.example.org" }],
      active: true,
      [ENTERPRISE]: { department: "Engineering" },
    });
    const [updated] = await c.export([
      {
        id: "u1",
        changeType: "UPDATE",
        objectType: "person",
        anchor: id,
        attributes: [
          { attribute: "userName", operation: "REPLACE", values: ["ada.lovelace@example.org"] },
          { attribute: 'emails[type eq "work"].value', operation: "REPLACE", values: ["ada@work.example.org"] },
          { attribute: 'phoneNumbers[type eq "mobile"].value', operation: "REPLACE", values: ["+44 1"] },
          { attribute: `${ENTERPRISE}:department`, operation: "REMOVE_ALL", values: [] },
          { attribute: "active", operation: "REPLACE", values: ["false"] },
        ],
      },
    ]);
    expect(updated).toMatchObject({ status: "APPLIED", anchor: id });
    const user = scim.users.get(id);
    expect(user).toMatchObject({
      userName: "ada.lovelace@example.org",
      emails: [{ type: "work", value: "ada@work.example.org" }],
      phoneNumbers: [{ type: "mobile", value: "+44 1" }],
      active: false,
    });
    expect((user?.[ENTERPRISE] as Record<string, unknown> | undefined)?.department).toBeUndefined();
    expect(scim.requests.get("PATCH /Users/:id")).toBeGreaterThan(0);

    const deleted = await c.export([
      { id: "d1", changeType: "DELETE", objectType: "person", anchor: id, attributes: [] },
      { id: "d2", changeType: "DELETE", objectType: "person", anchor: "no-such-id", attributes: [] },
    ]);
    expect(deleted.map((r) => r.status)).toEqual(["APPLIED", "APPLIED"]);
    expect(scim.users.size).toBe(0);
  });

  it("updates by PUT of the merged resource when the service has no PATCH", async () => {
    const c = await connector();
    const [created] = await c.export([person("c1", "E1")]);
    const id = (created as { anchor: string }).anchor;
    scim.features({ patch: false });
    const d = await connector();
    const [updated] = await d.export([
      {
        id: "u1",
        changeType: "UPDATE",
        objectType: "person",
        anchor: id,
        attributes: [{ attribute: "name.familyName", operation: "REPLACE", values: ["Lovelace"] }],
      },
    ]);
    expect(updated).toMatchObject({ status: "APPLIED" });
    expect(scim.users.get(id)).toMatchObject({ name: { givenName: "Ada", familyName: "Lovelace" }, externalId: "E1" });
    expect(scim.requests.get("PUT /Users/:id")).toBeGreaterThan(0);
  });

  it("reconciles a CREATE that meets an existing user (409) by externalId and writes what differs", async () => {
    const c = await connector();
    const [first] = await c.export([person("c1", "E1")]);
    const [again] = await c.export([person("c2", "E1", [{ attribute: "title", operation: "REPLACE", values: ["Engineer"] }])]);
    expect(again).toMatchObject({ status: "APPLIED", anchor: (first as { anchor: string }).anchor });
    expect(scim.users.size).toBe(1);
    expect(byUserName("e1@example.org")).toMatchObject({ title: "Engineer" });
  });

  it("manages group members by key (externalId), groups after their members in one batch", async () => {
    const c = await connector();
    const group: ExportChange = {
      id: "g1",
      changeType: "CREATE",
      objectType: "group",
      attributes: [
        { attribute: "displayName", operation: "REPLACE", values: ["engineering"] },
        { attribute: "members", operation: "REPLACE", values: ["E1", "E2"] },
      ],
    };
    // The group comes first in the batch; its members are created before it all the same.
    const results = await c.export([group, person("p1", "E1"), person("p2", "E2")]);
    expect(results.map((r) => r.status)).toEqual(["APPLIED", "APPLIED", "APPLIED"]);
    const gid = (results[0] as { anchor: string }).anchor;
    const ids = (emp: string) => byUserName(`${emp.toLowerCase()}@example.org`)?.id;
    const memberIds = () => ((scim.groups.get(gid)?.members as { value: string }[]) ?? []).map((m) => m.value).sort();
    expect(memberIds()).toEqual([ids("E1"), ids("E2")].sort());

    const [p3] = await c.export([person("p3", "E3")]);
    expect(p3?.status).toBe("APPLIED");
    const [changed] = await c.export([
      {
        id: "g2",
        changeType: "UPDATE",
        objectType: "group",
        anchor: gid,
        attributes: [
          { attribute: "members", operation: "ADD", values: ["E3"] },
          { attribute: "members", operation: "REMOVE", values: ["E1"] },
        ],
      },
    ]);
    expect(changed).toMatchObject({ status: "APPLIED" });
    expect(memberIds()).toEqual([ids("E2"), ids("E3")].sort());

    // Import gives members back as the same keys.
    const pages = await collect((await connector()).importFull(null, new MemoryImportContext()));
    const imported = pages.flatMap((p) => p.objects).find((o) => o.objectType === "group");
    expect(imported?.attributes.members).toEqual(expect.arrayContaining(["E2", "E3"]));

    // A member that does not exist yet: the rest is applied, the change is retried later.
    const [pending] = await c.export([
      {
        id: "g3",
        changeType: "UPDATE",
        objectType: "group",
        anchor: gid,
        attributes: [{ attribute: "members", operation: "ADD", values: ["E9"] }],
      },
    ]);
    expect(pending).toMatchObject({ status: "TRANSIENT_FAILURE", code: "NOT_FOUND" });
  });

  it("resolves members from what an import read when the service does not filter", async () => {
    expect((await (await connector()).export([person("p1", "E1"), person("p2", "E2")])).map((r) => r.status)).toEqual([
      "APPLIED",
      "APPLIED",
    ]);
    scim.features({ filter: false });
    const c = await connector();
    await collect(c.importFull(null, new MemoryImportContext()));
    const [created] = await c.export([
      {
        id: "g1",
        changeType: "CREATE",
        objectType: "group",
        attributes: [
          { attribute: "displayName", operation: "REPLACE", values: ["eng"] },
          { attribute: "members", operation: "REPLACE", values: ["E1", "E2"] },
        ],
      },
    ]);
    expect(created).toMatchObject({ status: "APPLIED" });
    const gid = (created as { anchor: string }).anchor;
    expect(scim.groups.get(gid)?.members).toHaveLength(2);
    // A fresh connector reads the members' keys back one user at a time.
    const pages = await collect((await connector()).importFull(null, new MemoryImportContext()));
    expect(pages.flatMap((p) => p.objects).find((o) => o.anchor === gid)?.attributes.members).toEqual(["E1", "E2"]);
  });

  it("imports in startIndex pages, and a delta by meta.lastModified reads only what changed", async () => {
    const c = await connector({ pageSize: 4 });
    const creates = Array.from({ length: 10 }, (_, i) => person(`c${i}`, `E${i}`));
    expect((await c.export(creates)).every((r) => r.status === "APPLIED")).toBe(true);
    const context = new MemoryImportContext();
    const pages = await collect(c.importFull(null, context));
    const users = pages.flatMap((p) => p.objects).filter((o) => o.objectType === "person");
    expect(users).toHaveLength(10);
    expect(pages.filter((p) => p.objects.length).map((p) => p.objects.length)).toEqual([4, 4, 2]);
    expect(users[0]?.attributes).toMatchObject({
      userName: "e0@example.org",
      "name.givenName": "Ada",
      'emails[type eq "work"].value': "E0@work.example.org",
      [`${ENTERPRISE}:department`]: "Engineering",
      active: true,
    });
    const watermark = pages.at(-1)?.watermark;
    expect(watermark).toBeDefined();

    const target = users[3]!.anchor;
    await c.export([
      {
        id: "u",
        changeType: "UPDATE",
        objectType: "person",
        anchor: target,
        attributes: [{ attribute: "title", operation: "REPLACE", values: ["Analyst"] }],
      },
    ]);
    const delta = await collect(c.importDelta(watermark, null, context));
    const changed = delta.flatMap((p) => p.objects);
    expect(changed.map((o) => o.anchor)).toEqual([target]);
    expect(changed.find((o) => o.anchor === target)?.attributes.title).toBe("Analyst");
  });

  it("waits out 429 and 503 with Retry-After, and gives up transiently past maxRetryAfterMs", async () => {
    const c = await connector();
    scim.throttle(2, "1");
    const [created] = await c.export([person("c1", "E1")]);
    expect(created).toMatchObject({ status: "APPLIED" });
    expect(scim.users.size).toBe(1);
    scim.throttle(1, new Date(Date.now() + 1000).toUTCString(), 503);
    expect((await c.testConnection()).message).toContain("SCIM");
    scim.throttle(1, "120");
    const d = await connector({ maxRetryAfterMs: 5000 });
    await expectError(d.testConnection(), "CONNECTION_FAILED", true);
  });

  it("sends creates, updates and deletes through /Bulk when advertised", async () => {
    const c = await connector({ useBulk: true });
    const results = await c.export(Array.from({ length: 30 }, (_, i) => person(`c${i}`, `E${i}`)));
    expect(results.every((r) => r.status === "APPLIED")).toBe(true);
    expect(scim.users.size).toBe(30);
    expect(scim.requests.get("POST /Bulk")).toBeGreaterThan(0);
    expect(scim.requests.get("POST /Users") ?? 0).toBe(0);
    const anchors = results.map((r) => (r as { anchor: string }).anchor);
    expect(new Set(anchors).size).toBe(30);
    const again = await c.export([
      person("dup", "E0"),
      {
        id: "u",
        changeType: "UPDATE",
        objectType: "person",
        anchor: anchors[1],
        attributes: [{ attribute: "title", operation: "REPLACE", values: ["X"] }],
      },
      { id: "d", changeType: "DELETE", objectType: "person", anchor: anchors[2], attributes: [] },
    ]);
    expect(again.map((r) => r.status)).toEqual(["APPLIED", "APPLIED", "APPLIED"]);
    expect(again[0]).toMatchObject({ anchor: anchors[0] });
    expect(scim.users.get(anchors[1]!)?.title).toBe("X");
    expect(scim.users.has(anchors[2]!)).toBe(false);
  });
});
