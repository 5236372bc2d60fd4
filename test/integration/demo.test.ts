import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDemoPeople } from "../../src/cli/demo/demo-people.ts";
import { type Browser, launchChromium } from "../helpers/browser.ts";
import { type CliRun, runCli } from "../helpers/cli.ts";
import { createTestDatabaseUrl } from "../helpers/database.ts";

// `metasync demo` as a user runs it (a real process: apply, discovery, serve with its worker
// process, the cycle through the start gate), then its dashboard in a real headless Chromium:
// the runs, the run chart and an object's explanation. 200 people here (2,000 by default).
const PEOPLE = 200;
let demo: CliRun;
let url: string;
let databaseUrl: string;
let dataDir: string;
let browser: Browser;
let refusal: ReturnType<typeof refuseDataDirWithOtherSystems>;

/** `metasync demo` on a data directory where `metasync apply` already configured a system. */
async function refuseDataDirWithOtherSystems() {
  const other = await createTestDatabaseUrl();
  const dir = mkdtempSync(path.join(tmpdir(), "metasync-demo-other-"));
  const env = { DATABASE_URL: other, DATA_DIR: dir, LOG_LEVEL: "warn" };
  const yaml = path.join(dir, "hr.yaml");
  writeFileSync(yaml, "connectedSystems:\n  - name: hr\n    kind: CSV\n    config: { path: /data/hr.csv, anchor: id }\n");
  const applied = await runCli(["apply", yaml], env).exit;
  // Without the system the demo would start for real (and serve until stopped).
  if (applied !== 0) return { applied, refused: null, output: "" };
  const demo = runCli(["demo"], env);
  return { applied, refused: await demo.exit, output: demo.output() };
}

beforeAll(async () => {
  databaseUrl = await createTestDatabaseUrl();
  dataDir = mkdtempSync(path.join(tmpdir(), "metasync-demo-"));
  demo = runCli(["demo", "--people", String(PEOPLE)], {
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    PORT: "0",
    LOG_LEVEL: "warn",
  });
  // Independent of the demo: started while it runs (each is processes loading and waiting).
  refusal = refuseDataDirWithOtherSystems();
  refusal.catch(() => {});
  browser = await launchChromium();
  url = (await demo.waitFor(/^Dashboard: /, 60_000)).match(/(http:\/\/[\d.]+:\d+)/)![1]!;
  await demo.waitFor(/^demo cycle done/, 120_000);
}, 200_000);
afterAll(async () => {
  await browser?.close();
  if (demo && demo.child.exitCode === null) {
    demo.child.kill("SIGTERM");
    await demo.exit;
  }
});

const gql = async (query: string, variables: Record<string, unknown> = {}) => {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: any; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return body.data;
};
const firstWith = async (attribute: string, equals: string) =>
  (
    await gql(`query($w: AttributeFilter) { metaverseObjects(where: $w, first: 1) { edges { node { id } } } }`, {
      w: { attribute, equals },
    })
  ).metaverseObjects.edges[0].node.id as string;

describe("metasync demo", () => {
  it("generates the same HR file for the same size, with leavers and names from many scripts", async () => {
    const [a, b] = [path.join(dataDir, "a.csv"), path.join(dataDir, "b.csv")];
    await writeDemoPeople(60, a);
    await writeDemoPeople(60, b);
    expect(readFileSync(a)).toEqual(readFileSync(b));
    const lines = readFileSync(a, "utf8").trimEnd().split("\n");
    expect(lines[0]).toBe("employeeId,givenName,sn,mail,department,title,managerId,status,endDate");
    expect(lines).toHaveLength(61);
    expect(lines.filter((l) => l.includes(",leaver,"))).toHaveLength(2);
    expect(lines.some((l) => /[^ -~]/.test(l))).toBe(true);
  });

  it("runs the cycle once: active people are accounts rows and phone book lines, leavers are not", async () => {
    const leavers = readFileSync(path.join(dataDir, "files/demo/people.csv"), "utf8")
      .split("\n")
      .filter((l) => l.includes(",leaver,")).length;
    expect(demo.output()).toContain(`wrote ${PEOPLE} people (${leavers} leavers)`);
    expect(demo.output()).toMatch(/step 6\/6 demo-phonebook full_import: COMPLETED/);
    // The confirming import of the phone book reads back exactly what the export wrote.
    expect(demo.output()).toContain(
      `why: ALL_UNCHANGED: All ${PEOPLE - leavers} objects read from demo-phonebook are unchanged since the previous import.`,
    );
    const sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    try {
      const { rows } = await sql.query(
        "SELECT employee_id, display_name, department, manager_id FROM metasync_demo.accounts ORDER BY employee_id",
      );
      expect(rows).toHaveLength(PEOPLE - leavers);
      expect(rows[1]).toMatchObject({ employee_id: "E0000001", manager_id: "E0000000" });
      expect(rows.some((r) => /[^ -~]/.test(r.display_name))).toBe(true);
    } finally {
      await sql.end();
    }
    const phonebook = readFileSync(path.join(dataDir, "files/demo/phonebook.csv"), "utf8").trimEnd().split("\n");
    expect(phonebook).toHaveLength(PEOPLE - leavers + 1);
  });

  it("shows the runs, the run chart and why a leaver has no account on the dashboard", async () => {
    const page = await browser.newPage();
    await page.goto(`${url}/`);
    await page.waitFor(`document.querySelectorAll('#runs tr[data-status="COMPLETED"]').length === 6`, "six completed runs");
    await page.waitFor(`document.querySelectorAll("#run-chart circle[data-run-id]").length === 6`, "six runs in the chart");
    const objects = await page.evaluate<number[]>(
      `[...document.querySelectorAll("#run-chart circle[data-run-id]")].map((c) => Number(c.dataset.objects))`,
    );
    expect(objects).toContain(PEOPLE);

    await page.goto(`${url}/#/objects/${encodeURIComponent(await firstWith("status", "leaver"))}`);
    const leaver = await page.waitFor<{ state: string; text: string }>(
      `(() => { const r = document.querySelector('#provisioning tr[data-rule="demo-accounts-out"]'); return r && { state: r.dataset.state, text: r.innerText }; })()`,
      "the leaver's accounts decision",
    );
    expect(leaver.state).toBe("OUT_OF_SCOPE");
    expect(leaver.text).toContain(`The scope of rule "demo-accounts-out" (status = 'active') is false for this identity.`);
    const status = await page.evaluate<string>(`document.querySelector('tr[data-attribute="status"]').innerText`);
    expect(status).toMatch(/leaver\s+demo-hr · rule demo-hr-in · delta sync run/);

    await page.goto(`${url}/#/objects/${encodeURIComponent(await firstWith("employeeId", "E0000001"))}`);
    // The same page follows the hash: until the new object has loaded it still shows the leaver.
    await page.waitFor(
      `document.querySelector('tr[data-attribute="employeeId"]')?.innerText.includes("E0000001")`,
      "the active person's page",
    );
    const active = await page.waitFor<string>(
      `document.querySelector('#provisioning tr[data-rule="demo-phonebook-out"]')?.dataset.state`,
      "an active person's phone book decision",
    );
    expect(active).toBe("PROVISIONED");
    expect(page.problems).toEqual([]);

    demo.child.kill("SIGTERM");
    expect(await demo.exit).toBe(0);
  });

  it("refuses a data directory that holds other systems", async () => {
    const { applied, refused, output } = await refusal;
    expect(applied).toBe(0);
    expect(refused).toBe(2);
    expect(output).toContain("already holds connected systems (hr); the demo needs an empty data directory");
  });
});
