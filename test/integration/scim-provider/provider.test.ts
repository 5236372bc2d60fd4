import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { type ExampleHarness, startExample } from "../../helpers/examples.ts";

// The SCIM 2.0 service provider of a SCIM_INBOUND system through HTTP on a free port, with a real
// worker draining its inbox: RFC 7644's own request examples, a validator-style CRUD and filter
// sequence, a pushed user reaching a CSV phone book through an outbound rule, and hostile callers.
let h: ExampleHarness;
let app: TestApp;
const TOKEN = "idp-token-0123456789abcdef";
const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";
// How long a change may take to reach connector space and the phone book. What this file checks
// is that it gets there, not how fast (bench:realtime measures that): in one CI run of the whole
// suite a replace took more than 20 s to reach the phone book, which runs alone do in well under 1 s.
const FOLLOWS_MS = 60_000;

const DOCUMENT = `
connectedSystems:
  - name: idp
    kind: SCIM_INBOUND
    description: An identity provider pushing users
    config:
      bearerToken: \${IDP_TOKEN}
  - name: phonebook
    kind: CSV
    breaker: { maxDeletes: 20 }
    config:
      path: \${EXPORT_DIR}/phonebook.csv
      anchor: userName
      objectType: entry
syncRules:
  - name: idp-in
    connectedSystem: idp
    direction: INBOUND
    objectType: person
    metaverseObjectType: person
    projectToMetaverse: true
    mvoDeletionRule: WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS
    joinRules: [{ source: userName, metaverseAttribute: userName }]
    attributeFlows:
      - { target: userName, source: userName }
      - { target: givenName, source: name.givenName }
      - { target: sn, source: name.familyName }
      - { target: mail, source: 'emails[type eq "work"].value' }
  - name: phonebook-out
    connectedSystem: phonebook
    direction: OUTBOUND
    objectType: entry
    metaverseObjectType: person
    provisionToConnector: true
    deprovision: DELETE
    attributeFlows:
      - { target: userName, source: userName }
      - { target: name, expression: "givenName & ' ' & sn" }
      - { target: email, source: mail }
`;

