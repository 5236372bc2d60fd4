#!/usr/bin/env node
import { randomUUID } from "node:crypto";
// Stand-in for Prisma's native `schema-engine` binary (downloaded at install time, impossible
// offline). Speaks the binary's JSON-RPC-over-stdio protocol, backed by
// @prisma/schema-engine-wasm + @prisma/adapter-pg. Selected via PRISMA_SCHEMA_ENGINE_BINARY
// (set in prisma.config.ts). PostgreSQL only. Debug: SCHEMA_ENGINE_SHIM_DEBUG=1.
import { readFileSync } from "node:fs";
import readline from "node:readline";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from "@prisma/driver-adapter-utils";
import * as wasm from "@prisma/schema-engine-wasm/schema_engine_bg";
import pg from "pg";

const argv = process.argv.slice(2);
const flag = (name) => argv.flatMap((a, i) => (a === name ? [argv[i + 1]] : []));
const log = process.env.SCHEMA_ENGINE_SHIM_DEBUG ? (...a) => console.error("[shim]", ...a) : () => {};

// Rust panics store their message here, then throw (sometimes outside any awaited promise).
let panicMessage;
globalThis.PRISMA_WASM_PANIC_REGISTRY = { set_message: (m) => (panicMessage = m) };
process.on("uncaughtException", (e) => {
  console.error("[shim] uncaught:", panicMessage ?? "", e);
  process.exit(101);
});

// The package entry does `import * as wasm from "./x.wasm"` (needs --experimental-wasm-modules).
const wasmUrl = new URL("schema_engine_bg.wasm", import.meta.resolve("@prisma/schema-engine-wasm/schema_engine_bg"));
const { instance } = await WebAssembly.instantiate(readFileSync(wasmUrl), { "./schema_engine_bg.js": wasm });
wasm.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start();

if (argv.includes("--version")) {
  console.log(`schema-engine-cli ${wasm.version()} (wasm shim)`);
  process.exit(0);
}
const url = JSON.parse(flag("--datasource")[0] ?? "{}").url;

// `schema-engine --datasource {...} cli <cmd>`: used by migrate dev/deploy to ensure the DB exists.
const cliIdx = argv.indexOf("cli");
if (cliIdx !== -1) {
  const cmd = argv[cliIdx + 1];
  const dbName = decodeURIComponent(new URL(url).pathname.slice(1)) || "postgres";
  const fail = (error_code, message) => {
    // The CLI drops the first stderr line, then JSON-parses every other line.
    console.error(JSON.stringify({ level: "INFO", target: "schema_engine::logger", fields: { message: cmd } }));
    console.error(JSON.stringify({ level: "ERROR", target: "schema_engine::logger", fields: { error_code, message } }));
    process.exit(1);
  };
  try {
    const target = new URL(url);
    if (cmd !== "can-connect-to-database") target.pathname = "/postgres";
    const c = new pg.Client({ connectionString: target.toString() });
    await c.connect();
    if (cmd === "create-database") await c.query(`CREATE DATABASE "${dbName.replaceAll('"', '""')}"`);
    else if (cmd === "drop-database") await c.query(`DROP DATABASE "${dbName.replaceAll('"', '""')}"`);
    else if (cmd !== "can-connect-to-database") fail("P1000", `schema-engine shim: unsupported cli command ${cmd}`);
    await c.end();
  } catch (e) {
    if (e.code === "3D000") fail("P1003", `Database \`${dbName}\` does not exist`);
    fail("P1001", `Can't reach database server: ${e.message}`);
  }
  process.exit(0);
}

