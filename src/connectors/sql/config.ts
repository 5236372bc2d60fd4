import { z } from "zod";
import { hasUsablePort, PORT_MESSAGE, urlEndpoint } from "../endpoints.ts";

/** A table, schema or column name: quoted when used (identifiers.ts), but PostgreSQL has no NUL in names. */
const identifier = z
  .string()
  .min(1)
  .refine((s) => !s.includes("\u0000"), "an identifier cannot contain NUL");

export const SqlConfigSchema = z
  .object({
    connectionString: z
      .string()
      .regex(/^postgres(ql)?:\/\/.+/, "must be a postgresql:// URL")
      .refine(hasUsablePort, PORT_MESSAGE)
      .describe("PostgreSQL URL, postgresql://user:password@host:port/database; stored encrypted, read back as ********."),
    schema: identifier.default("public").describe("Database schema of the table."),
    table: identifier.describe("Table holding one row per object."),
    anchor: identifier.describe("Column holding each row's stable, unique key."),
    objectType: z.string().min(1).default("person").describe("Object type of the rows (sync rules select it)."),
    watermarkColumn: identifier
      .optional()
      .describe("Column compared against the last import's high-water mark for delta imports (e.g. an updated_at)."),
    deltaDeletes: z
      .boolean()
      .default(true)
      .describe(
        "Delta imports also look up the stored anchors in the table (one indexed query per page of anchors) to report deleted rows; off: deletes show up at the next full import only.",
      ),
    pageSize: z.number().int().min(1).max(50000).default(1000).describe("Rows per import page."),
    timeoutMs: z.number().int().min(100).max(600000).default(10000).describe("Timeout of one statement, in milliseconds."),
  })
  .strict();

export type SqlConfig = z.infer<typeof SqlConfigSchema>;
export const sqlSecretFields = ["connectionString"] as const;

/** The server the connection string (and its password) goes to. */
export const sqlEndpoint = (config: Record<string, unknown>) =>
  urlEndpoint(config.connectionString, { "postgres:": 5432, "postgresql:": 5432 });
