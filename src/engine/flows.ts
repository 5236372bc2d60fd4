import type { Attributes } from "../connectors/connector.ts";
import { compileExpression, type FlowValue, presentAttributes, toFlowValue } from "./expressions.ts";
import type { AttributeFlow } from "./rule-config.ts";

/**
 * The one compiler of attribute flows, inbound and outbound: the same rule text means the same
 * thing whichever way it flows.
 */

/** A name that is read as an attribute, not as JSONata, where a text may be either (join rule sources). */
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
export const isPlainName = (text: string): boolean => PLAIN_NAME.test(text);

export interface CompiledFlowValue {
  target: string;
  /** The attribute copied, for a copy (loop prevention and input checks read it); null for an expression. */
  source: string | null;
  /** What the flow evaluates, as written: the source attribute or the expression (errors quote it). */
  text: string;
  /**
   * Synchronous for a copy (most flows: no promise per value), a promise for an expression.
   * `n` is $n (1, 2, 3... while a unique value is searched); `bindings` are more variables
   * (an outbound rule's earlier flows by target name, `$uid` in a DN expression).
   */
  compute(attributes: Attributes, n?: number, bindings?: Record<string, FlowValue>): FlowValue | Promise<FlowValue>;
}

/**
 * `source` is an attribute copied as-is (API.md AttributeFlowInput), whatever its name: a CSV
 * column "Employee ID" or an LDAP "cn;lang-fr" is copied, never parsed as JSONata; save-time
 * validation checks it as an attribute name too. `expression` is JSONata over the attributes.
 */
export function compileFlow(flow: AttributeFlow): CompiledFlowValue {
  const target = flow.target;
  if (flow.source !== undefined) {
    const source = flow.source;
    return { target, source, text: source, compute: (attributes) => toFlowValue(attributes[source]) };
  }
  const text = flow.expression ?? "";
  const expression = compileExpression(text);
  return {
    target,
    source: null,
    text,
    compute: async (attributes, n = 1, bindings = {}) =>
      toFlowValue(await expression.evaluate(presentAttributes(attributes), { ...bindings, n })),
  };
}

/**
 * A join rule's source (API.md JoinRuleInput): an attribute name is copied without the
 * expression engine, anything else is JSONata over the attributes.
 */
export function compileJoinSource(text: string): (attributes: Attributes) => FlowValue | Promise<FlowValue> {
  if (isPlainName(text)) return (attributes) => toFlowValue(attributes[text]);
  const expression = compileExpression(text);
  return async (attributes) => toFlowValue(await expression.evaluate(presentAttributes(attributes)));
}
