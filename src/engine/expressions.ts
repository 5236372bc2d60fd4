import jsonata from "jsonata";
import type { AttributeValue, AttributeValues } from "../connectors/connector.ts";
import { fastPath, NOT_HANDLED } from "./expression-fast-path.ts";

/**
 * Bounds of one evaluation. JSONata evaluates through chains of promises that never yield to
 * the event loop, so an unbounded expression (a recursive function, a map over a huge range)
 * pins the process or exhausts its memory: every evaluation runs under these, enforced by
 * JSONata's own guardrails (options timeout, stack, sequence).
 */
export interface ExpressionLimits {
  /** Wall time of one evaluation (JSONata D1012). */
  timeoutMs: number;
  /** Nesting depth of evaluation, recursion included (JSONata D1011). */
  maxDepth: number;
  /** Length of any sequence or range built while evaluating (JSONata D2014/D2015; JSONata's own cap is 1e7). */
  maxSequence: number;
}

export const DEFAULT_EXPRESSION_LIMITS: Readonly<ExpressionLimits> = Object.freeze({
  timeoutMs: 100,
  maxDepth: 200,
  maxSequence: 1_000_000,
});

let processLimits: ExpressionLimits = { ...DEFAULT_EXPRESSION_LIMITS };

/** Set once at start from the configuration (METASYNC_EXPRESSION_*): what compileExpression uses by default. */
export function configureExpressionLimits(limits: Partial<ExpressionLimits>): void {
  processLimits = { ...DEFAULT_EXPRESSION_LIMITS, ...limits };
}

export function expressionLimits(): ExpressionLimits {
  return { ...processLimits };
}

/** EXPRESSION_LIMIT_EXCEEDED: a bound above was reached; EXPRESSION_FAILED: any other evaluation error. */
export type ExpressionErrorCode = "EXPRESSION_FAILED" | "EXPRESSION_LIMIT_EXCEEDED";

/** A compiled expression, evaluated per object under the limits it was compiled with. */
export interface CompiledExpression {
  readonly source: string;
  evaluate(input: Record<string, unknown>, bindings?: Record<string, unknown>): Promise<unknown>;
}

/** Invalid expression: carries the parser's position so configuration errors point at it. */
export class ExpressionError extends Error {
  constructor(
    readonly expression: string,
    readonly position: number | undefined,
    /** The parser's or evaluator's own words, without the position. */
    readonly reason: string,
    readonly code: ExpressionErrorCode = "EXPRESSION_FAILED",
    /** JSONata's own error code (D1011, T2001...), when it gave one. */
    readonly jsonataCode: string | null = null,
  ) {
    super(position === undefined ? reason : `${reason} at position ${position}`);
    this.name = "ExpressionError";
  }
}

/** A time-bound failure is retried once (a garbage collection pause can eat the budget); after this
 * many in one compiled expression's life (one run) it fails at once: a hostile expression costs a
 * run a bounded total, not its time bound for every record. */
const TIMEOUTS_BEFORE_SKIPPING = 3;
/** Evaluations are chains of microtasks: yield to the event loop this often so timers, signals and heartbeats run. */
const YIELD_EVERY_MS = 50;
let lastYield = Date.now();