beforeAll(async () => {
  h = await startExample(null);
  app = await startTestApp(h.services);
  const file = path.join(h.files, "idp.yaml");
  writeFileSync(file, DOCUMENT);
  const env = { IDP_TOKEN: TOKEN, EXPORT_DIR: h.files };
  await h.cli(["apply", file], env);
  await h.cli(["systems", "discover", "idp", "phonebook"], env);
});
afterAll(async () => {
  await app?.stop();
  await h?.stop();
});

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function scim(
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
  system = "idp",
): Promise<Answer> {
  const res = await fetch(`${app.url}/scim/v2/${system}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body !== undefined ? { "content-type": "application/scim+json" } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const phonebook = () => {
  try {
    return readFileSync(path.join(h.files, "phonebook.csv"), "utf8");
  } catch {
    return "";
  }
};

/** The connector-space object of a SCIM id, once the REALTIME run applied it. */
async function stored(anchor: string) {
  const idp = await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "idp" } });
  return h.services.db.prisma.connectorSpaceObject.findFirst({ where: { anchor, status: "NORMAL", connectedSystemId: idp.id } });
}

describe("RFC 7644 examples", () => {
  let bjensen: string;

  it("3.3 creates a user: 201, Location, id, meta, the enterprise extension kept", async () => {
    // RFC 7644 3.3, with the enterprise extension of RFC 7643 4.3.
    const created = await scim("POST", "/Users", {
      schemas: [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
      userName: "bjensen",
      externalId: "bjensen",
      name: { formatted: "Ms. Barbara J Jensen III", familyName: "Jensen", givenName: "Barbara" },
      emails: [{ value: "bjensen@example.com", type: "work", primary: true }],
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { employeeNumber: "701984", department: "Tour Operations" },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("content-type")).toBe("application/scim+json");
    bjensen = created.body.id;
    expect(created.headers.get("location")).toBe(`${app.url}/scim/v2/idp/Users/${bjensen}`);
    expect(created.body).toMatchObject({
      userName: "bjensen",
      meta: { resourceType: "User", location: `${app.url}/scim/v2/idp/Users/${bjensen}`, created: expect.any(String) },
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { department: "Tour Operations" },
    });
    // Read back at once (the inbox is read through), then in connector space once applied.
    expect((await scim("GET", `/Users/${bjensen}`)).body.name.givenName).toBe("Barbara");
    const cso = await waitFor(() => stored(bjensen), FOLLOWS_MS, 100);
    expect(cso.attributes).toMatchObject({
      userName: "bjensen",
      "name.givenName": "Barbara",
      'emails[type eq "work"].value': "bjensen@example.com",
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Tour Operations",
    });
    // ...and it reached the phone book through the outbound rule.
    await waitFor(async () => phonebook().includes("bjensen@example.com"), FOLLOWS_MS, 100);
    expect(phonebook()).toContain("Barbara Jensen");
  });

  it("3.3 refuses a second bjensen (any case) with 409 uniqueness", async () => {
    const again = await scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "BJensen" });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ schemas: [ERROR], status: "409", scimType: "uniqueness" });
  });

  it("3.5.2 PATCH: add, replace at a value-filter path, remove, and members", async () => {
    const add = await scim("PATCH", `/Users/${bjensen}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "add", value: { emails: [{ value: "babs@jensen.org", type: "home" }], nickName: "Babs" } }],
    });
    expect(add.status).toBe(200);
    expect(add.body.nickName).toBe("Babs");
    expect(add.body.emails).toHaveLength(2);
    const replace = await scim("PATCH", `/Users/${bjensen}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "replace", path: 'emails[type eq "work"].value', value: "barbara@example.com" }],
    });
    expect(replace.body.emails).toContainEqual({ value: "barbara@example.com", type: "work", primary: true });
    const remove = await scim("PATCH", `/Users/${bjensen}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "remove", path: 'emails[type eq "home"]' }],
    });
    expect(remove.body.emails).toEqual([{ value: "barbara@example.com", type: "work", primary: true }]);

    // Groups: members are user ids; add then remove one (3.5.2.1 and 3.5.2.2's members examples).
    const jsmith = (await scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "jsmith" })).body.id;
    const group = await scim("POST", "/Groups", {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
      displayName: "Tour Guides",
      members: [{ value: bjensen, display: "Babs Jensen" }],
    });
    expect(group.status).toBe(201);
    const added = await scim("PATCH", `/Groups/${group.body.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "add", path: "members", value: [{ display: "James Smith", value: jsmith }] }],
    });
    expect(added.body.members.map((m: any) => m.value).sort()).toEqual([bjensen, jsmith].sort());
    const removed = await scim("PATCH", `/Groups/${group.body.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "remove", path: `members[value eq "${bjensen}"]` }],
    });
    expect(removed.body.members.map((m: any) => m.value)).toEqual([jsmith]);
    const unknownMember = await scim("PATCH", `/Groups/${group.body.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "add", path: "members", value: [{ value: "no-such-user" }] }],
    });
    expect(unknownMember).toMatchObject({ status: 400, body: { scimType: "invalidValue" } });
    // The group's members reach connector space as the members' ids.
    await waitFor(
      async () => {
        const cso = await stored(group.body.id);
        return JSON.stringify((cso?.attributes as any)?.members) === JSON.stringify([jsmith]);
      },
      FOLLOWS_MS,
      100,
    );
  });

  it("3.5.2 PATCH errors: invalidPath, noTarget, invalidSyntax, 404", async () => {
    const badPath = await scim("PATCH", `/Users/${bjensen}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "replace", path: "no.such[attribute", value: "x" }],
    });
    expect(badPath.status).toBe(400);
    expect(["invalidPath", "invalidFilter", "invalidValue"]).toContain(badPath.body.scimType);
    const noPath = await scim("PATCH", `/Users/${bjensen}`, { schemas: [PATCH_OP], Operations: [{ op: "remove" }] });
    expect(noPath.body).toMatchObject({ status: "400", scimType: "noTarget" });
    const badOp = await scim("PATCH", `/Users/${bjensen}`, { schemas: [PATCH_OP], Operations: [{ op: "explode" }] });
    expect(badOp.body).toMatchObject({ status: "400", scimType: "invalidSyntax" });
    expect(
      (await scim("PATCH", "/Users/nobody", { schemas: [PATCH_OP], Operations: [{ op: "add", value: { title: "x" } }] })).status,
    ).toBe(404);
  });

  it("3.4.2.2 filters: eq, ne, co, sw, pr, and, or, meta.lastModified gt; startIndex/count; attributes", async () => {
    const before = new Date(Date.now() - 60_000).toISOString();
    for (const [userName, title] of [
      ["ada", "Engineer"],
      ["alan", "Engineer"],
      ["grace", "Admiral"],
    ])
      expect(
        (await scim("POST", "/Users", { schemas: [USER_SCHEMA], userName, title, externalId: `x-${userName}` })).status,
      ).toBe(201);
    const names = async (filter: string, extra = "") => {
      const r = await scim("GET", `/Users?filter=${encodeURIComponent(filter)}${extra}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body.Resources.map((u: any) => u.userName).sort();
    };
    expect(await names('userName eq "bjensen"')).toEqual(["bjensen"]);
    expect(await names('userName eq "BJENSEN"')).toEqual(["bjensen"]); // userName is not case-exact
    expect(await names('externalId eq "x-ada"')).toEqual(["ada"]);
    expect(await names('title ne "Engineer" and title pr')).toEqual(["grace"]);
    expect(await names('userName co "a" and title eq "Engineer"')).toEqual(["ada", "alan"]);
    expect(await names('userName sw "gr" or userName sw "js"')).toEqual(["grace", "jsmith"]);
    expect(await names('emails[type eq "work" and value co "@example.com"]')).toEqual(["bjensen"]);
    expect(await names(`meta.lastModified gt "${before}" and title eq "Admiral"`)).toEqual(["grace"]);
    expect(await names(`meta.lastModified gt "2999-01-01T00:00:00Z"`)).toEqual([]);

    const page = await scim("GET", "/Users?startIndex=2&count=2&attributes=userName");
    expect(page.body).toMatchObject({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
      totalResults: 5,
      startIndex: 2,
      itemsPerPage: 2,
    });
    expect(Object.keys(page.body.Resources[0]).sort()).toEqual(["id", "userName"]);
    const excluded = await scim("GET", `/Users/${bjensen}?excludedAttributes=emails,name`);
    expect(excluded.body.emails).toBeUndefined();
    expect(excluded.body.userName).toBe("bjensen");

    const bad = await scim("GET", `/Users?filter=${encodeURIComponent('userName eqq "x"')}`);
    expect(bad).toMatchObject({ status: 400, body: { schemas: [ERROR], status: "400", scimType: "invalidFilter" } });
  });

  it("serves /ServiceProviderConfig, /ResourceTypes and /Schemas", async () => {
    const spc = await scim("GET", "/ServiceProviderConfig");
    expect(spc.body).toMatchObject({ patch: { supported: true }, filter: { supported: true }, bulk: { supported: false } });
    const types = await scim("GET", "/ResourceTypes");
    expect(types.body.Resources.map((t: any) => t.endpoint)).toEqual(["/Users", "/Groups"]);
    const schemas = await scim("GET", "/Schemas");
    expect(schemas.body.Resources.map((s: any) => s.id)).toContain(USER_SCHEMA);
    const user = await scim("GET", `/Schemas/${USER_SCHEMA}`);
    expect(user.body.attributes.map((a: any) => a.name)).toContain("userName");
  });
});

describe("a validator's CRUD sequence", () => {
  it("create, get, list by userName, replace, patch active false, delete, get 404; the phone book follows", async () => {
    const created = await scim("POST", "/Users", {
      schemas: [USER_SCHEMA],
      userName: "validator.user@example.com",
      active: true,
      name: { givenName: "Val", familyName: "Idator" },
      emails: [{ type: "work", value: "validator.user@example.com", primary: true }],
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect((await scim("GET", `/Users/${id}`)).body.userName).toBe("validator.user@example.com");
    const listed = await scim("GET", `/Users?filter=${encodeURIComponent('userName eq "validator.user@example.com"')}`);
    expect(listed.body.totalResults).toBe(1);
    expect(listed.body.Resources[0].id).toBe(id);

    const replaced = await scim("PUT", `/Users/${id}`, {
      schemas: [USER_SCHEMA],
      userName: "validator.user@example.com",
      active: true,
      name: { givenName: "Valerie", familyName: "Idator" },
      emails: [{ type: "work", value: "validator.user@example.com", primary: true }],
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.name.givenName).toBe("Valerie");
    expect(replaced.body.meta.created).toBe(created.body.meta.created);
    await waitFor(async () => phonebook().includes("Valerie Idator"), FOLLOWS_MS, 100);

    const patched = await scim("PATCH", `/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: "replace", path: "active", value: false }],
    });
    expect(patched.body.active).toBe(false);
    expect((await scim("GET", `/Users/${id}`)).body.active).toBe(false);

    expect((await scim("DELETE", `/Users/${id}`)).status).toBe(204);
    const gone = await scim("GET", `/Users/${id}`);
    expect(gone).toMatchObject({ status: 404, body: { schemas: [ERROR], status: "404" } });
    expect((await scim("DELETE", `/Users/${id}`)).status).toBe(404);
    // Deleted in connector space, the identity went with it, and so did its phone book row.
    await waitFor(async () => (await stored(id)) === null && !phonebook().includes("Valerie Idator"), FOLLOWS_MS, 100);
    // Every change was applied by REALTIME runs through the start gate, and the inbox is empty.
    const runs = await waitFor(async () => {
      const all = await h.services.db.prisma.run.findMany({
        where: { trigger: "REALTIME" },
        select: { profile: true, status: true },
      });
      return all.every((r) => !["QUEUED", "RUNNING"].includes(r.status)) && all;
    });
    expect(runs.filter((r) => r.profile === "REALTIME").length).toBeGreaterThan(0);
    expect(runs.filter((r) => r.status !== "COMPLETED")).toEqual([]);
    expect(await h.services.db.prisma.inboxEntry.count({ where: { appliedAt: null } })).toBe(0);
  });
});

