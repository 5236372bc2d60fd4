import type { Connector, ConnectorCapabilities, ExportChange, ImportContext } from "../connector.ts";
import { ScimClient } from "./client.ts";
import type { ScimConfig } from "./config.ts";
import { exportChanges } from "./export.ts";
import { importDelta, importFull } from "./import.ts";
import { MemberKeys } from "./members.ts";
import { describeModel, loadModel, type ScimModel } from "./model.ts";

const capabilities: ConnectorCapabilities = {
  fullImport: true,
  // By meta.lastModified where the service filters; otherwise a delta reads everything again.
  deltaImport: true,
  export: true,
  schemaDiscovery: true,
  // A SCIM resource has no DN: a new userName is an UPDATE like any other attribute.
  rename: false,
};

/** The connector for a SCIM 2.0 service provider (RFC 7643/7644), as a client. */
export async function createScimConnector(config: ScimConfig): Promise<Connector> {
  const client = new ScimClient(config);
  let modelLoad: Promise<ScimModel> | undefined;
  const model = (): Promise<ScimModel> => {
    modelLoad ??= loadModel(client).catch((err) => {
      modelLoad = undefined; // try again next time rather than remember a failure
      throw err;
    });
    return modelLoad;
  };
  const members = new MemberKeys(client, model);
  const deps = { client, config, model, members };

  return {
    capabilities,

    async testConnection(timeoutMs = config.timeoutMs) {
      const { body } = await client.request("GET", "/ServiceProviderConfig", {}, timeoutMs);
      // The configuration is often public: a list read proves the credentials.
      const first = Object.values(config.objectTypes)[0] ?? "Users";
      await client.request("GET", `/${first}`, { query: { count: 1 } }, timeoutMs);
      const features = ["patch", "bulk", "filter"].filter((f) => (body?.[f] as { supported?: boolean })?.supported === true);
      return { message: `${config.baseUrl} answered as a SCIM 2.0 service (${features.join(", ") || "no optional features"})` };
    },

    async discoverSchema() {
      return describeModel(await model(), config.objectTypes);
    },

    importFull(checkpoint: unknown, context: ImportContext) {
      return importFull(deps, checkpoint, context);
    },

    importDelta(watermark: unknown, checkpoint: unknown, context: ImportContext) {
      return importDelta(deps, watermark, checkpoint, context);
    },

    export(changes: ExportChange[]) {
      return exportChanges(deps, changes);
    },

    async close() {},
  };
}
