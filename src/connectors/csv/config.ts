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
    /** Objects per import page (one engine batch). */
    pageSize: z.number().int().min(1).max(50000).default(1000),
  })
  .strict();

export type CsvConfig = z.infer<typeof CsvConfigSchema>;
export const csvSecretFields = [] as const;
