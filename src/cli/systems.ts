import { parseArgs } from "node:util";
import type { Config } from "../config.ts";
import { ConnectorError } from "../connectors/connector.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { Services } from "../services.ts";
import { EXIT, UsageError, withCliServices } from "./session.ts";
import { type Column, type Output, printRows, stdoutOutput } from "./table.ts";

export const SYSTEMS_USAGE = `systems [list] [--json]               connected systems: kind, schema, rules, objects, last run
  systems test <name> [--json]          test the connection (exit 1 when it fails)
  systems discover <name>... [--json]   discover object types and attributes (needed before the first run)`;

/** `metasync systems [list|test|discover]`, on the server's database with the server's connectors. */
export async function systemsCommand(args: string[], config: Config, logger: Logger, output = stdoutOutput()): Promise<number> {
  let parsed: { action: string; names: string[]; json: boolean };
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: "boolean", default: false } },
    });
    const [action = "list", ...names] = positionals;
    if (!["list", "test", "discover"].includes(action)) throw new UsageError(`unknown action "${action}"`);
    if (action === "list" && names.length) throw new UsageError(`unexpected argument "${names[0]}"`);
    if (action === "test" && names.length !== 1) throw new UsageError("systems test takes one system name");
    if (action === "discover" && names.length === 0) throw new UsageError("systems discover takes one or more system names");
    parsed = { action, names, json: values.json ?? false };
  } catch (e) {
    console.error(`metasync systems: ${(e as Error).message}\nusage: metasync ${SYSTEMS_USAGE}`);
    return EXIT.USAGE;
  }
  return withCliServices(config, logger, async (services) => {
    try {
      if (parsed.action === "list") return await list(services, output, parsed.json);
      const ids = await systemIds(services, parsed.names);
      if (parsed.action === "test") return await test(services, output, parsed.names[0]!, ids[0]!, parsed.json);
      return await discover(services, output, parsed.names, ids, parsed.json);
    } catch (e) {
      if (e instanceof AppError && (e.code === "NOT_FOUND" || e.code === "BAD_USER_INPUT")) {
        console.error(`metasync systems: ${e.message} (${e.code})`);
        return EXIT.USAGE;
      }
      throw e;
    }
  });
}

async function systemIds(services: Services, names: string[]): Promise<string[]> {
  const found = await services.db.prisma.connectedSystem.findMany({
    where: { name: { in: names } },
    select: { id: true, name: true },
  });
  return names.map((name) => {
    const system = found.find((s) => s.name === name);
    if (!system) throw new AppError("NOT_FOUND", `connected system "${name}" was not found`);
    return system.id;
  });
}

interface SystemRow {
  name: string;
  kind: string;
  description: string | null;
  schemaDiscoveredAt: Date | null;
  objectTypes: string[];
  inboundRules: number;
  outboundRules: number;
  objects: number;
  pendingExports: number;
  lastRun: { id: string; profile: string; status: string; createdAt: Date } | null;
}

async function list(services: Services, output: Output, json: boolean): Promise<number> {
  const { prisma } = services.db;
  const systems = await prisma.connectedSystem.findMany({
    orderBy: { name: "asc" },
    include: {
      objectTypes: { select: { name: true }, orderBy: { name: "asc" } },
      syncRules: { where: { enabled: true }, select: { direction: true } },
      runs: { orderBy: { createdAt: "desc" }, take: 1, select: { id: true, profile: true, status: true, createdAt: true } },
    },
  });
  const objects = new Map(
    (await prisma.connectorSpaceObject.groupBy({ by: ["connectedSystemId"], _count: { _all: true } })).map((g) => [
      g.connectedSystemId,
      g._count._all,
    ]),
  );
  const open = new Map(
    (
      await prisma.pendingExport.groupBy({
        by: ["connectedSystemId"],
        where: { status: { in: ["PENDING", "AWAITING_APPROVAL", "FAILED", "ERROR", "EXECUTING"] } },
        _count: { _all: true },
      })
    ).map((g) => [g.connectedSystemId, g._count._all]),
  );
  const rows: SystemRow[] = systems.map((s) => ({
    name: s.name,
    kind: s.kind,
    description: s.description,
    schemaDiscoveredAt: s.schemaDiscoveredAt,
    objectTypes: s.objectTypes.map((t) => t.name),
    inboundRules: s.syncRules.filter((r) => r.direction === "INBOUND").length,
    outboundRules: s.syncRules.filter((r) => r.direction === "OUTBOUND").length,
    objects: objects.get(s.id) ?? 0,
    pendingExports: open.get(s.id) ?? 0,
    lastRun: s.runs[0] ?? null,
  }));
  const columns: Column<SystemRow>[] = [
    { header: "NAME", value: (r) => r.name },
    { header: "KIND", value: (r) => r.kind },
    { header: "SCHEMA", value: (r) => r.objectTypes.join(",") || "not discovered" },
    { header: "RULES IN/OUT", value: (r) => `${r.inboundRules}/${r.outboundRules}` },
    { header: "OBJECTS", value: (r) => r.objects, numeric: true },
    { header: "OPEN EXPORTS", value: (r) => r.pendingExports, numeric: true },
    {
      header: "LAST RUN",
      value: (r) => (r.lastRun ? `${r.lastRun.profile} ${r.lastRun.status} ${shortTime(r.lastRun.createdAt)}` : ""),
    },
  ];
  printRows(output, rows, columns, {
    json,
    toJson: (r) => r,
    empty: "no connected systems yet: create them with `metasync apply <file.yaml>` (see examples/)",
  });
  return EXIT.OK;
}

async function test(services: Services, output: Output, name: string, id: string, json: boolean): Promise<number> {
  const result = await services.connectionActions.testConnection(id);
  if (json) output.write(`${JSON.stringify({ name, ...result })}\n`);
  else output.write(result.ok ? `${name}: ok: ${result.message}\n` : `${name}: failed (${result.code}): ${result.message}\n`);
  return result.ok ? EXIT.OK : EXIT.FAILED;
}

async function discover(services: Services, output: Output, names: string[], ids: string[], json: boolean): Promise<number> {
  const results: {
    name: string;
    ok: boolean;
    objectTypes: { name: string; attributes: number }[];
    error?: string;
    code?: string;
  }[] = [];
  for (const [i, id] of ids.entries()) {
    const name = names[i]!;
    try {
      await services.connectionActions.refreshSchema(id);
      const types = await services.db.prisma.objectType.findMany({
        where: { connectedSystemId: id },
        orderBy: { name: "asc" },
        include: { _count: { select: { attributes: true } } },
      });
      const objectTypes = types.map((t) => ({ name: t.name, attributes: t._count.attributes }));
      results.push({ name, ok: true, objectTypes });
      if (!json)
        output.write(
          `${name}: ${objectTypes.map((t) => `${t.name} (${t.attributes} attributes)`).join(", ") || "no object types"}\n`,
        );
    } catch (e) {
      if (!(e instanceof AppError || e instanceof ConnectorError)) throw e;
      results.push({ name, ok: false, objectTypes: [], error: e.message, code: e.code });
      if (!json) output.write(`${name}: failed (${e.code}): ${e.message}\n`);
    }
  }
  if (json) output.write(`${JSON.stringify(results, null, 2)}\n`);
  return results.every((r) => r.ok) ? EXIT.OK : EXIT.FAILED;
}

/** A time a person reads at a glance: UTC, to the second. */
export const shortTime = (d: Date | null | undefined) => (d ? d.toISOString().slice(0, 19).replace("T", " ") : "");
