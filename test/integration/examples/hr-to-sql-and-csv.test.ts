import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabaseUrl } from "../../helpers/database.ts";
import { EXAMPLES, type ExampleHarness, startExample } from "../../helpers/examples.ts";

// examples/hr-to-sql-and-csv.yaml: the HR file to a real PostgreSQL table (made with the
// example's own DDL) and a CSV phone book; a mover and a leaver under two deprovision actions.
let h: ExampleHarness;
let sql: pg.Client;
let env: Record<string, string>;

beforeAll(async () => {
  h = await startExample("hr");
  const sqlUrl = await createTestDatabaseUrl();
  sql = new pg.Client({ connectionString: sqlUrl });
  await sql.connect();
  await sql.query(readFileSync(path.join(EXAMPLES, "sql", "accounts.sql"), "utf8"));
  const url = new URL(sqlUrl);
  env = {
    HR_DIR: h.files,
    EXPORT_DIR: h.files,
    SQL_USER: decodeURIComponent(url.username),
    SQL_PASSWORD: decodeURIComponent(url.password),
    SQL_HOST: url.hostname,
    SQL_PORT: url.port,
    SQL_DATABASE: url.pathname.slice(1),
  };
});
afterAll(async () => {
  await sql?.end();
  await h?.stop();
});

const accounts = async () =>
  (await sql.query("SELECT employee_id, display_name, email, department, title, status FROM accounts ORDER BY employee_id")).rows;
const phonebook = () => readFileSync(path.join(h.files, "phonebook.csv"), "utf8").trimEnd().split("\n");

async function cycle() {
  await h.run("hr", "FULL_IMPORT");
  await h.run("hr", "DELTA_SYNC");
  const exported = [await h.run("accounts", "EXPORT"), await h.run("phonebook", "EXPORT")];
  // Each export's counts, with those of the import that confirms it.
  const toSql = { ...exported[0]!, confirming: await h.run("accounts", "FULL_IMPORT") };
  const toCsv = { ...exported[1]!, confirming: await h.run("phonebook", "FULL_IMPORT") };
  return [toSql, toCsv] as const;
}

describe("examples/hr-to-sql-and-csv.yaml", () => {
  it("provisions accounts rows and phone book lines, then follows a mover and a leaver", async () => {
    expect(await h.cli(["apply", path.join(EXAMPLES, "hr-to-sql-and-csv.yaml")], env)).toContain("6 created");
    await h.cli(["systems", "discover", "hr", "accounts", "phonebook"], env);

    const [toSql, toCsv] = await cycle();
    expect(toSql).toMatchObject({ created: 5, failed: 0 });
    expect(toCsv).toMatchObject({ created: 5, failed: 0 });
    // Rows and lines read back as connector space expected them (the row's key column and its
    // defaults included): the confirming imports write nothing again.
    expect(toSql.confirming).toMatchObject({ unchanged: 5, updated: 0 });
    expect(toCsv.confirming).toMatchObject({ unchanged: 5, updated: 0 });
    const rows = await accounts();
    expect(rows).toHaveLength(5);
    expect(rows[2]).toEqual({
      employee_id: "E1003",
      display_name: "Grace Hopper",
      email: "grace.hopper@example.org",
      department: "Engineering",
      title: "Engineer",
      status: "active",
    });
    const lines = phonebook();
    expect(lines[0]).toBe("employeeId,name,email,department");
    expect(lines).toContain("E1003,Grace Hopper,grace.hopper@example.org,Engineering");
    expect(lines).toHaveLength(6);

    // Mover: Grace Hopper to Finance. Leaver: Alan Turing.
    const peopleCsv = path.join(h.files, "people.csv");
    const hr = readFileSync(peopleCsv, "utf8")
      .split("\n")
      .filter((l) => !l.startsWith("E1002,"))
      .map((l) => (l.startsWith("E1003,") ? "E1003,Grace,Hopper,Analyst,Finance,E1005,grace.hopper@example.org" : l));
    writeFileSync(peopleCsv, hr.join("\n"));
    const [sqlAfter, csvAfter] = await cycle();
    expect(sqlAfter).toMatchObject({ updated: 2, deleted: 0, failed: 0 });
    expect(csvAfter).toMatchObject({ updated: 1, deleted: 1, failed: 0 });
    expect(sqlAfter.confirming).toMatchObject({ unchanged: 5, updated: 0 });
    expect(csvAfter.confirming).toMatchObject({ unchanged: 4, updated: 0 });

    const after = await accounts();
    expect(after.find((r) => r.employee_id === "E1003")).toMatchObject({
      department: "Finance",
      title: "Analyst",
      status: "active",
    });
    // DISABLE_THEN_DELETE: the account stays, disabled; its delete waits for the 30-day grace.
    expect(after.find((r) => r.employee_id === "E1002")).toMatchObject({ status: "disabled" });
    const waiting = await h.services.db.prisma.pendingExport.findMany({ where: { changeType: "DELETE", status: "PENDING" } });
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.notBefore!.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    // DELETE: the phone book line is gone.
    const book = phonebook();
    expect(book).toHaveLength(5);
    expect(book.some((l) => l.startsWith("E1002,"))).toBe(false);
    expect(book).toContain("E1003,Grace Hopper,grace.hopper@example.org,Finance");
  });
});