export function compileExpression(source: string, limits: ExpressionLimits = processLimits): CompiledExpression {
  let compiled: ReturnType<typeof jsonata>;
  try {
    compiled = jsonata(source, { timeout: limits.timeoutMs, stack: limits.maxDepth, sequence: limits.maxSequence });
  } catch (e) {
    const err = e as { message?: string; position?: number; code?: string };
    throw new ExpressionError(source, err.position, err.message ?? "invalid expression", "EXPRESSION_FAILED", err.code ?? null);
  }
  let timeouts = 0;
  // String building (the common flow) is answered without JSONata's machinery: same answers.
  const fast = fastPath(compiled.ast() as Parameters<typeof fastPath>[0]);
  const once = async (input: Record<string, unknown>, bindings?: Record<string, unknown>) => {
    try {
      const quick = fast ? fast(input, bindings) : NOT_HANDLED;
      return quick !== NOT_HANDLED ? quick : await compiled.evaluate(input, bindings);
    } catch (e) {
      throw toExpressionError(source, e, limits);
    } finally {
      if (Date.now() - lastYield > YIELD_EVERY_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = Date.now();
      }
    }
  };
  return {
    source,
    async evaluate(input, bindings) {
      if (timeouts >= TIMEOUTS_BEFORE_SKIPPING)
        throw new ExpressionError(
          source,
          undefined,
          `not evaluated: exceeded the time bound of ${limits.timeoutMs} ms ${timeouts} times in this run`,
          "EXPRESSION_LIMIT_EXCEEDED",
          "D1012",
        );
      try {
        return await once(input, bindings);
      } catch (e) {
        if (!(e instanceof ExpressionError) || e.jsonataCode !== "D1012") throw e;
        try {
          return await once(input, bindings);
        } catch (again) {
          if (again instanceof ExpressionError && again.jsonataCode === "D1012") timeouts++;
          throw again;
        }
      }
    },
  };
}

/** JSONata's errors (plain objects with a code) and the engine's own (RangeError), in the engine's terms. */
function toExpressionError(source: string, e: unknown, limits: ExpressionLimits): ExpressionError {
  const err = e as { message?: string; position?: number; code?: string };
  const limit = (what: string) =>
    new ExpressionError(source, err.position, `exceeded the ${what}`, "EXPRESSION_LIMIT_EXCEEDED", err.code ?? null);
  switch (err.code) {
    case "D1011":
      return limit(`depth bound of ${limits.maxDepth}`);
    case "D1012":
      return limit(`time bound of ${limits.timeoutMs} ms`);
    case "D2014":
    case "D2015":
      return limit(`sequence-size bound of ${limits.maxSequence}`);
  }
  // V8's own limits (a string or array grown past what it can hold, a native stack overflow).
  if (e instanceof RangeError) return limit(`memory bound (${e.message})`);
  return new ExpressionError(source, err.position, err.message ?? "evaluation failed", "EXPRESSION_FAILED", err.code ?? null);
}

/** What a flow computes: the same type as a connector attribute's values, so attribute maps need no casts. */
export type FlowValue = AttributeValues;

/**
 * What an attribute flow produced, normalised: undefined/empty -> null (no value: a lower
 * precedence source may supply one), sequences -> plain arrays of primitives, single-element
 * arrays kept as arrays (multi-valued stays multi-valued). Objects are not attribute values.
 */
export function toFlowValue(value: unknown): FlowValue {
  if (value === undefined || value === null || value === "") return null;
  if (Array.isArray(value)) {
    // One pass and no array per value: a group's 100,000 members each cost one with flatMap.
    const items: AttributeValue[] = [];
    for (const v of value) {
      if (v === null || v === undefined || v === "") continue;
      if (typeof v === "object") throw new ExpressionError("", undefined, "an attribute value cannot be an object");
      items.push(v as AttributeValue);
    }
    return items.length ? items : null;
  }
  if (typeof value === "object") throw new ExpressionError("", undefined, "an attribute value cannot be an object");
  if (typeof value === "number" && !Number.isFinite(value)) return null;
  return value as AttributeValue;
}

/** Expressions see absent attributes, not nulls: `givenName & ' ' & sn` must not print "null". */
export function presentAttributes<T extends Record<string, unknown>>(attributes: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attributes)) if (v !== null) out[k] = v;
  return out as T;
}

/**
 * A rule's scope: in scope when the JSONata expression is truthy; no expression = everything,
 * answered synchronously (no promise per object on the common path).
 */
export function compileScope(source: string | null): (attributes: Record<string, unknown>) => boolean | Promise<boolean> {
  if (!source) return () => true;
  const scope = compileExpression(source);
  return async (attributes) => Boolean(await scope.evaluate(presentAttributes(attributes)));
}
