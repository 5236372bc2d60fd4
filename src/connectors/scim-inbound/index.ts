import type { Connector } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { ScimInboundConfig } from "./config.ts";
import { inboundSchema } from "./schemas.ts";

/**
 * A SCIM_INBOUND system's connector. Its data arrives only by push (the SCIM routes of the API
 * server, src/server/scim.ts, write the real-time inbox), so it has nothing to import or export:
 * a full import would find nothing and mark every pushed object obsolete. It discovers the fixed
 * schema of what it serves.
 */
export async function createScimInboundConnector(config: ScimInboundConfig): Promise<Connector> {
  const refuse = (what: string) =>
    new ConnectorError(
      "UNSUPPORTED",
      `a SCIM_INBOUND system has nothing to ${what}: SCIM clients push to /scim/v2/<system name> and each push is applied by a REALTIME run`,
      false,
    );
  return {
    capabilities: { fullImport: false, deltaImport: false, export: false, schemaDiscovery: true, rename: false },
    async testConnection() {
      return { message: "SCIM service provider: clients push to /scim/v2/<system name>/Users and /Groups" };
    },
    async discoverSchema() {
      return inboundSchema({ user: config.userObjectType, group: config.groupObjectType });
    },
    // biome-ignore lint/correctness/useYield: refuses before reading anything
    async *importFull() {
      throw refuse("import");
    },
    // biome-ignore lint/correctness/useYield: refuses before reading anything
    async *importDelta() {
      throw refuse("import");
    },
    async export(changes) {
      return changes.map((c) => ({
        id: c.id,
        status: "PERMANENT_FAILURE" as const,
        code: "UNSUPPORTED" as const,
        message: refuse("export").message,
      }));
    },
    async close() {},
  };
}
