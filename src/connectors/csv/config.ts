import { z } from "zod";

export const CsvConfigSchema = z
  .object({
    path: z.string().min(1),
    anchor: z.string().min(1),
    objectType: z.string().min(1).default("person"),
    delimiter: z.string().min(1).max(4).default(","),
    quote: z.string().length(1).default('"'),
    encoding: z.string().min(1).default("utf8"),
    /** Columns holding several values, split on `valueSeparator`. */
    multiValued: z.array(z.string().min(1)).default([]),
    valueSeparator: z.string().min(1).default("|"),
    /**
     * Rows per import page; the engine merges pages into batches of RunOptions.importBatchSize.
     * A delta import looks up stored hashes once per page: 5,000 matches the engine's batch.
     */
    pageSize: z.number().int().min(1).max(50000).default(5000),
  })
  .strict();

export type CsvConfig = z.infer<typeof CsvConfigSchema>;
export const csvSecretFields = [] as const;
