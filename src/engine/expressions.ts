import jsonata from "jsonata";
import type { AttributeValue } from "../connectors/connector.ts";

/** A JSONata expression compiled once per rule and run, evaluated per object. */
export interface CompiledExpression {
  readonly source: string;
  evaluate(input: Record<string, unknown>, bindings?: Record<string, unknown>): Promise<unknown>;
}

/** Invalid expression: carries the parser's position so configuration errors point at it. */
export class ExpressionError extends Error {
  constructor(
    readonly expression: string,
    readonly position: number | undefined,
    message: string,
  ) {
    super(position === undefined ? message : `${message} at position ${position}`);
    this.name = "ExpressionError";
  }
}

export function compileExpression(source: string): CompiledExpression {
  let compiled: ReturnType<typeof jsonata>;
  try {
    compiled = jsonata(source);
  } catch (e) {
    const err = e as { message?: string; position?: number };
    throw new ExpressionError(source, err.position, err.message ?? "invalid expression");
  }
  return {
    source,
    async evaluate(input, bindings) {
      try {
        return await compiled.evaluate(input, bindings);
      } catch (e) {
        const err = e as { message?: string; position?: number };
        throw new ExpressionError(source, err.position, err.message ?? "evaluation failed");
      }
    },
  };
}

export type FlowValue = AttributeValue | AttributeValue[] | null;

/**
 * What an attribute flow produced, normalised: undefined/empty -> null (no value: a lower
 * precedence source may supply one), sequences -> plain arrays of primitives, single-element
 * arrays kept as arrays (multi-valued stays multi-valued). Objects are not attribute values.
 */
export function toFlowValue(value: unknown): FlowValue {
  if (value === undefined || value === null || value === "") return null;
  if (Array.isArray(value)) {
    const items = value.flatMap((v) => (v === null || v === undefined || v === "" ? [] : [v]));
    if (items.some((v) => typeof v === "object"))
      throw new ExpressionError("", undefined, "an attribute value cannot be an object");
    return items.length ? (items as AttributeValue[]) : null;
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
