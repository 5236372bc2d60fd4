// What a connector is built from, and the factory type runs and preflights build connectors
// with (createConnector in index.ts; tests inject their own).
import type { ConnectorKind } from "../generated/prisma/enums.ts";
import type { Logger } from "../logger.ts";
import type { Connector } from "./connector.ts";

export interface ConnectorDeps {
  logger: Logger;
  /** Folders file connectors may use; default METASYNC_FILE_ROOTS (or DATA_DIR/files) from the environment. */
  fileRoots?: readonly string[];
  /** Seals the secret attribute values a connector imports (SecretBox.sealValue); absent: none imported. */
  sealValue?: (value: string) => string;
  /** Opens sealed values before they are written to a system (SecretBox.openValue). */
  openValue?: (sealed: string) => string;
}

export type ConnectorFactory = (kind: ConnectorKind, config: Record<string, unknown>, deps: ConnectorDeps) => Promise<Connector>;
