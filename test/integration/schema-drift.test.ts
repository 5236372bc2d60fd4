import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { printSchema } from "graphql";
import { describe, expect, it } from "vitest";
import { schema } from "../../src/schema/index.ts";
import { createTestDatabaseUrl } from "../helpers/database.ts";

describe("committed contracts", () => {
  it("schema.graphql matches the schema the code builds (run npm run schema:print)", () => {
    const committed = readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8");
    expect(`${printSchema(schema)}\n`).toBe(committed);
  });

  it("prisma/migrations produce prisma/schema.prisma, but for the differences allowed in prisma/allowed-drift.sql", async () => {
    const url = await createTestDatabaseUrl();
    const r = spawnSync(
      "npx",
      ["prisma", "migrate", "diff", "--from-migrations", "prisma/migrations", "--to-schema", "prisma/schema.prisma", "--script"],
      { env: { ...process.env, DATABASE_URL: url }, encoding: "utf8" },
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    const allowed = readFileSync(new URL("../../prisma/allowed-drift.sql", import.meta.url), "utf8")
      .split("\n")
      .filter(Boolean);
    const statements = r.stdout.split("\n").filter((l) => l.trim() && !l.startsWith("--"));
    // What a new migration would have to contain (run npm run db:migration -- <name>): nothing.
    expect(statements.filter((l) => !allowed.includes(l))).toEqual([]);
    // And every allowed difference still exists: a stale allow-list entry would hide nothing.
    expect(allowed.filter((l) => !statements.includes(l))).toEqual([]);
  });
});
