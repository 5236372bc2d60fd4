import { z } from "zod";

/**
 * The mass-change breaker: limits on how much of a target system one sync run may change.
 * Pure (no I/O): the shape of a breaker's configuration, the default protection, and the
 * evaluation of a run's figures against the limits. breaker-hold.ts applies it while planning.
 */

const percent = z.number().min(0, "must be between 0 and 100").max(100, "must be between 0 and 100");
const count = z.number().int("must be a whole number").min(0, "must be 0 or more");

export const BreakerAttributeSchema = z.object({
  /** The target system's own attribute name (as exports carry it), e.g. "department". */
  name: z.string().trim().min(1, "must not be empty").max(200),
  maxChangePercent: percent,
});

export const BreakerSchema = z
  .object({
    /** false: no limit at all, the default protection included. */
    enabled: z.boolean().nullish(),
    maxCreatePercent: percent.nullish(),
    maxUpdatePercent: percent.nullish(),
    maxDeletePercent: percent.nullish(),
    maxCreates: count.nullish(),
    maxUpdates: count.nullish(),
    maxDeletes: count.nullish(),
    attributes: z.array(BreakerAttributeSchema).max(100).nullish(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const seen = new Set<string>();
    for (const [i, a] of (b.attributes ?? []).entries()) {
      const key = a.name.toLowerCase();
      if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["attributes", i, "name"], message: `"${a.name}" is given twice` });
      seen.add(key);
    }
  });

export type BreakerConfig = z.infer<typeof BreakerSchema>;

/**
 * Protection without configuration, as Entra Connect's accidental-delete prevention (500
 * deletes), tightened for small systems: a run's deletes above 500 objects or above 5% of the
 * system, whichever is lower, are held.
 */
export const DEFAULT_BREAKER = { maxDeletes: 500, maxDeletePercent: 5 } as const;

export interface BreakerLimits {
  maxCreatePercent: number | null;
  maxUpdatePercent: number | null;
  maxDeletePercent: number | null;
  maxCreates: number | null;
  maxUpdates: number | null;
  maxDeletes: number | null;
  attributes: { name: string; maxChangePercent: number }[];
  /** True when nothing was configured and the default protection applies. */
  isDefault: boolean;
}

const NONE: BreakerLimits = {
  maxCreatePercent: null,
  maxUpdatePercent: null,
  maxDeletePercent: null,
  maxCreates: null,
  maxUpdates: null,
  maxDeletes: null,
  attributes: [],
  isDefault: false,
};

/**
 * The limits a system's breaker puts in force. No configuration (null) is the default
 * protection; a configured breaker that sets neither delete limit keeps the default's delete
 * limits (giving limits on updates should not silently drop the delete protection); to allow any
 * number of deletes, set maxDeletePercent to 100 or enabled to false.
 */
export function systemLimits(config: BreakerConfig | null | undefined): BreakerLimits {
  if (!config) return { ...NONE, ...DEFAULT_BREAKER, isDefault: true };
  if (config.enabled === false) return NONE;
  const deletesGiven = config.maxDeletes != null || config.maxDeletePercent != null;
  return {
    ...configuredLimits(config),
    ...(deletesGiven ? {} : DEFAULT_BREAKER),
  };
}

/** A sync rule's own breaker: only what it configures (no default; the system's applies too). */
export function ruleLimits(config: BreakerConfig | null | undefined): BreakerLimits | null {
  if (!config || config.enabled === false) return null;
  const limits = configuredLimits(config);
  return hasLimits(limits) ? limits : null;
}

function configuredLimits(config: BreakerConfig): BreakerLimits {
  return {
    maxCreatePercent: config.maxCreatePercent ?? null,
    maxUpdatePercent: config.maxUpdatePercent ?? null,
    maxDeletePercent: config.maxDeletePercent ?? null,
    maxCreates: config.maxCreates ?? null,
    maxUpdates: config.maxUpdates ?? null,
    maxDeletes: config.maxDeletes ?? null,
    attributes: (config.attributes ?? []).map((a) => ({ name: a.name, maxChangePercent: a.maxChangePercent })),
    isDefault: false,
  };
}

export function hasLimits(l: BreakerLimits): boolean {
  return (
    [l.maxCreatePercent, l.maxUpdatePercent, l.maxDeletePercent, l.maxCreates, l.maxUpdates, l.maxDeletes].some(
      (v) => v !== null,
    ) || l.attributes.length > 0
  );
}

