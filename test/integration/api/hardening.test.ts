import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../helpers/app.ts";
import { createCsvSystem, insertMvos, insertRun } from "../../helpers/fixtures.ts";
import { createTestServices } from "../../helpers/services.ts";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.stop());

// Valid fields nested 50 deep: MetaverseObject.connectors -> ConnectorSpaceObject.metaverseObject -> ...
const deep = () => {
  let q = "id";
  for (let i = 0; i < 24; i++) q = `connectors { metaverseObject { ${q} } }`;
  return `{ metaverseObject(id: "00000000-0000-4000-8000-000000000000") { ${q} } }`;
};
const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: health { status }`).join(" ")} }`;

async function stillServing() {
  const r = await app.gql("{ health { status } }");
  expect(r.data.health.status).toBe("ok");
}

describe("query limits", () => {
  it("rejects a depth-50 query with QUERY_TOO_COMPLEX and keeps serving", async () => {
    const r = await app.gql(deep());
    expect(r.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");
    expect(r.errors?.[0]?.message).toMatch(/limit of \d+ exceeded/);
    expect(r.data ?? null).toBeNull();
    await stillServing();
  });

  it("rejects a 1,000-alias query with QUERY_TOO_COMPLEX", async () => {
    const r = await app.gql(aliases(1000));
    expect(r.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");
    expect((await app.gql(aliases(20))).data.a19).toEqual({ status: "ok" });
    await stillServing();
  });

  it("rejects the same over WebSocket as an error, not a closed socket", async () => {
    const client = app.ws();
    const result = (query: string) =>
      new Promise<{ errors?: { extensions?: { code?: string } }[]; data?: unknown }>((resolve, reject) => {
        client.subscribe(
          { query },
          {
            next: (v) => resolve(v as never),
            error: (e) => (Array.isArray(e) ? resolve({ errors: e }) : reject(e)),
            complete: () => {},
          },
        );
      });
    const rejected = await result(deep());
    expect(rejected.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");
    expect((await result("{ health { status } }")).data).toEqual({ health: { status: "ok" } });
  });

  it("refuses an oversized body with 413 PAYLOAD_TOO_LARGE and a chunked one with 411", async () => {
    const big = JSON.stringify({ query: "{ __typename }", variables: { pad: "x".repeat(1_100_000) } });
    const res = await fetch(`${app.url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: big });
    expect(res.status).toBe(413);
    expect((await res.json()).errors[0].extensions.code).toBe("PAYLOAD_TOO_LARGE");
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request(`${app.url}/graphql`, { method: "POST", headers: { "content-type": "application/json" } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write('{"query":"{ __typename }"}');
      req.end();
    });
    expect(chunked).toBe(411);
    await stillServing();
  });

  it("masks unexpected errors: no SQL or stack reaches the client", async () => {
    const r = await app.gql(`{ metaverseObjects(where: { attribute: "uid", equals: "a\\u0000b" }) { totalCount } }`);
    expect(r.errors?.[0]?.extensions?.code).toBe("INTERNAL_SERVER_ERROR");
    expect(r.errors?.[0]?.message).toBe("Unexpected error.");
    expect(JSON.stringify(r)).not.toMatch(/SELECT|metaverse_object|at \w+ \(/);
    await stillServing();
  });
});

describe("list arguments and repeated wide fields", () => {
  it("refuses nodes(ids) with more than 100 ids, literal or in a variable, and serves 100", async () => {
    const ids = Array.from({ length: 101 }, (_, i) => `id-${i}`);
    const literal = await app.gql(`{ nodes(ids: [${ids.map((id) => JSON.stringify(id)).join(",")}]) { id } }`);
    expect(literal.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(literal.errors?.[0]?.message).toContain("at most 100");
    expect(literal.data ?? null).toBeNull();
    const variable = await app.gql("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", { ids });
    expect(variable.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    await insertMvos(app.services, 100, "listarg", "listarg");
    const page = await app.gql('{ metaverseObjects(type: "listarg", first: 100) { edges { node { id } } } }');
    const real = page.data.metaverseObjects.edges.map((e: { node: { id: string } }) => e.node.id);
    const ok = await app.gql("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", { ids: real });
    expect(ok.errors).toBeUndefined();
    expect(ok.data.nodes).toHaveLength(100);
  });

  it("costs every alias of a wide schema: 49 are refused, a few are answered", async () => {
    const { id } = await createCsvSystem(app.services, "wide-sys");
    await app.services.db.pool.query(
      `WITH t AS (INSERT INTO object_type (connected_system_id, name) VALUES ($1, 'row') RETURNING id)
       INSERT INTO attribute_definition (object_type_id, name) SELECT t.id, 'col' || i FROM t, generate_series(1, 2000) i`,
      [id],
    );
    const wide = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: connectedSystem(name: "wide-sys") { objectTypes { attributes { name type } } }`).join(" ")} }`;
    const refused = await app.gql(wide(49));
    expect(refused.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");
    expect(refused.data ?? null).toBeNull();
    const one = await app.gql(wide(2));
    expect(one.errors).toBeUndefined();
    expect(one.data.a1.objectTypes[0].attributes).toHaveLength(2000);
  });

  it("counts first/last given in variables", async () => {
    const query =
      "query ($n: Int) { metaverseObjects(first: $n) { edges { node { id connectors { id connectedSystem { name objectTypes { name } } } } } } }";
    expect((await app.gql(query, { n: 1000 })).errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");
    expect((await app.gql(query, { n: 50 })).errors).toBeUndefined();
  });
});

describe("field suggestions", () => {
  it("are given in development and withheld in production", async () => {
    expect((await app.gql("{ healt { status } }")).errors?.[0]?.message).toContain("Did you mean");
    const prod = await startTestApp(await createTestServices({ production: true }));
    try {
      const r = await prod.gql("{ healt { status } }");
      expect(r.errors?.[0]?.message).toContain("healt");
      expect(r.errors?.[0]?.message).not.toContain("Did you mean");
    } finally {
      await prod.stop();
      await prod.services.bus.close();
      await prod.services.db.close();
    }
  });
});

describe("/metrics", () => {
  it("exposes runs, pending exports, subscriptions and GraphQL latency", async () => {
    const { id } = await createCsvSystem(app.services, "metrics-sys");
    await insertRun(app.services, id, "FULL_IMPORT");
    await app.services.db.pool.query(
      `INSERT INTO pending_export (connected_system_id, change_type, status)
       SELECT $1, 'UPDATE', 'FAILED' FROM generate_series(1, 3)`,
      [id],
    );
    const client = app.ws();
    const sub = client.iterate({ query: "subscription { pendingExportChanged { id } }" });
    const pending = sub.next();
    await new Promise((r) => setTimeout(r, 300));
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toContain('metasync_runs{status="COMPLETED",profile="FULL_IMPORT"} 1');
    expect(text).toContain('metasync_pending_exports{status="FAILED"} 3');
    expect(text).toMatch(/metasync_graphql_subscriptions [1-9]/);
    expect(text).toMatch(/metasync_graphql_operation_duration_seconds_count\{operation="query",outcome="ok"\} [1-9]/);
    await sub.return?.();
    void pending;
    await new Promise((r) => setTimeout(r, 200));
    const after = await (await fetch(`${app.url}/metrics`)).text();
    expect(after).toContain("metasync_graphql_subscriptions 0");
  });
});
