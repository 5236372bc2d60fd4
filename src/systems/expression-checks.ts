import jsonata from "jsonata";
import { compileExpression, ExpressionError, presentAttributes } from "../engine/expressions.ts";
import { isPlainName } from "../engine/flows.ts";
import { AppError } from "../errors.ts";
import type { SyncRuleData } from "./sync-rule-validation.ts";

/** One JSONata expression of a rule, with the input path that names it and the variables the engine binds. */
export interface RuleExpression {
  path: string;
  /** "scope", `attribute flow "mail"`, `join rule 1`: how run changes name the same part. */
  part: string;
  expression: string;
  /** Variables the engine binds when evaluating (flows: $n; outbound flows: also earlier flows by target). */
  bindings: string[];
}

export function expressionsOf(rule: SyncRuleData): RuleExpression[] {
  const list: RuleExpression[] = [];
  if (rule.scope) list.push({ path: "scope", part: "scope", expression: rule.scope, bindings: [] });
  rule.joinRules.forEach((j, i) => {
    if (!isPlainName(j.source))
      list.push({ path: `joinRules[${i}].source`, part: `join rule ${i + 1}`, expression: j.source, bindings: [] });
  });
  const earlier: string[] = [];
  rule.attributeFlows.forEach((f, i) => {
    // A flow's source is copied as-is (engine/flows.ts), never evaluated: only expressions are checked.
    if (f.expression !== undefined)
      list.push({
        path: `attributeFlows[${i}].expression`,
        part: `attribute flow "${f.target}"`,
        expression: f.expression,
        bindings: ["n", ...(rule.direction === "OUTBOUND" ? earlier : [])],
      });
    earlier.push(f.target);
  });
  return list;
}

/** Whether JSONata has a built-in function of this name (answered by JSONata itself, cached). */
const builtins = new Map<string, boolean>();
async function isBuiltin(name: string): Promise<boolean> {
  let known = builtins.get(name);
  if (known === undefined) {
    // Built-ins are objects wrapping the implementation ({ _jsonata_function, implementation, signature }).
    known = (await jsonata(`$${name}`).evaluate({})) != null;
    builtins.set(name, known);
  }
  return known;
}

type Node = Record<string, unknown>;

/** Names called as functions, and names the expression binds itself ($f := ..., function($x)). */
function scan(ast: unknown) {
  const called = new Set<string>();
  const bound = new Set<string>();
  const seen = new WeakSet<object>();
  const variable = (n: unknown) => {
    const v = n as Node | undefined;
    return v?.type === "variable" && typeof v.value === "string" && v.value !== "" ? v.value : null;
  };
  const visit = (n: unknown) => {
    if (!n || typeof n !== "object" || seen.has(n)) return;
    seen.add(n);
    if (Array.isArray(n)) return n.forEach(visit);
    const node = n as Node;
    const callee =
      node.type === "function" || node.type === "partial"
        ? variable(node.procedure)
        : node.type === "apply"
          ? variable(node.rhs)
          : null;
    if (callee) called.add(callee);
    if (node.type === "bind") {
      const name = variable(node.lhs);
      if (name) bound.add(name);
    }
    if (node.type === "lambda" && Array.isArray(node.arguments))
      for (const a of node.arguments) {
        const name = variable(a);
        if (name) bound.add(name);
      }
    for (const value of Object.values(node)) visit(value);
  };
  visit(ast);
  return { called, bound };
}

/**
 * Calls of functions that exist nowhere ($nosuch(x)): not JSONata's, not bound by the expression,
 * not bound by the engine. JSONata only finds them when the call is reached, record by record.
 */
export async function checkFunctions(rule: SyncRuleData): Promise<void> {
  for (const e of expressionsOf(rule)) {
    const { called, bound } = scan(jsonata(e.expression).ast());
    for (const name of called) {
      if (bound.has(name) || e.bindings.includes(name) || (await isBuiltin(name))) continue;
      throw new AppError("BAD_USER_INPUT", `${e.path} (${e.part}): function $${name} does not exist`, {
        path: e.path,
        function: `$${name}`,
      });
    }
  }
}

/**
 * Evaluate every expression once against a sample object under the engine's bounds: an expression
 * that reaches a bound here would reach it for every record of a run. Other evaluation errors are
 * left to runs: they may depend on the data (a sample lacks attributes, synthetic values are not real).
 */
export async function checkAgainstSample(
  rule: SyncRuleData,
  sample: { attributes: Record<string, unknown>; description: string },
): Promise<void> {
  const input = presentAttributes(sample.attributes);
  for (const e of expressionsOf(rule)) {
    const bindings = Object.fromEntries(e.bindings.map((b) => [b, b === "n" ? 1 : undefined]));
    try {
      await compileExpression(e.expression).evaluate(input, bindings);
    } catch (err) {
      if (!(err instanceof ExpressionError) || err.code !== "EXPRESSION_LIMIT_EXCEEDED") continue;
      throw new AppError("BAD_USER_INPUT", `${e.path} (${e.part}): ${err.message} when evaluated against ${sample.description}`, {
        path: e.path,
        errorCode: err.code,
        jsonataCode: err.jsonataCode,
      });
    }
  }
}