/** What one run planned for one target system (or one rule's share of it) so far. */
export interface RunFigures {
  creates: number;
  updates: number;
  deletes: number;
  /** Updates per attribute name (lower-cased), for attribute limits. */
  attributes: Record<string, number>;
  /**
   * The target system's objects (connector space, NORMAL only: no placeholders, no objects an
   * import found gone): the base of percentages. Counted only as far as a decision needs it
   * (objectsDeciding), and exactly whenever a figure is reported.
   */
  objects: number;
}

export interface Crossing {
  /** The limit crossed, as the configuration names it: "maxDeletes", "attributes.department"... */
  field: string;
  limit: number;
  actual: number;
  unit: "count" | "percent";
}

const round = (n: number) => Math.round(n * 100) / 100;
const share = (n: number, of: number) => (n / of) * 100;

/**
 * The fewest objects at which the figures cross no percentage limit: a system known to hold at
 * least this many needs no exact count to be judged (0: no percentage can be crossed). A limit
 * of 0% is crossed by any change of a non-empty system, so knowing it holds one object decides.
 */
export function objectsDeciding(limits: BreakerLimits, figures: Omit<RunFigures, "objects">): number {
  const percents: [number | null, number][] = [
    [limits.maxCreatePercent, figures.creates],
    [limits.maxUpdatePercent, figures.updates],
    [limits.maxDeletePercent, figures.deletes],
    ...limits.attributes.map((a): [number, number] => [a.maxChangePercent, figures.attributes[a.name.toLowerCase()] ?? 0]),
  ];
  let fewest = 0;
  for (const [limit, n] of percents) {
    if (limit === null || n === 0) continue;
    // share(n, objects) > limit  <=>  objects < n * 100 / limit
    fewest = Math.max(fewest, limit <= 0 ? 1 : Math.ceil((n * 100) / limit));
  }
  return fewest;
}

/**
 * The limits a run's figures cross. Percentages are of the system's objects and only judged
 * when it has some (a first load into an empty system is 100% of nothing: count limits govern
 * it). A figure equal to its limit does not cross it ("more than").
 */
export function evaluateBreaker(limits: BreakerLimits, figures: RunFigures): Crossing[] {
  const out: Crossing[] = [];
  const kinds = [
    ["Create", figures.creates],
    ["Update", figures.updates],
    ["Delete", figures.deletes],
  ] as const;
  for (const [kind, n] of kinds) {
    const max = limits[`max${kind}s`];
    if (max !== null && n > max) out.push({ field: `max${kind}s`, limit: max, actual: n, unit: "count" });
    const maxPercent = limits[`max${kind}Percent`];
    if (maxPercent !== null && figures.objects > 0 && share(n, figures.objects) > maxPercent)
      out.push({ field: `max${kind}Percent`, limit: maxPercent, actual: round(share(n, figures.objects)), unit: "percent" });
  }
  if (figures.objects > 0)
    for (const a of limits.attributes) {
      const n = figures.attributes[a.name.toLowerCase()] ?? 0;
      if (share(n, figures.objects) > a.maxChangePercent)
        out.push({
          field: `attributes.${a.name}`,
          limit: a.maxChangePercent,
          actual: round(share(n, figures.objects)),
          unit: "percent",
        });
    }
  return out;
}

/** One sentence with the figures, recorded on every held export and on the hold. */
export function holdReason(crossings: Crossing[], figures: RunFigures, isDefault: boolean): string {
  const parts = crossings.map((c) => {
    const what = c.field.startsWith("attributes.")
      ? `${figures.attributes[c.field.slice(11).toLowerCase()] ?? 0} changes of ${c.field.slice(11)} (${c.actual}% of ${figures.objects} objects)`
      : c.unit === "percent"
        ? `${figureOf(c.field, figures)} ${noun(c.field)} (${c.actual}% of ${figures.objects} objects)`
        : `${c.actual} ${noun(c.field)}`;
    return `${what} > ${c.field} ${c.limit}${c.unit === "percent" ? "%" : ""}`;
  });
  return `mass-change breaker${isDefault ? " (default protection)" : ""}: ${parts.join("; ")}`;
}

const noun = (field: string) =>
  field.startsWith("maxCreate") ? "creates" : field.startsWith("maxUpdate") ? "updates" : "deletes";
const figureOf = (field: string, f: RunFigures) =>
  field.startsWith("maxCreate") ? f.creates : field.startsWith("maxUpdate") ? f.updates : f.deletes;
