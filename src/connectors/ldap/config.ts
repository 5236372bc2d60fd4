import { z } from "zod";
import { hasUsablePort, PORT_MESSAGE, urlEndpoint } from "../endpoints.ts";

const ObjectTypeSchema = z
  .object({
    name: z.string().min(1).describe("Object type name (sync rules select it), e.g. person or group."),
    objectClasses: z
      .array(z.string().min(1))
      .min(1)
      .describe("An entry is of this type when it has all these object classes; CREATE writes them."),
    filter: z.string().min(1).optional().describe("Extra LDAP filter for this type, ANDed with the object classes."),
  })
  .strict();

export const LdapConfigSchema = z
  .object({
    url: z
      .string()
      .regex(/^ldaps?:\/\/.+/, "must be an ldap:// or ldaps:// URL")
      .refine(hasUsablePort, PORT_MESSAGE)
      .describe("Directory server URL, ldap://host:port or ldaps://host:port."),
    bindDn: z.string().min(1).describe("DN to bind as, e.g. cn=admin,dc=example,dc=com."),
    bindPassword: z.string().min(1).describe("Password of bindDn; stored encrypted, read back as ********."),
    baseDn: z.string().min(1).describe("Search base: only entries below it are imported."),
    filter: z.string().min(1).default("(objectClass=*)").describe("LDAP filter for the import search."),
    objectClasses: z
      .array(z.string().min(1))
      .min(1)
      .default(["inetOrgPerson"])
      .describe("Object classes an entry must have (single-type setup); CREATE writes them."),
    objectType: z.string().min(1).default("person").describe("Object type of the entries (single-type setup)."),
    anchorAttribute: z
      .string()
      .min(1)
      .default("entryUUID")
      .describe("Attribute holding the stable anchor (entryUUID on OpenLDAP, objectGUID on Active Directory)."),
    pageSize: z.number().int().min(1).max(10000).default(500).describe("Entries per paged-results page."),
    startTls: z.boolean().default(false).describe("Upgrade an ldap:// connection with StartTLS."),
    tlsRejectUnauthorized: z
      .boolean()
      .default(true)
      .describe("Refuse a server certificate that is not trusted; turn off only for tests."),
    tlsCa: z
      .string()
      .min(1)
      .optional()
      .describe("PEM certificate(s) to trust for ldaps:// and StartTLS, besides the system's roots."),
    timeoutMs: z.number().int().min(100).max(600000).default(10000).describe("Timeout of one request, in milliseconds."),
    concurrency: z.number().int().min(1).max(64).default(8).describe("Requests kept in flight per connection during export."),
    // Optional extensions (absent = the single-type behaviour above).
    objectTypes: z
      .array(ObjectTypeSchema)
      .min(1)
      .optional()
      .describe("Several object types (e.g. person and group); replaces objectType/objectClasses when set."),
    attributes: z
      .array(z.string().min(1))
      .optional()
      .describe("Attributes to import; default all user attributes. The anchor is always requested."),
    deltaStrategy: z
      .enum(["entryCSN", "accesslog"])
      .default("entryCSN")
      .describe(
        'How delta import finds changes: "entryCSN" (adds and changes only; deletes show up at the next full import) or "accesslog" (also deletes, from the accesslog overlay\'s log database).',
      ),
    accesslogBase: z
      .string()
      .min(1)
      .default("cn=accesslog")
      .describe('Base DN of the accesslog database (deltaStrategy "accesslog").'),
    // On local slapd (bench/connectors-ldap.ts, 4 runs on a loaded 2-core machine) 1 x 8 gave
    // 2.3-3.6k adds/s and 2 x 8 3.0-4.2k/s: no consistent winner, so one connection by default.
    connections: z
      .number()
      .int()
      .min(1)
      .max(16)
      .default(1)
      .describe("Bound connections used by export, each with `concurrency` requests in flight."),
    binaryAttributes: z
      .array(z.string().min(1))
      .optional()
      .describe("Attributes to treat as binary (base64) besides those the schema's syntaxes say are."),
  })
  .strict();

export type LdapConfig = z.infer<typeof LdapConfigSchema>;
export const ldapSecretFields = ["bindPassword"] as const;

/** The directory the bind password goes to. */
export const ldapEndpoint = (config: Record<string, unknown>) => urlEndpoint(config.url, { "ldap:": 389, "ldaps:": 636 });
