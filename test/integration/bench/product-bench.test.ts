import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "ldapts";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { type BenchResults, PHASES, writeResults } from "../../../bench/product/results.ts";
import { type BenchEnvironment, runProductBench } from "../../../bench/product/run-bench.ts";
import { DEPARTMENTS, employeeId, type HrData } from "../../../src/cli/demo/hr-data.ts";

// The product benchmark at 2,000 people: the same code as `npm run bench` (serve, two worker
// processes, embedded PostgreSQL, slapd, GraphQL), checked for what it leaves in the targets
// and for the shape of its results. Never for its timings.
const dir = mkdtempSync(path.join(tmpdir(), "metasync-bench-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Seen {
  people: { dn: string; sn: string; cn: string; manager?: string }[];
  groups: Map<string, string[]>;
  sqlRows: { uid: string; sn: string; department: string }[];
  csvLines: string[];
  data: HrData;
}

async function look(env: BenchEnvironment): Promise<Seen> {
  const client = new Client({ url: env.slapd.url });
  try {
    await client.bind(env.slapd.bindDn, env.slapd.password);
    const search = (base: string, filter: string, attributes: string[]) =>
      client.search(base, { scope: "sub", filter, attributes, sizeLimit: 0, paged: { pageSize: 500 } });
    const people = (await search(`ou=people,${env.slapd.baseDn}`, "(objectClass=inetOrgPerson)", ["sn", "cn", "manager"]))
      .searchEntries;
    const groups = (await search(`ou=groups,${env.slapd.baseDn}`, "(objectClass=posixGroup)", ["cn", "memberUid"])).searchEntries;
    const sql = new pg.Client({ connectionString: env.sqlUrl });
    await sql.connect();
    const { rows } = await sql.query(`SELECT uid, sn, department FROM ${env.sqlTable}`).finally(() => sql.end());
    const values = (v: unknown) => (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]);
    return {
      people: people.map((e) => ({
        dn: e.dn,
        sn: String(e.sn),
        cn: String(e.cn),
        manager: e.manager ? String(e.manager) : undefined,
      })),
      groups: new Map(groups.map((g) => [String(g.cn), values(g.memberUid)])),
      sqlRows: rows,
      csvLines: readFileSync(env.csvTarget, "utf8").split("\n").filter(Boolean),
      data: env.data,
    };
  } finally {
    await client.unbind();
  }
}

describe("npm run bench (product path)", () => {
  it("runs every phase through serve and workers at 2,000 people and leaves the targets as HR says", async () => {
    let seen: Seen | undefined;
    const results = await runProductBench({
      size: 2000,
      subscribers: 200,
      log: () => {},
      inspect: async (env) => {
        seen = await look(env);
      },
    });
    const file = path.join(dir, "results.json");
    writeResults(file, results);
    const written = JSON.parse(readFileSync(file, "utf8")) as BenchResults;

    // results.json as API.md fixes it: every phase, finite positive numbers.
    expect(written.size).toBe(2000);
    expect(written.machine).toMatch(/\S/);
    expect(written.phases.map((p) => p.name)).toEqual([...PHASES]);
    for (const p of written.phases) {
      for (const n of [p.objects, p.seconds, p.objectsPerSecond, p.peakRssMb])
        expect(Number.isFinite(n) && n > 0, `${p.name}: ${JSON.stringify(p)}`).toBe(true);
      if (p.name === "subscription_fanout") continue;
      expect(p.limitName, p.name).toMatch(/\S/);
      for (const n of [p.limitObjectsPerSecond, p.ratioToLimit]) expect(Number.isFinite(n) && (n ?? 0) > 0, p.name).toBe(true);
    }
    const phase = (name: string) => written.phases.find((p) => p.name === name);
    expect(phase("full_import")?.objects).toBe(2000 + seen!.data.groupCount);
    expect(phase("subscription_fanout")).toMatchObject({ subscribers: 200 });
    // /healthz was probed throughout the fan-out and answered (a latency figure, not a target).
    expect(phase("subscription_fanout")?.healthzMaxMs).toEqual(expect.any(Number));

    // The targets after the 1% delta cycle: leavers gone, renames and moves applied everywhere.
    const { data } = seen!;
    const remaining = [...data.people()];
    expect(remaining.length).toBe(2000 - data.left.size);
    expect(data.left.size).toBeGreaterThan(0);
    expect(seen!.people).toHaveLength(remaining.length);
    expect(seen!.sqlRows).toHaveLength(remaining.length);
    expect(seen!.csvLines).toHaveLength(remaining.length + 1);
    expect(seen!.groups.size).toBe(data.groupCount);

    const byUid = new Map(seen!.people.map((p) => [/^uid=([^,]+)/.exec(p.dn)?.[1], p]));
    for (const p of remaining) {
      const entry = byUid.get(p.employeeId.toLowerCase());
      expect(entry?.dn, p.employeeId).toMatch(new RegExp(`^uid=${p.employeeId.toLowerCase()},ou=${p.department},ou=people,`));
      expect(entry?.sn).toBe(p.sn);
      expect(entry?.cn).toBe(`${p.givenName} ${p.sn}`);
    }
    // Names from other scripts arrive intact, and managers are their entries' DNs.
    expect(seen!.people.some((p) => /Zoë|Łukasz|王/.test(p.cn))).toBe(true);
    const e15 = byUid.get(employeeId(15).toLowerCase());
    expect(e15?.manager).toMatch(/^uid=e0000001,ou=\w+,ou=people,/);
    for (const i of data.left) expect(byUid.has(employeeId(i).toLowerCase())).toBe(false);
    const renamed = remaining.filter((p) => p.sn.endsWith("-Lindqvist"));
    expect(renamed.length).toBeGreaterThan(0);
    const sqlByUid = new Map(seen!.sqlRows.map((r) => [r.uid, r]));
    for (const p of renamed) expect(sqlByUid.get(p.employeeId.toLowerCase())?.sn).toBe(p.sn);

    // Groups hold exactly HR's members (department groups of ~200, moves included).
    for (const g of data.groups())
      expect([...(seen!.groups.get(g.groupId) ?? [])].sort()).toEqual(g.members.map((m) => m.toLowerCase()).sort());
    expect(seen!.groups.get(`dept-${DEPARTMENTS[0]}`)?.length).toBeGreaterThan(100);
  }, 300_000);
});
