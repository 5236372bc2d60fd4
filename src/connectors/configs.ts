import type { z } from "zod";
import type { ConnectorKind } from "../generated/prisma/enums.ts";
import { CsvConfigSchema, csvSecretFields } from "./csv/config.ts";
import { LdapConfigSchema, ldapEndpoint, ldapSecretFields } from "./ldap/config.ts";
import { ScimConfigSchema, scimEndpoint, scimSecretFields } from "./scim/config.ts";
import { SqlConfigSchema, sqlEndpoint, sqlSecretFields } from "./sql/config.ts";

export interface ConnectorConfigSpec {
  schema: z.ZodType<Record<string, unknown>>;
  /** Stored encrypted, never returned. */
  secretFields: readonly string[];
  /** Paths of files the server reads or writes (confined to METASYNC_FILE_ROOTS). */
  fileFields: readonly string[];
  /**
   * Where the secrets are sent (scheme, host, port; a base URL), from a full config: when it
   * changes, the secrets must be given again.
   */
  endpoint: (config: Record<string, unknown>) => string | null;
  /** The fields that make up the endpoint, for error messages. */
  endpointFields: readonly string[];
}

/** Each connector kind's config schema, secret and file fields, and where its secrets go. */
export const connectorConfigs: Record<ConnectorKind, ConnectorConfigSpec> = {
  CSV: { schema: CsvConfigSchema, secretFields: csvSecretFields, fileFields: ["path"], endpoint: () => null, endpointFields: [] },
  LDAP: {
    schema: LdapConfigSchema,
    secretFields: ldapSecretFields,
    fileFields: [],
    endpoint: ldapEndpoint,
    endpointFields: ["url"],
  },
  SQL: {
    schema: SqlConfigSchema,
    secretFields: sqlSecretFields,
    fileFields: [],
    endpoint: sqlEndpoint,
    endpointFields: ["connectionString"],
  },
  SCIM: {
    schema: ScimConfigSchema,
    secretFields: scimSecretFields,
    fileFields: [],
    endpoint: scimEndpoint,
    endpointFields: ["baseUrl"],
  },
};
