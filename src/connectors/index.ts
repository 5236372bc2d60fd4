import type { ConnectorKind } from "../generated/prisma/enums.ts";
import { connectorConfigs } from "./configs.ts";
import { type Connector, ConnectorError } from "./connector.ts";
import type { ConnectorDeps } from "./deps.ts";
import { secretsOpenedBy, withSealedSecrets } from "./sealed-secrets.ts";

type Factory = (config: Record<string, unknown>, deps: ConnectorDeps) => Promise<Connector>;

/** Each kind's module is loaded on first use: a CSV-only deployment never loads ldapts. */
const factories: Record<ConnectorKind, () => Promise<Factory>> = {
  CSV: async () => (await import("./csv/index.ts")).createCsvConnector as Factory,
  SQL: async () => (await import("./sql/index.ts")).createSqlConnector as Factory,
  LDAP: async () => (await import("./ldap/index.ts")).createLdapConnector as Factory,
  SCIM: async () => (await import("./scim/index.ts")).createScimConnector as unknown as Factory,
  SCIM_INBOUND: async () => (await import("./scim-inbound/index.ts")).createScimInboundConnector as unknown as Factory,
};

/**
 * A connector for `kind` from a full (secrets included) config, validated again here; the
 * directory secrets it imports are sealed with deps.sealValue, those it exports opened with
 * deps.openValue (see sealed-secrets.ts).
 */
export async function createConnector(
  kind: ConnectorKind,
  config: Record<string, unknown>,
  deps: ConnectorDeps,
): Promise<Connector> {
  const parsed = connectorConfigs[kind].schema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConnectorError(
      "INVALID_INPUT",
      `invalid ${kind} config at ${(issue?.path ?? []).join(".")}: ${issue?.message}`,
      false,
    );
  }
  const factory = await factories[kind]();
  const keys = { seal: deps.sealValue, open: deps.openValue, opens: secretsOpenedBy(kind) };
  return withSealedSecrets(await factory(parsed.data, deps), keys);
}
