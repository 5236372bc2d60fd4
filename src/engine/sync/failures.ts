import { RuleExpressionError } from "../rule-expression-error.ts";
import type { RunChangeRow } from "../run-changes.ts";

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
