import { z } from "zod";
import type { ConnectorKind } from "../generated/prisma/enums.ts";
import { CsvConfigSchema, csvSecretFields } from "./csv/config.ts";
import { LdapConfigSchema, ldapEndpoint, ldapSecretFields } from "./ldap/config.ts";
import { ScimConfigSchema, scimEndpoint, scimRequiredSecrets, scimSecretFields } from "./scim/config.ts";
import { ScimInboundConfigSchema, scimInboundSecretFields } from "./scim-inbound/config.ts";
import { SqlConfigSchema, sqlEndpoint, sqlSecretFields } from "./sql/config.ts";

export interface ConnectorConfigSpec {
  schema: z.ZodType<Record<string, unknown>>;
  /** The schema as written, with its field descriptions: what the JSON Schema docs are generated from. */
  documented: z.ZodType<Record<string, unknown>>;
  /** Stored encrypted, never returned. */
  secretFields: readonly string[];
  /** The secret fields a run needs with this config; default all of secretFields (SCIM: token or password). */
  requiredSecrets?: (config: Record<string, unknown>) => readonly string[];
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

/**
 * A config schema that first refuses a NUL character in any string, nested ones included:
 * PostgreSQL's jsonb cannot store it, which made saving such a config an internal error.
 */
function withoutNul(schema: z.ZodType<Record<string, unknown>>): z.ZodType<Record<string, unknown>> {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      for (const path of nulPaths(value, [])) ctx.addIssue({ code: "custom", message: "must not contain a NUL character", path });
    })
    .pipe(schema);
}

function nulPaths(value: unknown, path: (string | number)[]): (string | number)[][] {
  if (typeof value === "string") return value.includes("\u0000") ? [path] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => nulPaths(v, [...path, i]));
  if (typeof value === "object" && value !== null)
    return Object.entries(value).flatMap(([k, v]) => (k.includes("\u0000") ? [[...path, k]] : nulPaths(v, [...path, k])));
  return [];
}

/** Each connector kind's config schema, secret and file fields, and where its secrets go. */
export const connectorConfigs: Record<ConnectorKind, ConnectorConfigSpec> = {
  CSV: {
    schema: withoutNul(CsvConfigSchema),
    documented: CsvConfigSchema,
    secretFields: csvSecretFields,
    fileFields: ["path"],
    endpoint: () => null,
    endpointFields: [],
  },
  LDAP: {
    schema: withoutNul(LdapConfigSchema),
    documented: LdapConfigSchema,
    secretFields: ldapSecretFields,
    fileFields: [],
    endpoint: ldapEndpoint,
    endpointFields: ["url"],
  },
  SQL: {
    schema: withoutNul(SqlConfigSchema),
    documented: SqlConfigSchema,
    secretFields: sqlSecretFields,
    fileFields: [],
    endpoint: sqlEndpoint,
    endpointFields: ["connectionString"],
  },
  SCIM: {
    schema: withoutNul(ScimConfigSchema),
    documented: ScimConfigSchema,
    secretFields: scimSecretFields,
    requiredSecrets: scimRequiredSecrets,
    fileFields: [],
    endpoint: scimEndpoint,
    endpointFields: ["baseUrl"],
  },
  SCIM_INBOUND: {
    schema: withoutNul(ScimInboundConfigSchema),
    documented: ScimInboundConfigSchema,
    secretFields: scimInboundSecretFields,
    fileFields: [],
    // Nothing is contacted: the token is what clients must send here, never sent anywhere.
    endpoint: () => null,
    endpointFields: [],
  },
};
