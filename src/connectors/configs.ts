import type { z } from "zod";
import type { ConnectorKind } from "../generated/prisma/enums.ts";
import { CsvConfigSchema, csvSecretFields } from "./csv/config.ts";
import { LdapConfigSchema, ldapSecretFields } from "./ldap/config.ts";
import { ScimConfigSchema, scimSecretFields } from "./scim/config.ts";
import { SqlConfigSchema, sqlSecretFields } from "./sql/config.ts";

/**
 * Each connector kind's config schema, which of its fields are secrets, and which are paths of
 * files the server reads or writes (confined to METASYNC_FILE_ROOTS).
 */
export const connectorConfigs: Record<
  ConnectorKind,
  { schema: z.ZodType<Record<string, unknown>>; secretFields: readonly string[]; fileFields: readonly string[] }
> = {
  CSV: { schema: CsvConfigSchema, secretFields: csvSecretFields, fileFields: ["path"] },
  LDAP: { schema: LdapConfigSchema, secretFields: ldapSecretFields, fileFields: [] },
  SQL: { schema: SqlConfigSchema, secretFields: sqlSecretFields, fileFields: [] },
  SCIM: { schema: ScimConfigSchema, secretFields: scimSecretFields, fileFields: [] },
};
