import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunProfile } from "../../src/generated/prisma/enums.ts";
import { waitForStatus } from "../fixtures/runs.ts";
import { startTestApp, type TestApp } from "../helpers/app.ts";
import { createWorld, type SystemName, type World } from "./world.ts";

// The malformed-input corpus (test/fixtures/malformed/, kept byte for byte: biome leaves it
// alone) replayed against the real API, the real webhook route and real runs into a real slapd.
// Every file has its expected outcome below (a file without one fails the suite): a stable code,
// located where there is a place to name; the server still answers and the other rows go through.
const CORPUS = path.join(import.meta.dirname, "../fixtures/malformed");
const files = (dir: string) => readdirSync(path.join(CORPUS, dir)).sort();
const read = (dir: string, file: string) => readFileSync(path.join(CORPUS, dir, file));

/** `{ "$repeat": "A", "times": n }` in a fixture's variables: a value too big to keep as a file. */
function expand(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expand);
  if (value && typeof value === "object") {
    const v = value as Record<string, unknown>;
    if (typeof v.$repeat === "string") return v.$repeat.repeat(Number(v.times));
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(x)]));
  }
  return value;
}

/** The request body a GraphQL fixture stands for: .graphql a query, .json a request, .txt raw bytes. */
function graphqlBody(file: string): string {
  const raw = read("graphql", file).toString("utf8");
  if (file.endsWith(".graphql")) return JSON.stringify({ query: raw });
  if (file.endsWith(".json")) return JSON.stringify(expand(JSON.parse(raw)));
  return raw;
}

const GRAPHQL: Record<string, { status: number; code: string }> = {
  "alias-bomb.graphql": { status: 200, code: "QUERY_TOO_COMPLEX" },
  "broken-json.txt": { status: 400, code: "BAD_REQUEST" },
  // Introspection is exempt from the depth limit (tools nest ofType); 300 levels are answered.
  "deep-introspection.graphql": { status: 200, code: "" },
  "deep-nesting.graphql": { status: 200, code: "QUERY_TOO_COMPLEX" },
  "directive-bomb.graphql": { status: 200, code: "QUERY_TOO_COMPLEX" },
  "field-repeat.graphql": { status: 200, code: "QUERY_TOO_COMPLEX" },
  "huge-string.json": { status: 413, code: "PAYLOAD_TOO_LARGE" },
  "nul-in-id.json": { status: 200, code: "BAD_USER_INPUT" },
  "unterminated-string.graphql": { status: 200, code: "GRAPHQL_PARSE_FAILED" },
  "wrong-literal-type.json": { status: 200, code: "GRAPHQL_VALIDATION_FAILED" },
  "wrong-variable-type.json": { status: 200, code: "GRAPHQL_VALIDATION_FAILED" },
};

/** Status, code and the located field (`path`) of each webhook fixture's answer. */
const HOOKS: Record<string, { status: number; code: string; path: string }> = {
  "deep-nesting.json": { status: 400, code: "BAD_USER_INPUT", path: "records[0]" },
  "empty-anchor.json": { status: 400, code: "BAD_USER_INPUT", path: "records[0].anchor" },
  "not-json.txt": { status: 400, code: "BAD_USER_INPUT", path: "body" },
  // PostgreSQL cannot store U+0000 in text or jsonb: refused before the inbox, naming the value.
  "nul-in-anchor.json": { status: 400, code: "BAD_USER_INPUT", path: "records[0].anchor" },
  "nul-in-value.json": { status: 400, code: "BAD_USER_INPUT", path: "records[0].attributes.name" },
  // An attribute holding an object is refused by the schema (values are scalars or lists).
  "proto-attributes.json": { status: 400, code: "BAD_USER_INPUT", path: "records[0].attributes.constructor" },
  // "__proto__" as a plain key with a string: an attribute like any other.
  "proto-string.json": { status: 202, code: "", path: "" },
  "records-not-a-list.json": { status: 400, code: "BAD_USER_INPUT", path: "records" },
  "unknown-op.json": { status: 400, code: "BAD_USER_INPUT", path: "records[0].op" },
};

