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

  it("prisma/migrations produce exactly prisma/schema.prisma (run npm run db:migration -- <name>)", async () => {
    const url = await createTestDatabaseUrl();
    const r = spawnSync(
      "npx",
      [
        "prisma",
        "migrate",
        "diff",
        "--from-migrations",
        "prisma/migrations",
        "--to-schema",
        "prisma/schema.prisma",
        "--exit-code",
      ],
      { env: { ...process.env, DATABASE_URL: url }, encoding: "utf8" },
    );
    // --exit-code: 0 = no difference, 2 = drift.
    expect(r.stdout + r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
  });
});