// adapter-pg throws "Unsupported column type char" for the internal `"char"` type (OID 18)
// used by the engine's pg_catalog queries; the engine expects those columns as Character.
let patched = false;
function patchCharType(adapter) {
  if (patched) return adapter;
  let proto = Object.getPrototypeOf(adapter);
  while (!Object.hasOwn(proto, "queryRaw")) proto = Object.getPrototypeOf(proto);
  const { queryRaw, performIO } = proto;
  proto.queryRaw = async function (query) {
    const charCols = [];
    const self = Object.create(this); // same adapter, with a performIO that relabels "char" as text
    self.performIO = async (q) => {
      const res = await performIO.call(this, q);
      res.fields.forEach((f, i) => {
        if (f.dataTypeID === 18) {
          f.dataTypeID = 25;
          charCols.push(i);
        }
      });
      return res;
    };
    const rs = await queryRaw.call(self, query);
    for (const i of charCols) rs.columnTypes[i] = ColumnTypeEnum.Character;
    return rs;
  };
  patched = true;
  return adapter;
}

class Factory extends PrismaPg {
  async connect() {
    return patchCharType(await super.connect());
  }
  // Stock connectToShadowDb does `new Pool({ ...config, database })`, but a connectionString
  // wins over `database`, so the "shadow" is the MAIN database. It also DROPs before closing
  // its pool. Build a real URL instead, close first, then DROP ... WITH (FORCE).
  async connectToShadowDb() {
    const name = `prisma_migrate_shadow_db_${randomUUID()}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    const shadowUrl = new URL(url);
    shadowUrl.pathname = `/${name}`;
    const adapter = patchCharType(await new PrismaPg({ connectionString: shadowUrl.toString() }).connect());
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await dispose();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    };
    return adapter;
  }
}

const factory = bindMigrationAwareSqlAdapterFactory(new Factory({ connectionString: url }));
// `datamodels` must be undefined or non-empty.
const files = flag("--datamodels").map((p) => [p, readFileSync(p, "utf8")]);
const engine = await wasm.SchemaEngine.new({ datamodels: files.length ? files : undefined }, (m) => log(m), factory);

// JSON-RPC loop: one request at a time, in order.
const send = (msg) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...msg }) + "\n");
let queue = Promise.resolve();
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  const req = line.trim() && JSON.parse(line);
  if (req?.method) queue = queue.then(() => handle(req)); // (no method = CLI's reply to our `print`)
});
rl.on("close", () => queue.then(() => process.exit(0)));

async function handle({ id, method, params }) {
  const name = method === "getDatabaseVersion" ? "version" : method;
  log("->", name, JSON.stringify(params)?.slice(0, 300));
  try {
    // evaluateDataLoss/createMigration get no shadow-DB factory in the wasm engine: they only work
    // if the schema of the whole migrations list is already in the engine's cache, else they fail
    // with "PostgreSQL shadow DB must be provided through an external factory" (e.g. `migrate dev`
    // right after it applied a pending migration). diagnoseMigrationHistory fills that cache.
    if ((name === "evaluateDataLoss" || name === "createMigration") && params?.migrationsList)
      await engine.diagnoseMigrationHistory({
        migrationsList: params.migrationsList,
        optInToShadowDatabase: true,
        filters: params.filters,
      });
    if (typeof engine[name] !== "function") throw new Error(`schema-engine shim: ${method} is not supported`);
    const { stdout, ...result } = (await engine[name](params)) ?? {};
    log("<-", name, JSON.stringify(result).slice(0, 300));
    // The binary prints diff output via a `print` request; the CLI writes content + "\n".
    if (stdout) send({ id: `print-${id}`, method: "print", params: { content: stdout.replace(/\n$/, "") } });
    send({ id, result });
  } catch (e) {
    let message = e?.message ?? String(e);
    if (panicMessage) {
      message = `schema-engine panic: ${panicMessage}`;
      panicMessage = undefined;
    }
    const m = /GenericJs.*?id:\s*(\d+)/.exec(message); // JS-side (pg) error captured by the adapter
    if (m) message = factory.errorRegistry.consumeError(Number(m[1]))?.error?.message ?? message;
    log("<- error", message);
    send({ id, error: { code: 4466, message, data: { is_panic: false, message, error_code: e?.code, meta: e?.meta } } });
  }
}