describe("hostile GraphQL and webhook bodies", () => {
  let app: TestApp;
  const healthy = async () => expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("every GraphQL fixture is refused with its stable code, and the server answers the next request", async () => {
    const got: Record<string, { status: number; code: string }> = {};
    for (const file of files("graphql")) {
      const res = await fetch(`${app.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: graphqlBody(file),
      });
      const body = (await res.json().catch(() => ({}))) as { errors?: { extensions?: { code?: string } }[] };
      got[file] = { status: res.status, code: body.errors?.[0]?.extensions?.code ?? "" };
      await healthy();
    }
    expect(got).toEqual(GRAPHQL);
    expect((await app.gql("{ __typename }")).data).toEqual({ __typename: "Query" });
  });

  it("every webhook fixture gets its stable code and field; prototype-named keys are data, never the prototype", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "metasync-hostile-"));
    const file = path.join(dir, "pushed.csv");
    writeFileSync(file, "id,name\n");
    const system = await app.services.systems.create({
      name: "pushed",
      kind: "CSV",
      config: { path: file, anchor: "id", objectType: "person" },
      realtime: { enabled: true, windowMs: 10 },
    });
    await app.services.connectionActions.refreshSchema(system.id);
    const got: Record<string, { status: number; code: string; path: string }> = {};
    for (const fixture of files("hooks")) {
      const res = await fetch(`${app.url}/hooks/pushed`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: read("hooks", fixture),
      });
      const body = (await res.json()) as { errors?: { extensions?: { code?: string; path?: string } }[] };
      const error = body.errors?.[0]?.extensions;
      got[fixture] = { status: res.status, code: error?.code ?? "", path: error?.path ?? "" };
      await healthy();
    }
    expect(got).toEqual(HOOKS);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

/** Each CSV fixture's import into the HR system: its status and located record errors. */
const CSV: Record<string, unknown> = {
  // Read before any row: the start is BLOCKED, naming line and byte (89: the 0xC3 before "(").
  "cut-multibyte.csv": {
    status: "FAILED",
    reasonCode: "INVALID_INPUT",
    located: [],
    reason: "hr.csv:3: not valid UTF-8 at byte 68 (counting from 0)",
  },
  "hostile-values.csv": { status: "PARTIAL", reasonCode: "RECORDS_FAILED", located: ["hr.csv:6 INVALID_INPUT"] },
  "invalid-utf8.csv": {
    status: "BLOCKED",
    reasonCode: "INVALID_INPUT",
    located: [],
    reason: "hr.csv:4: not valid UTF-8 at byte 89 (counting from 0)",
  },
  "mixed-line-endings.csv": {
    status: "PARTIAL",
    reasonCode: "RECORDS_FAILED",
    located: ["hr.csv:2 INVALID_INPUT", "hr.csv:4 INVALID_INPUT"],
  },
};

describe("a fault nobody planned for", () => {
  it("answers 500 with a stable code instead of leaving the request hanging, and the server goes on answering", async () => {
    const app = await startTestApp();
    try {
      // The database failing in a way no route expects (here: the system lookup of a push).
      const systems = app.services.db.prisma.connectedSystem;
      const findUnique = systems.findUnique;
      systems.findUnique = (() => Promise.reject(new Error("connection reset by peer"))) as unknown as typeof findUnique;
      const res = await fetch(`${app.url}/hooks/anything`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ records: [{ op: "delete", objectType: "person", anchor: "P1" }] }),
        signal: AbortSignal.timeout(10_000),
      });
      systems.findUnique = findUnique;
      expect(res.status).toBe(500);
      const body = (await res.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0]).toEqual({
        message: "unexpected error; see the server log",
        extensions: { code: "INTERNAL_SERVER_ERROR" },
      });
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    } finally {
      await app.stop();
    }
  });
});

describe("hostile files imported and exported to a real slapd", { timeout: 180_000 }, () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld([], { import: 25, sync: 30, export: 20 });
  }, 120_000);
  afterAll(async () => {
    await world?.close();
  });
  async function run(system: SystemName, profile: RunProfile) {
    const started = await world.services.startGate.start({ connectedSystemId: world.ids[system], profile, trigger: "API" });
    if (started.outcome !== "ACCEPTED") throw new Error(`${profile} ${system}: ${started.outcome}`);
    return waitForStatus(world.services, started.run.id, ["COMPLETED", "PARTIAL", "FAILED"], 120_000);
  }
  async function importFile(fixture: string) {
    copyFileSync(path.join(CORPUS, "csv", fixture), world.hrFile);
    const started = await world.services.startGate.start({
      connectedSystemId: world.ids.hr,
      profile: "FULL_IMPORT",
      trigger: "API",
    });
    if (started.outcome !== "ACCEPTED") return { done: { status: started.outcome, ...started.failure }, errors: [] };
    const done = await waitForStatus(world.services, started.run.id, ["COMPLETED", "PARTIAL", "FAILED"], 120_000);
    const errors = await world.services.db.prisma.runChange.findMany({
      where: { runId: done.id, errorCode: { not: null } },
      orderBy: { id: "asc" },
    });
    return { done, errors: errors.map((e) => ({ location: e.location, code: e.errorCode, message: e.message })) };
  }

  it("every CSV fixture gets its located error and stable code; the other rows import, and hostile values reach slapd exactly", async () => {
    const got: Record<string, unknown> = {};
    for (const fixture of files("csv").filter((f) => f !== "proto-columns.csv")) {
      const { done, errors } = await importFile(fixture);
      got[fixture] = {
        status: done.status,
        reasonCode: done.reasonCode,
        located: errors.map((e) => `${e.location} ${e.code}`),
        ...("reason" in done && done.status !== "PARTIAL" ? { reason: done.reason?.match(/hr\.csv:\d+[^;]*/)?.[0] } : {}),
      };
    }
    expect(got).toEqual(CSV);
    // The mixed endings' message says what is wrong, not only how many fields there were.
    const mixed = await importFile("mixed-line-endings.csv");
    expect(mixed.errors[0]?.message).toMatch(/mixes line endings/);

    // hostile-values.csv is the file now: sync and export to slapd.
    await importFile("hostile-values.csv");
    expect((await run("hr", "FULL_SYNC")).status).toBe("COMPLETED");
    const exported = await run("ldap", "EXPORT");
    expect(exported).toMatchObject({ status: "PARTIAL", reasonCode: "RECORDS_FAILED", failed: 1 });
    const [refused] = await world.services.db.prisma.runChange.findMany({
      where: { runId: exported.id, errorCode: { not: null } },
    });
    // The 20,000-character surname: refused by the directory for that entry alone, named by its DN.
    expect(refused).toMatchObject({ errorCode: "INVALID_INPUT", message: expect.stringMatching(/^CREATE cn=Very Loo/) });
    const entries = (await world.snapshot()).ldap.map((e) => JSON.parse(e) as Record<string, string>);
    const byId = new Map(entries.map((e) => [e.employeeNumber, e]));
    const csv = read("csv", "hostile-values.csv").toString("utf8");
    const expected = csv
      .trim()
      .split("\n")
      .slice(1)
      .map((line) => line.match(/^(H\d+),("(?:[^"]|"")*"|[^,]*),([^,]*),/)!)
      .map(([, id, given, sn]) => ({ id, given: given!.replace(/^"|"$/g, "").replace(/""/g, '"'), sn }));
    for (const { id, given, sn } of expected) {
      if (id === "H005" || id === "H006") {
        expect(byId.has(id), id).toBe(false); // NUL: refused at import; too long: refused by slapd
        continue;
      }
      // Each value exactly as in the file, the DN escaped (RFC 4514) around it.
      expect(byId.get(id), id).toMatchObject({ givenName: given, sn });
    }
    expect(byId.get("H001")?.dn).toBe("cn=smith\\2c jr. o'brien,ou=people,dc=example,dc=org");
  });

  it("columns named __proto__, constructor, prototype are attributes like others; nothing reaches Object.prototype", async () => {
    const file = path.join(path.dirname(world.hrFile), "proto.csv");
    copyFileSync(path.join(CORPUS, "csv", "proto-columns.csv"), file);
    const system = await world.services.systems.create({ name: "proto", kind: "CSV", config: { path: file, anchor: "id" } });
    await world.services.connectionActions.refreshSchema(system.id);
    const started = await world.services.startGate.start({
      connectedSystemId: system.id,
      profile: "FULL_IMPORT",
      trigger: "API",
    });
    if (started.outcome !== "ACCEPTED") throw new Error(started.outcome);
    const done = await waitForStatus(world.services, started.run.id, ["COMPLETED", "PARTIAL", "FAILED"], 60_000);
    expect(done).toMatchObject({
      reason: null,
      status: "COMPLETED",
      created: 2,
    });
    const { rows } = await world.services.db.pool.query(
      "SELECT anchor, attributes FROM connector_space_object WHERE connected_system_id = $1 ORDER BY anchor",
      [system.id],
    );
    // (JSON.parse: in an object literal, `__proto__: ...` would set the prototype instead.)
    expect(rows[0].attributes).toEqual(
      JSON.parse(
        '{"id":"P1","__proto__":"polluted","constructor":"yes","prototype":"x","hasOwnProperty":"1","name":"Proto One"}',
      ),
    );
    expect(Object.hasOwn(rows[0].attributes, "__proto__")).toBe(true);
    expect(Object.keys(rows[1].attributes).sort()).toEqual(["constructor", "id", "name"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