describe("concurrent clients", () => {
  it("of eight POSTs of one userName at once, one is created and seven get 409; eight PATCHes at once all apply", async () => {
    const posts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: i % 2 ? "Twin" : "twin" })),
    );
    expect(posts.map((p) => p.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    const id = posts.find((p) => p.status === 201)!.body.id;
    // Each PATCH adds its own entitlement: none is lost to another read before its write.
    const patches = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        scim("PATCH", `/Users/${id}`, {
          schemas: [PATCH_OP],
          Operations: [{ op: "add", path: "entitlements", value: [{ value: `badge-${i}` }] }],
        }),
      ),
    );
    expect(patches.every((p) => p.status === 200)).toBe(true);
    const user = await scim("GET", `/Users/${id}`);
    expect(user.body.entitlements.map((e: any) => e.value).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `badge-${i}`));
  });
});

describe("hostile callers", () => {
  it("refuses a wrong or missing token (401), an unknown system (404), a foreign Origin, a huge or malformed body, a NUL character, storing nothing", async () => {
    const before = await h.services.db.prisma.inboxEntry.count();
    const user = { schemas: [USER_SCHEMA], userName: "mallory" };
    const wrong = await scim("POST", "/Users", user, { authorization: "Bearer not-the-token-at-all" });
    expect(wrong).toMatchObject({ status: 401, body: { schemas: [ERROR], status: "401" } });
    expect(wrong.headers.get("www-authenticate")).toContain("Bearer");
    expect((await scim("GET", "/Users", undefined, { authorization: "" })).status).toBe(401);
    expect((await scim("GET", "/Users", undefined, { authorization: "Basic bWFsbG9yeTp4" })).status).toBe(401);
    expect((await scim("POST", "/Users", user, {}, "no-such-system")).status).toBe(404);
    // Another kind of system is not a SCIM service provider.
    expect((await scim("GET", "/Users", undefined, {}, "phonebook")).status).toBe(404);
    const foreign = await scim("POST", "/Users", user, { origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    const huge = await scim("POST", "/Users", { ...user, title: "x".repeat(1_100_000) });
    expect(huge).toMatchObject({ status: 413, body: { status: "413" } });
    const malformed = await scim("POST", "/Users", "{not json");
    expect(malformed).toMatchObject({ status: 400, body: { schemas: [ERROR], status: "400", scimType: "invalidSyntax" } });
    const form = await scim("POST", "/Users", "userName=mallory", { "content-type": "application/x-www-form-urlencoded" });
    expect(form.status).toBe(415);
    // U+0000 cannot be stored: the client's invalid value, not a server error.
    const nul = await scim("POST", "/Users", { ...user, displayName: "Mal\u0000lory" });
    expect(nul).toMatchObject({ status: 400, body: { scimType: "invalidValue" } });
    const noUserName = await scim("POST", "/Users", { schemas: [USER_SCHEMA], title: "nobody" });
    expect(noUserName).toMatchObject({ status: 400, body: { scimType: "invalidValue" } });
    expect((await scim("GET", "/Spaceships")).status).toBe(404);
    expect(await h.services.db.prisma.inboxEntry.count()).toBe(before);
  });

  it("slows a token guesser down: past 10 wrong tokens from one address it is answered 429 without a comparison; the real token still works", async () => {
    const guesses: number[] = [];
    for (let i = 0; i < 12; i++)
      guesses.push((await scim("GET", "/Users", undefined, { authorization: `Bearer guess-${i}` })).status);
    // The earlier test's one wrong token counts too: 9 more are 401, the rest 429.
    expect(guesses.filter((s) => s === 401)).toHaveLength(9);
    expect(guesses.slice(9)).toEqual([429, 429, 429]);
    const throttled = await scim("GET", "/Users", undefined, { authorization: "Bearer guess-13" });
    expect(throttled).toMatchObject({ status: 429, body: { schemas: [ERROR], status: "429" } });
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(0);
    // Even the right token would be answered 429 without comparison for a stranger, but the
    // client that has used it already keeps working from the same address.
    expect((await scim("GET", "/Users")).status).toBe(200);
  });
});
