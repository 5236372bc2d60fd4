import { type Connector, ConnectorError, type DiscoveredSchema } from "../connectors/connector.ts";
import { createConnector } from "../connectors/index.ts";
import { AppError, notFound } from "../errors.ts";
import type { ConnectedSystem, PrismaClient } from "../generated/prisma/client.ts";
import type { Logger } from "../logger.ts";
import { withTimeout } from "../util/timeout.ts";
import type { ConnectedSystems } from "./connected-systems.ts";

export interface ConnectionTestResult {
  ok: boolean;
  message: string;
  /** The connector's error code when not ok (CONNECTION_FAILED, AUTH_FAILED, TIMEOUT, UNSUPPORTED...). */
  code: string | null;
}

const TEST_TIMEOUT_MS = 10_000;

/** Talking to a connected system on an admin's request: test the connection, discover its schema. */
export class ConnectionActions {
  constructor(
    private readonly deps: {
      prisma: PrismaClient;
      systems: ConnectedSystems;
      logger: Logger;
      /** Injected by tests to stand in for a real directory; defaults to the connector registry. */
      connect?: typeof createConnector;
    },
  ) {}

  async testConnection(id: string): Promise<ConnectionTestResult> {
    try {
      const { message } = await this.withConnector(id, (c) =>
        timeLimit(c.testConnection(TEST_TIMEOUT_MS), TEST_TIMEOUT_MS + 2000),
      );
      return { ok: true, message, code: null };
    } catch (e) {
      if (e instanceof ConnectorError) return { ok: false, message: e.message, code: e.code };
      throw e;
    }
  }

  /** Replace the system's object types and attributes with what the connector reports, in one transaction. */
  async refreshSchema(id: string): Promise<ConnectedSystem> {
    let schema: DiscoveredSchema;
    try {
      schema = await this.withConnector(id, (c) => c.discoverSchema());
    } catch (e) {
      if (!(e instanceof ConnectorError)) throw e;
      const planned = e.code === "NOT_FOUND" ? await this.planFileTarget(id) : false;
      if (!planned) throw new AppError(e.code, `schema discovery failed: ${e.message}`);
      schema = await this.withConnector(id, (c) => c.discoverSchema());
    }
    return this.deps.prisma.$transaction(async (tx) => {
      await tx.objectType.deleteMany({ where: { connectedSystemId: id } });
      for (const type of schema.objectTypes) {
        await tx.objectType.create({
          data: {
            connectedSystemId: id,
            name: type.name,
            anchorAttribute: type.anchorAttribute,
            attributes: { createMany: { data: type.attributes, skipDuplicates: true } },
          },
        });
      }
      return tx.connectedSystem.update({ where: { id }, data: { schemaDiscoveredAt: new Date() } });
    });
  }

  /**
   * A CSV file that does not exist yet is an export target to be: its columns are the anchor and
   * what the system's outbound rules write, kept as the config's `columns` (a new settings
   * version) so testConnection, discovery and the first export (which creates the file) use them.
   * False when the system is no such target (another kind, or no outbound rule).
   */
  private async planFileTarget(id: string): Promise<boolean> {
    const system = await this.deps.prisma.connectedSystem.findUnique({ where: { id } });
    if (system?.kind !== "CSV") return false;
    const rules = await this.deps.prisma.syncRule.findMany({
      where: { connectedSystemId: id, direction: "OUTBOUND", enabled: true },
      orderBy: { createdAt: "asc" },
      select: { attributeFlows: true },
    });
    if (rules.length === 0) return false;
    const settings = await this.deps.systems.currentSettings(system);
    const anchor = String((settings.config as Record<string, unknown>).anchor);
    const columns = new Map<string, string>([[anchor.toLowerCase(), anchor]]);
    for (const rule of rules)
      for (const flow of rule.attributeFlows as { target?: unknown }[]) {
        // "dn" names an LDAP entry, not a column.
        if (typeof flow.target !== "string" || flow.target.toLowerCase() === "dn") continue;
        if (!columns.has(flow.target.toLowerCase())) columns.set(flow.target.toLowerCase(), flow.target);
      }
    await this.deps.systems.planColumns(system, [...columns.values()]);
    return true;
  }

  private async withConnector<T>(id: string, use: (c: Connector) => Promise<T>): Promise<T> {
    const system = await this.deps.prisma.connectedSystem.findUnique({ where: { id } });
    if (!system) throw notFound("connected system", id);
    const settings = await this.deps.systems.currentSettings(system);
    const config = await this.deps.systems.resolveConfig(settings.id);
    const connect = this.deps.connect ?? createConnector;
    const connector = await connect(system.kind, config, { logger: this.deps.logger.child({ connectedSystemId: id }) });
    try {
      return await use(connector);
    } finally {
      await connector.close().catch(() => {});
    }
  }
}

function timeLimit<T>(promise: Promise<T>, ms: number): Promise<T> {
  return withTimeout(promise, ms, () => {
    throw new ConnectorError("TIMEOUT", `no answer within ${ms / 1000} s`);
  });
}
