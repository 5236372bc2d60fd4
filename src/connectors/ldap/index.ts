import { withTimeout } from "../../util/timeout.ts";
import type { Connector, ConnectorCapabilities, ExportChange, ImportContext } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { ConnectorDeps } from "../deps.ts";
import { LdapSession } from "./client.ts";
import type { LdapConfig } from "./config.ts";
import { exportChanges } from "./export.ts";
import { type ImportDeps, importDelta, importFull } from "./import.ts";
import { describeSchema, LdapSchema, loadSchema, type ObjectTypeSpec } from "./schema.ts";

const capabilities: ConnectorCapabilities = {
  fullImport: true,
  deltaImport: true,
  export: true,
  schemaDiscovery: true,
  rename: true,
};

/** The connector for an LDAP directory (OpenLDAP; Active Directory where it is the same protocol). */
export async function createLdapConnector(config: LdapConfig, deps: ConnectorDeps): Promise<Connector> {
  const types: ObjectTypeSpec[] = config.objectTypes ?? [{ name: config.objectType, objectClasses: config.objectClasses }];
  // Connections open lazily, on first use; export spreads its requests over all of them.
  const sessions = Array.from({ length: config.connections }, () => new LdapSession(config));
  const main = sessions[0]!;

  let schemaLoad: Promise<LdapSchema> | undefined;
  const schema = (): Promise<LdapSchema> => {
    schemaLoad ??= loadSchema(main, config.binaryAttributes).catch((err) => {
      schemaLoad = undefined; // try again next time rather than remember a transient failure
      throw err;
    });
    return schemaLoad;
  };
  // Import and export work without the schema when it is unreadable: binary attributes are then
  // the configured ones (plus, on import, values that are not UTF-8), every attribute multi-valued.
  const optionalSchema = () =>
    schema().catch((err: unknown) => {
      if (err instanceof ConnectorError && err.code !== "AUTH_FAILED" && err.code !== "CONNECTION_FAILED") {
        deps.logger.warn({ err }, "LDAP subschema unreadable: using configured binaryAttributes only");
      }
      return new LdapSchema([], [], config.binaryAttributes);
    });
  const importDeps: ImportDeps = {
    session: main,
    config,
    types,
    schema: optionalSchema,
    sealsSecrets: deps.sealValue !== undefined,
  };

  return {
    capabilities,

    async testConnection(timeoutMs = config.timeoutMs) {
      const session = new LdapSession(config, timeoutMs);
      try {
        const check = session.run(`read ${config.baseDn}`, (c) =>
          c.search(config.baseDn, { scope: "base", attributes: ["1.1"] }),
        );
        await withTimeout(check, timeoutMs, () => {
          throw new ConnectorError("TIMEOUT", `no answer from ${config.url} within ${timeoutMs} ms`, true);
        });
        return { message: `bound to ${config.url} as ${config.bindDn}; ${config.baseDn} is readable` };
      } finally {
        await session.close();
      }
    },

    async discoverSchema() {
      return describeSchema(await schema(), types, config.anchorAttribute);
    },

    importFull(checkpoint: unknown, context: ImportContext) {
      return importFull(importDeps, checkpoint, context);
    },

    importDelta(watermark: unknown, checkpoint: unknown, context: ImportContext) {
      return importDelta(importDeps, watermark, checkpoint, context);
    },

    async export(changes: ExportChange[]) {
      return exportChanges({ sessions, config, types, schema: optionalSchema }, changes);
    },

    async close() {
      await Promise.all(sessions.map((s) => s.close()));
    },
  };
}
