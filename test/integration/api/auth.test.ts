import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthenticator } from "../../../src/server/auth.ts";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createCsvSystem, insertRun } from "../../helpers/fixtures.ts";

let app: TestApp;
const keys: Record<"reader" | "operator" | "admin" | "revoked", string> = { reader: "", operator: "", admin: "", revoked: "" };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
let systemId: string;
let runId: string;

beforeAll(async () => {
  app = await startTestApp();
  systemId = (await createCsvSystem(app.services, "auth-sys")).id;
  runId = await insertRun(app.services, systemId);
});
afterAll(() => app?.stop());

/** Close code and reason of a WebSocket connection attempt with these params. */
async function wsOutcome(params?: Record<string, unknown>) {
  const client = app.ws(params);
  return new Promise<{ ok: boolean; code?: number; reason?: string; data?: unknown }>((resolve) => {
    client.subscribe(
      { query: "{ health { status } }" },
      {
        next: (v) => resolve({ ok: true, data: v.data }),
        error: (e) => {
          const ev = e as { code?: number; reason?: string };
          resolve({ ok: false, code: ev.code, reason: ev.reason });
        },
        complete: () => {},
      },
    );
  });
}

describe("while no API key exists", () => {
  it("serves loopback clients as admin over HTTP and WebSocket", async () => {
    const r = await app.gql("{ apiKeys { id } }");
    expect(r.errors).toBeUndefined();
    expect(r.data.apiKeys).toEqual([]);
    expect(await wsOutcome()).toMatchObject({ ok: true, data: { health: { status: "ok" } } });
  });

  it("refuses clients that are not on loopback", async () => {
    const authenticate = createAuthenticator(app.services.db.prisma);
    expect(await authenticate(undefined, "10.1.2.3")).toEqual({ role: null, reason: "NOT_LOOPBACK" });
    expect(await authenticate(undefined, "::ffff:127.0.0.1")).toEqual({ role: "ADMIN", keyId: null });
  });
});

