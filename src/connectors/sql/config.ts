import { z } from "zod";
import { urlEndpoint } from "../endpoints.ts";

export const SqlConfigSchema = z
  .object({
    connectionString: z.string().regex(/^postgres(ql)?:\/\/.+/, "must be a postgresql:// URL"),
    schema: z.string().min(1).default("public"),
    table: z.string().min(1),
    anchor: z.string().min(1),
    objectType: z.string().min(1).default("person"),
    /** Column compared against the last import's high-water mark for delta imports. */
    watermarkColumn: z.string().min(1).optional(),
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
