/**
 * Most attribute flows are string building: `'uid=' & $lowercase(employeeId) & ',ou=people'`,
 * `givenName & ' ' & sn`. JSONata evaluates each node through promises (a real-time record's
 * outbound flows were ~6% of the worker's CPU in a profile, and more in garbage collection). This
 * evaluates that subset directly, from the expression's own syntax tree: string literals, a plain
 * attribute name, `&`, and $lowercase/$uppercase of one of those. Only where the values met are
 * strings (or absent) is the answer taken here; for anything else (numbers, arrays, null, other
 * nodes, a binding named like a function) the caller evaluates with JSONata, so the answer is
 * JSONata's in every case.
 */

/** The subset's syntax nodes, as jsonata's ast() gives them. */
interface Node {
  type: string;
  value?: unknown;
  lhs?: Node;
  rhs?: Node;
  steps?: Node[];
  procedure?: Node;
  arguments?: Node[];
  [key: string]: unknown;
}

/** This evaluation is not in the subset: JSONata answers it. */
export const NOT_HANDLED: unique symbol = Symbol("not handled");

type Fast = (input: Record<string, unknown>, bindings?: Record<string, unknown>) => string | undefined | typeof NOT_HANDLED;

const FUNCTIONS: Record<string, (s: string) => string> = {
  lowercase: (s) => s.toLowerCase(),
  uppercase: (s) => s.toUpperCase(),
};

/** Keys a node of the subset may carry, set (a step with a predicate, stages or a group is not plain). */
const PLAIN_KEYS = new Set(["type", "value", "position", "lhs", "rhs", "steps", "procedure", "arguments"]);
const plain = (n: Node) => Object.entries(n).every(([k, v]) => v === undefined || PLAIN_KEYS.has(k));

/** The fast evaluator of an expression's tree, or null when the tree is not in the subset. */
export function fastPath(ast: Node): Fast | null {
  if (!plain(ast)) return null;
  switch (ast.type) {
    case "string": {
      const value = ast.value as string;
      return () => value;
    }
    case "path": {
      const step = ast.steps?.length === 1 ? ast.steps[0]! : null;
      if (!step || step.type !== "name" || typeof step.value !== "string" || !plain(step)) return null;
      const name = step.value;
      return (input) => {
        const v = Object.hasOwn(input, name) ? input[name] : undefined;
        return v === undefined || typeof v === "string" ? v : NOT_HANDLED;
      };
    }
    case "binary": {
      if (ast.value !== "&" || !ast.lhs || !ast.rhs) return null;
      const lhs = fastPath(ast.lhs);
      const rhs = fastPath(ast.rhs);
      if (!lhs || !rhs) return null;
      // JSONata's &: an absent side is the empty string.
      return (input, bindings) => {
        const l = lhs(input, bindings);
        if (l === NOT_HANDLED) return NOT_HANDLED;
        const r = rhs(input, bindings);
        if (r === NOT_HANDLED) return NOT_HANDLED;
        return (l ?? "") + (r ?? "");
      };
    }
    case "function": {
      const name = ast.procedure?.type === "variable" ? (ast.procedure.value as string) : null;
      const fn = name ? FUNCTIONS[name] : undefined;
      if (!fn || !plain(ast.procedure!) || ast.arguments?.length !== 1) return null;
      const arg = fastPath(ast.arguments[0]!);
      if (!arg) return null;
      // $lowercase(absent) is absent.
      return (input, bindings) => {
        if (bindings && Object.hasOwn(bindings, name!)) return NOT_HANDLED;
        const v = arg(input, bindings);
        return v === undefined || v === NOT_HANDLED ? v : fn(v);
      };
    }
    default:
      return null;
  }
}
