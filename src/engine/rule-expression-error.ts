import { ExpressionError, type ExpressionErrorCode } from "./expressions.ts";
import type { RunChangeRow } from "./run-changes.ts";

/** The rule a failing expression belongs to: what a run change names so an operator can find it. */
export interface RuleRef {
  id: string;
  name: string;
}

/**
 * An expression of a sync rule failed (or reached a bound) on one object. Carries the rule, the
 * part of the rule ("scope", `attribute flow "mail"`, `join rule 1`) and the expression, so the
 * run change can be attributed to the rule that failed rather than to the run that met it.
 */
export class RuleExpressionError extends Error {
  readonly code: ExpressionErrorCode;

  constructor(
    readonly rule: RuleRef,
    readonly part: string,
    readonly expression: string,
    cause: unknown,
  ) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`rule "${rule.name}", ${part}: expression \`${clip(expression)}\` ${detail}`);
    this.name = "RuleExpressionError";
    this.code = cause instanceof ExpressionError ? cause.code : "EXPRESSION_FAILED";
  }
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}...` : s);

/** Runs `compute`, naming the rule and part when it throws (synchronously or not). */
export function attributed<A extends unknown[], R>(
  rule: RuleRef,
  part: string,
  expression: string,
  compute: (...args: A) => R | Promise<R>,
): (...args: A) => R | Promise<R> {
  const wrap = (e: unknown) => (e instanceof RuleExpressionError ? e : new RuleExpressionError(rule, part, expression, e));
  return (...args) => {
    let out: R | Promise<R>;
    try {
      out = compute(...args);
    } catch (e) {
      throw wrap(e);
    }
    return out instanceof Promise
      ? out.catch((e) => {
          throw wrap(e);
        })
      : out;
  };
}

/**
 * The RECORD_ERROR run change of an expression that failed on one object, attributed to the rule
 * whose expression it is (which may belong to another system than the run's) and naming the part
 * of the rule (location) and the expression.
 */
export function expressionFailure(error: unknown, row: Omit<RunChangeRow, "changeType">): RunChangeRow {
  const ruleError = error instanceof RuleExpressionError ? error : null;
  return {
    ...row,
    changeType: "RECORD_ERROR",
    syncRuleId: ruleError?.rule.id ?? row.syncRuleId ?? null,
    errorCode: ruleError?.code ?? "EXPRESSION_FAILED",
    location: ruleError?.part ?? row.location ?? null,
    attributeChanges: ruleError ? { rule: ruleError.rule.name, part: ruleError.part, expression: ruleError.expression } : null,
    message: error instanceof Error ? error.message : String(error),
  };
}
