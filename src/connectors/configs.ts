import type { z } from "zod";
import type { ConnectorKind } from "../generated/prisma/enums.ts";
import { CsvConfigSchema, csvSecretFields } from "./csv/config.ts";
import { LdapConfigSchema, ldapSecretFields } from "./ldap/config.ts";
import { ScimConfigSchema, scimSecretFields } from "./scim/config.ts";
import { SqlConfigSchema, sqlSecretFields } from "./sql/config.ts";

/** Each connector kind's config schema and which of its fields are secrets. */
export const connectorConfigs: Record<
  ConnectorKind,
  { schema: z.ZodType<Record<string, unknown>>; secretFields: readonly string[] }
> = {
  CSV: { schema: CsvConfigSchema, secretFields: csvSecretFields },
  LDAP: { schema: LdapConfigSchema, secretFields: ldapSecretFields },
  SQL: { schema: SqlConfigSchema, secretFields: sqlSecretFields },
  SCIM: { schema: ScimConfigSchema, secretFields: scimSecretFields },
};