describe("once a key exists", () => {
  beforeAll(async () => {
    // The first key through the keyless loopback door; the others with it.
    const first = await app.gql(
      `mutation { createApiKey(input: { role: ADMIN, name: "root" }) { key apiKey { id role prefix } } }`,
    );
    keys.admin = first.data.createApiKey.key;
    expect(first.data.createApiKey.apiKey.prefix).toBe(keys.admin.slice(0, 12));
    for (const role of ["reader", "operator", "revoked"] as const) {
      const r = await app.gql(
        `mutation ($role: ApiRole!) { createApiKey(input: { role: $role, name: "${role}" }) { key apiKey { id } } }`,
        { role: role === "revoked" ? "ADMIN" : role.toUpperCase() },
        bearer(keys.admin),
      );
      keys[role] = r.data.createApiKey.key;
      if (role === "revoked") {
        const rev = await app.gql(
          `mutation ($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`,
          { id: r.data.createApiKey.apiKey.id },
          bearer(keys.admin),
        );
        expect(rev.data.revokeApiKey.revokedAt).toBeTruthy();
      }
    }
  });

  it("stores only a hash of each key", async () => {
    const rows = await app.services.db.pool.query<{ key_hash: string }>("SELECT key_hash FROM api_key");
    expect(rows.rows).toHaveLength(4);
    for (const key of Object.values(keys)) expect(rows.rows.map((r) => r.key_hash)).not.toContain(key);
  });

  it.each([
    ["missing", undefined, "an API key is required"],
    ["invalid", "msk_not-a-key", "invalid or revoked"],
    ["revoked", "REVOKED", "invalid or revoked"],
  ])("refuses a %s key over HTTP with 401 UNAUTHENTICATED", async (_label, key, message) => {
    const header = key === "REVOKED" ? keys.revoked : key;
    const r = await app.gql("{ __typename }", undefined, header ? bearer(header) : {});
    expect(r.status).toBe(401);
    expect(r.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    expect(r.errors?.[0]?.message).toContain(message);
    expect(r.data ?? null).toBeNull();
  });

  it("refuses an unauthenticated caller before validating: 401 and no field suggestions", async () => {
    for (const query of ["{ healt { status } }", "{ apiKey { id } }", "{ health { status } }"]) {
      const r = await app.gql(query);
      expect(r.status).toBe(401);
      expect(r.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
      expect(JSON.stringify(r)).not.toMatch(/Did you mean|Cannot query field/);
    }
  });

  it.each([
    ["missing", undefined],
    ["invalid", "Bearer msk_nope"],
    ["revoked", "REVOKED"],
  ])("closes a WebSocket with a %s key with 4401 UNAUTHENTICATED", async (_label, auth) => {
    const params = auth === undefined ? undefined : { authorization: auth === "REVOKED" ? `Bearer ${keys.revoked}` : auth };
    const outcome = await wsOutcome(params);
    expect(outcome).toMatchObject({ ok: false, code: 4401 });
    expect(outcome.reason).toMatch(/^UNAUTHENTICATED/);
  });

  it("guards /metrics with the same keys (any role), leaves /healthz open", async () => {
    expect((await fetch(`${app.url}/metrics`)).status).toBe(401);
    const ok = await fetch(`${app.url}/metrics`, { headers: bearer(keys.reader) });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("metasync_pending_exports");
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it("accepts a valid key in WebSocket connection params", async () => {
    expect(await wsOutcome({ authorization: `Bearer ${keys.reader}` })).toMatchObject({ ok: true });
  });

  // Each mutation class this branch owns, with the least role allowed to run it.
  const mutations: { name: string; least: "reader" | "operator" | "admin"; query: () => [string, Record<string, unknown>?] }[] = [
    {
      name: "approvePendingExports (operator)",
      least: "operator",
      query: () => [`mutation ($r: ID) { approvePendingExports(runId: $r) }`, { r: runId }],
    },
    {
      name: "rejectPendingExports (operator)",
      least: "operator",
      query: () => [`mutation ($r: ID) { rejectPendingExports(runId: $r) }`, { r: runId }],
    },
    {
      name: "retryPendingExports (operator)",
      least: "operator",
      query: () => [`mutation { retryPendingExports(ids: []) { id } }`],
    },
    {
      name: "createConnectedSystem (admin)",
      least: "admin",
      query: () => [
        `mutation ($n: String!) { createConnectedSystem(input: { name: $n, kind: CSV, config: { path: "/data/x.csv", anchor: "id" } }) { id } }`,
        { n: `sys-${Math.random().toString(36).slice(2, 8)}` },
      ],
    },
    {
      name: "deleteSyncRule (admin)",
      least: "admin",
      query: () => [`mutation { deleteSyncRule(id: "00000000-0000-0000-0000-000000000000") }`],
    },
    {
      name: "testConnection (admin)",
      least: "admin",
      query: () => [`mutation ($id: ID!) { testConnection(id: $id) { ok } }`, { id: systemId }],
    },
    { name: "createApiKey (admin)", least: "admin", query: () => [`mutation { createApiKey(input: { role: READER }) { key } }`] },
    { name: "apiKeys query (admin)", least: "admin", query: () => [`{ apiKeys { id } }`] },
  ];
  const rank = { reader: 1, operator: 2, admin: 3 };

  for (const m of mutations) {
    for (const role of ["reader", "operator", "admin"] as const) {
      const allowed = rank[role] >= rank[m.least];
      it(`${m.name}: ${role} is ${allowed ? "allowed" : "FORBIDDEN"}`, async () => {
        const [query, variables] = m.query();
        const r = await app.gql(query, variables, bearer(keys[role]));
        const codes = (r.errors ?? []).map((e) => e.extensions?.code);
        if (allowed) expect(codes.filter((c) => c === "FORBIDDEN" || c === "GRAPHQL_VALIDATION_FAILED")).toEqual([]);
        else expect(codes).toEqual(["FORBIDDEN"]);
        if (allowed && m.least !== "admin") expect(r.errors).toBeUndefined();
      });
    }
  }

  it("lets a reader query and subscribe", async () => {
    const r = await app.gql(
      `{ pendingExports(first: 1) { totalCount } metaverseObjects { totalCount } }`,
      undefined,
      bearer(keys.reader),
    );
    expect(r.errors).toBeUndefined();
    expect(r.data.pendingExports.totalCount).toBe(0);
  });
});
