// Run a command with DATABASE_URL pointing at the development database: DATABASE_URL if set,
// else the embedded PostgreSQL under DATA_DIR (started or attached to, stopped if we started it).
//   tsx scripts/with-db.ts prisma migrate status
import { spawn } from "node:child_process";
import path from "node:path";
import { loadConfig } from "../src/config.ts";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";

const config = loadConfig();
const embedded = config.databaseUrl ? null : await startEmbeddedPostgres(path.join(config.dataDir, "pg"), "metasync");
const url = config.databaseUrl ?? embedded?.url;
const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.log(url);
  process.exit(0);
}
const child = spawn(cmd, args, { stdio: "inherit", env: { ...process.env, DATABASE_URL: url } });
const code = await new Promise<number>((resolve) => child.on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
await embedded?.stop();
process.exit(code);
