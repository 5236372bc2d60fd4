import { describe, expect, it } from "vitest";
import { waitFor } from "../../fixtures/runs.ts";
import { ERROR, FOLLOWS_MS, PATCH_OP, USER_SCHEMA, useScimProvider } from "../../helpers/scim-provider.ts";

// The SCIM 2.0 service provider through HTTP (test/helpers/scim-provider.ts): RFC 7644's own
// request examples, and hostile callers.
const { provider, scim, phonebook, stored } = useScimProvider();

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
    expect(created.headers.get("location")).toBe(`${provider().app.url}/scim/v2/idp/Users/${bjensen}`);
    expect(created.body).toMatchObject({
      userName: "bjensen",
      meta: { resourceType: "User", location: `${provider().app.url}/scim/v2/idp/Users/${bjensen}`, created: expect.any(String) },
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

describe("hostile callers", () => {
  it("refuses a wrong or missing token (401), an unknown system (404), a foreign Origin, a huge or malformed body, a NUL character, storing nothing", async () => {
    const before = await provider().h.services.db.prisma.inboxEntry.count();
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
    expect(await provider().h.services.db.prisma.inboxEntry.count()).toBe(before);
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
