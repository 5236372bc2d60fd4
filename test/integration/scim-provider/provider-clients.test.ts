import { describe, expect, it } from "vitest";
import { waitFor } from "../../fixtures/runs.ts";
import { ERROR, FOLLOWS_MS, PATCH_OP, USER_SCHEMA, useScimProvider } from "../../helpers/scim-provider.ts";

// The SCIM 2.0 service provider through HTTP (test/helpers/scim-provider.ts): a validator-style
// CRUD sequence whose user reaches the CSV phone book and leaves it, and concurrent clients.
const { provider, scim, phonebook, stored } = useScimProvider();

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
      const all = await provider().h.services.db.prisma.run.findMany({
        where: { trigger: "REALTIME" },
        select: { profile: true, status: true },
      });
      return all.every((r) => !["QUEUED", "RUNNING"].includes(r.status)) && all;
    });
    expect(runs.filter((r) => r.profile === "REALTIME").length).toBeGreaterThan(0);
    expect(runs.filter((r) => r.status !== "COMPLETED")).toEqual([]);
    expect(await provider().h.services.db.prisma.inboxEntry.count({ where: { appliedAt: null } })).toBe(0);
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
