import pg from "pg";
import {
  type ChangeLogNames,
  changeLogInstalled,
  changeLogNames,
  installChangeLog,
  removeChangeLog,
} from "../connectors/sql/change-log.ts";
import { SqlConfigSchema } from "../connectors/sql/config.ts";
import { connectionSettings } from "../connectors/sql/connection.ts";
import { toConnectorError } from "../connectors/sql/errors.ts";
import { AppError, badInput, notFound } from "../errors.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { ConnectedSystems } from "./connected-systems.ts";

export interface ChangeNotificationsState extends ChangeLogNames {
  installed: boolean;
}

/**
 * Install, remove or look at a SQL system's change notifications in its SOURCE database
 * (src/connectors/sql/change-log.ts says what they are). Only on an admin's explicit request:
 * they change someone else's database, with the system's own connection (which must be allowed
 * to create a table, a function and a trigger on the table, i.e. own it).
 */
export async function changeNotifications(
  deps: { prisma: PrismaClient; systems: ConnectedSystems },
  systemId: string,
  action: "install" | "remove" | "status",
): Promise<ChangeNotificationsState> {
  const system = await deps.prisma.connectedSystem.findUnique({ where: { id: systemId } });
  if (!system) throw notFound("connected system", systemId);
  if (system.kind !== "SQL")
    throw badInput(`${system.name} is a ${system.kind} system: change notifications are for SQL systems`, "connectedSystemId");
  const settings = await deps.systems.currentSettings(system);
  const config = SqlConfigSchema.parse(await deps.systems.resolveConfig(settings.id));
  const client = new pg.Client({ ...connectionSettings(config), application_name: "metasync" });
  client.on("error", () => {});
  try {
    await client.connect();
    if (action === "install") await installChangeLog(client, config, system.id);
    if (action === "remove") await removeChangeLog(client, config, system.id);
    return { installed: await changeLogInstalled(client, config, system.id), ...changeLogNames(config, system.id) };
  } catch (error) {
    const e = toConnectorError(
      error,
      `${action === "status" ? "reading" : action === "install" ? "installing" : "removing"} change notifications on ${config.schema}.${config.table}`,
    );
    throw new AppError(e.code, e.message);
  } finally {
    await client.end().catch(() => {});
  }
}
