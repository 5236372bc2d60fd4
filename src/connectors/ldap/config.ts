import { z } from "zod";

export const LdapConfigSchema = z
  .object({
    url: z.string().regex(/^ldaps?:\/\/.+/, "must be an ldap:// or ldaps:// URL"),
    bindDn: z.string().min(1),
    bindPassword: z.string().min(1),
    baseDn: z.string().min(1),
    filter: z.string().min(1).default("(objectClass=*)"),
    objectClasses: z.array(z.string().min(1)).min(1).default(["inetOrgPerson"]),
    objectType: z.string().min(1).default("person"),
    /** Attribute holding the stable anchor (entryUUID on OpenLDAP, objectGUID on AD). */
    anchorAttribute: z.string().min(1).default("entryUUID"),
    pageSize: z.number().int().min(1).max(10000).default(500),
    startTls: z.boolean().default(false),
    tlsRejectUnauthorized: z.boolean().default(true),
    timeoutMs: z.number().int().min(100).max(600000).default(10000),
    /** Requests kept in flight on the connection during export. */
    concurrency: z.number().int().min(1).max(64).default(8),
  })
  .strict();

export type LdapConfig = z.infer<typeof LdapConfigSchema>;
export const ldapSecretFields = ["bindPassword"] as const;
