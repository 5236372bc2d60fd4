import { z } from "zod";
import { hasUsablePort, PORT_MESSAGE, urlEndpoint } from "../endpoints.ts";

const ObjectTypeSchema = z
  .object({
    name: z.string().min(1),
    /** An entry is of this type when it has all these object classes; CREATE writes them. */
    objectClasses: z.array(z.string().min(1)).min(1),
    /** Extra LDAP filter for this type, ANDed with the object classes. */
    filter: z.string().min(1).optional(),
  })
  .strict();

export const LdapConfigSchema = z
  .object({
    url: z
      .string()
      .regex(/^ldaps?:\/\/.+/, "must be an ldap:// or ldaps:// URL")
      .refine(hasUsablePort, PORT_MESSAGE),
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
    /** PEM certificate(s) to trust for ldaps:// and StartTLS, besides the system's roots. */
    tlsCa: z.string().min(1).optional(),
    timeoutMs: z.number().int().min(100).max(600000).default(10000),
    /** Requests kept in flight on the connection during export. */
    concurrency: z.number().int().min(1).max(64).default(8),
    // Optional extensions (absent = the single-type behaviour above).
    /** Several object types (e.g. person + group); replaces objectType/objectClasses when set. */
    objectTypes: z.array(ObjectTypeSchema).min(1).optional(),
    /** Attributes to import; default all user attributes. The anchor is always requested. */
    attributes: z.array(z.string().min(1)).optional(),
    /**
     * How delta import finds changes: "entryCSN" (adds/changes only; deletes show up at the next
     * full import) or "accesslog" (also deletes, from the accesslog overlay's log database).
     */
    deltaStrategy: z.enum(["entryCSN", "accesslog"]).default("entryCSN"),
    accesslogBase: z.string().min(1).default("cn=accesslog"),
    /**
     * Bound connections used by export, each with `concurrency` requests in flight. On local
     * slapd (bench/connectors-ldap.ts, 4 runs on a loaded 2-core machine) 1 x 8 gave 2.3-3.6k
     * adds/s and 2 x 8 3.0-4.2k/s: no consistent winner, so one connection by default.
     */
    connections: z.number().int().min(1).max(16).default(1),
    /** Attributes to treat as binary (base64) besides those the schema's syntaxes say are. */
    binaryAttributes: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type LdapConfig = z.infer<typeof LdapConfigSchema>;
export const ldapSecretFields = ["bindPassword"] as const;

/** The directory the bind password goes to. */
export const ldapEndpoint = (config: Record<string, unknown>) => urlEndpoint(config.url, { "ldap:": 389, "ldaps:": 636 });
