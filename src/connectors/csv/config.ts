import { z } from "zod";

export const CsvConfigSchema = z
  .object({
    path: z.string().min(1).describe("The CSV file, inside one of the folders of METASYNC_FILE_ROOTS."),
    anchor: z.string().min(1).describe("Column holding each row's stable, unique key."),
    objectType: z.string().min(1).default("person").describe("Object type the rows are (sync rules select it)."),
    // The parser needs a delimiter that cannot be part of a line break or a quote (PapaParse
    // would silently fall back to a comma).
    delimiter: z
      .string()
      .min(1)
      .max(4)
      .refine((d) => !/[\r\n"\uFEFF]/.test(d), "must not contain a line break, a double quote or a byte order mark")
      .default(",")
      .describe("Field separator, 1-4 characters."),
    quote: z
      .string()
      .length(1)
      .refine((q) => !/[\r\n]/.test(q), "must not be a line break")
      .default('"')
      .describe("Quote character around fields that contain the delimiter, a quote or a line break."),
    encoding: z.string().min(1).default("utf8").describe("Character encoding of the file (e.g. utf8, latin1, windows-1252)."),
    multiValued: z.array(z.string().min(1)).default([]).describe("Columns holding several values, split on valueSeparator."),
    valueSeparator: z.string().min(1).default("|").describe("Separator between the values of a multiValued column."),
    // The engine merges pages into batches of RunOptions.importBatchSize. A delta import looks up
    // stored hashes once per page: 5,000 matches the engine's batch.
    pageSize: z.number().int().min(1).max(50000).default(5000).describe("Rows per import page."),
    columns: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        "Header of a file that does not exist yet (an export target): testConnection and discovery take it as the file's columns, the first export creates the file with it. refreshSchema of a missing file fills it from the system's outbound rules.",
      ),
  })
  .strict()
  .refine((c) => !c.delimiter.includes(c.quote), { message: "the delimiter must not contain the quote", path: ["delimiter"] });

export type CsvConfig = z.infer<typeof CsvConfigSchema>;
export const csvSecretFields = [] as const;
