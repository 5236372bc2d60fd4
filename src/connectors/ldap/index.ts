import type { Connector } from "../connector.ts";
import { ConnectorError } from "../connector.ts";
import type { ConnectorDeps } from "../index.ts";
import type { LdapConfig } from "./config.ts";

// Placeholder until the Ldap connector lands (issue 5): refuses clearly instead of pretending.
export async function createLdapConnector(_config: LdapConfig, _deps: ConnectorDeps): Promise<Connector> {
  throw new ConnectorError("UNSUPPORTED", "the LDAP connector is not implemented yet", false);
}
