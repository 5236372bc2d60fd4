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
      .refine(hasUsablePort, PORT_MESSAGE),
    schema: identifier.default("public"),
    table: identifier,
    anchor: identifier,
    objectType: z.string().min(1).default("person"),
    /** Column compared against the last import's high-water mark for delta imports. */
    watermarkColumn: identifier.optional(),
    /**
     * Delta imports also look up the engine's stored anchors in the table (one indexed query per
     * page of anchors) to report deleted rows; off: deletes show up at the next full import only.
     */
    deltaDeletes: z.boolean().default(true),
    pageSize: z.number().int().min(1).max(50000).default(1000),
    timeoutMs: z.number().int().min(100).max(600000).default(10000),
  })
  .strict();

export type SqlConfig = z.infer<typeof SqlConfigSchema>;
export const sqlSecretFields = ["connectionString"] as const;

/** The server the connection string (and its password) goes to. */
export const sqlEndpoint = (config: Record<string, unknown>) =>
  urlEndpoint(config.connectionString, { "postgres:": 5432, "postgresql:": 5432 });
