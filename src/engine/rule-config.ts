import { z } from "zod";
import { ConflictStrategy as ConflictStrategies } from "../generated/prisma/enums.ts";

/**
 * Shapes of a sync rule's JSON columns, shared by configuration validation (API, YAML apply)
 * and the engine that executes them.
 */
export const JoinRuleSchema = z.object({
  /** Source attribute name, or a JSONata expression over the source object's attributes. */
  source: z.string().min(1),
  metaverseAttribute: z.string().min(1),
});

export const AttributeFlowSchema = z
  .object({
    /** Attribute written: metaverse attribute (INBOUND) or connector attribute (OUTBOUND); "dn" = LDAP DN. */
    // "$" is the key under which an identity's contributors are stored (sync/contributions.ts).
    target: z
      .string()
      .min(1)
      .refine((t) => t !== "$", { message: '"$" is reserved' }),
    /** Attribute copied as-is ... */
    source: z.string().min(1).optional(),
    /** ... or a JSONata expression over the source attributes; $n = 1, 2, 3 while a unique value is searched. */
    expression: z.string().min(1).optional(),
    /** The value must be unique among this system's objects: retried with $n + 1. */
    unique: z.boolean().optional(),
    /** Only written when the object is created. */
    initialOnly: z.boolean().optional(),
    /** The value references another metaverse object (manager, member): exported as its DN/anchor. */
    reference: z.boolean().optional(),
  })
  .refine((f) => (f.source === undefined) !== (f.expression === undefined), {
    message: "an attribute flow needs exactly one of source or expression",
  });

/** How dedupe keys match: sync/keys.ts and sync/dedupe.ts have one entry per kind. */
export const DEDUPE_MATCHES = ["exact", "fuzzy", "phonetic"] as const;
/** What happens to a duplicate: sync/join.ts and sync/merge.ts have one entry per strategy. */
export const DEDUPE_STRATEGIES = ["keep_first", "keep_most_complete", "merge_fields"] as const;
export type DedupeMatch = (typeof DEDUPE_MATCHES)[number];
export type DedupeStrategy = (typeof DEDUPE_STRATEGIES)[number];

export const DeduplicationSchema = z.object({
  keys: z.array(z.string().min(1)).min(1),
  match: z.enum(DEDUPE_MATCHES).default("exact"),
  /** fuzzy: minimum similarity 0..1 (normalised Levenshtein). */
  threshold: z.number().min(0).max(1).default(0.9),
  strategy: z.enum(DEDUPE_STRATEGIES).default("keep_first"),
});

export const DisableFlowSchema = z.object({
  attribute: z.string().min(1),
  value: z.union([z.string(), z.number(), z.boolean()]),
});

/** The database enum conflict_strategy (prisma/schema.prisma) is the one list; the GraphQL enum is built from it too. */
export const ConflictStrategySchema = z.enum(ConflictStrategies);

export type JoinRule = z.infer<typeof JoinRuleSchema>;
export type AttributeFlow = z.infer<typeof AttributeFlowSchema>;
export type Deduplication = z.infer<typeof DeduplicationSchema>;
export type DisableFlow = z.infer<typeof DisableFlowSchema>;
export type ConflictStrategy = z.infer<typeof ConflictStrategySchema>;
