#!/usr/bin/env node
// postinstall: `prisma generate`, unless src/generated already holds the client of this schema.
// npm runs the root package's postinstall again whenever `npx metasync ...` links the package's
// own bin (seen in CI: the README's first-sync commands regenerated the client while other test
// processes were importing it, and one failed on a half-written file). Regenerating also cost
// every such command seconds. The stamp is the hash of the schema and of the lockfile (which
// pins the generators' versions).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const root = new URL("../", import.meta.url);
const stampFile = new URL("src/generated/.schema-hash", root);
const hash = createHash("sha256");
for (const file of ["prisma/schema.prisma", "package-lock.json"])
  if (existsSync(new URL(file, root))) hash.update(readFileSync(new URL(file, root)));
const stamp = hash.digest("hex");

const current = existsSync(stampFile) && readFileSync(stampFile, "utf8").trim() === stamp;
if (current && existsSync(new URL("src/generated/prisma/client.ts", root))) {
  console.log("prisma generate: src/generated is up to date with prisma/schema.prisma");
  process.exit(0);
}
const r = spawnSync("npx", ["prisma", "generate"], { stdio: "inherit", cwd: root });
if (r.status !== 0) process.exit(r.status ?? 1);
writeFileSync(stampFile, `${stamp}\n`);
