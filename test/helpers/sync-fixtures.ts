import type { ConnectorObject } from "../../src/connectors/connector.ts";
import type { Services } from "../../src/services.ts";
import { ArrayConnector } from "../fixtures/array-connector.ts";
import { runEngine } from "./engine-run.ts";

/** A connected system fed from memory, with helpers to import and sync it through the engine. */
export async function sourceSystem(services: Services, name: string, objects: ConnectorObject[], rule: Record<string, unknown>) {
  const system = await services.systems.create({ name, kind: "CSV", config: { path: `/tmp/${name}.csv`, anchor: "id" } });
  const created = await services.db.prisma.syncRule.create({
    data: {
      name: `${name}-in`,
      connectedSystemId: system.id,
      direction: "INBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      ...rule,
    } as never,
  });
  const connector = new ArrayConnector(objects, 50);
  const run = (
    profile: "FULL_IMPORT" | "DELTA_IMPORT" | "FULL_SYNC" | "DELTA_SYNC",
    extra: { dryRun?: boolean; crashAfterBatches?: number; runId?: string; importBatchSize?: number } = {},
  ) =>
    runEngine(services, {
      systemId: system.id,
      profile,
      connector,
      ...extra,
    });
  return {
    id: system.id,
    ruleId: created.id,
    connector,
    run,
    importAndSync: async () => {
      await run("FULL_IMPORT");
      return run("FULL_SYNC");
    },
  };
}

/** A CSV target "dir" (anchor uid) provisioned from the person identities by one outbound rule with these flows. */
export async function csvTarget(services: Services, attributeFlows: Record<string, unknown>[]) {
  const system = await services.systems.create({ name: "dir", kind: "CSV", config: { path: "/tmp/dir.csv", anchor: "uid" } });
  await services.db.prisma.syncRule.create({
    data: {
      name: "dir-out",
      connectedSystemId: system.id,
      direction: "OUTBOUND",
      objectType: "person",
      metaverseObjectType: "person",
      provisionToConnector: true,
      attributeFlows: attributeFlows as never,
    },
  });
  return system;
}

export const person = (id: string, attributes: Record<string, string | string[] | null>): ConnectorObject => ({
  objectType: "person",
  anchor: id,
  attributes: { id, ...attributes },
});

export async function identities(services: Services) {
  const rows = await services.db.prisma.metaverseObject.findMany({
    where: { status: { not: "DELETED" } },
    include: { connectors: true },
  });
  // Identities created in one batch share a timestamp: order by the HR key for stable assertions.
  const key = (m: (typeof rows)[number]) => String((m.attributes as Record<string, unknown>).employeeId ?? "");
  return rows.sort((a, b) => key(a).localeCompare(key(b)));
}
