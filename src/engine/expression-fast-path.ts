/**
 * Most attribute flows are string building: `'uid=' & $lowercase(employeeId) & ',ou=people'`,
 * `givenName & ' ' & sn`. JSONata evaluates each node through promises (a real-time record's
 * outbound flows were ~6% of the worker's CPU in a profile, and more in garbage collection). This
 * evaluates that subset directly, from the expression's own syntax tree: string literals, a plain
 * attribute name, `&`, and $lowercase/$uppercase of one of those; and, as a whole expression,
 * `$map(attribute, $lowercase)` (or $uppercase) over a list of strings, e.g. a group's members as
 * RFC 2307 memberUid values (JSONata took ~50 ms per 100,000 members through its promise chain).
 * Only where the values met are strings (or absent) is the answer taken here; for anything else
 * (numbers, arrays, null, other nodes, a binding named like a function) the caller evaluates with
 * JSONata, so the answer is JSONata's in every case.
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

type Evaluator<T> = (input: Record<string, unknown>, bindings?: Record<string, unknown>) => T | undefined | typeof NOT_HANDLED;
type Fast = Evaluator<string | string[]>;

const FUNCTIONS: Record<string, (s: string) => string> = {
  lowercase: (s) => s.toLowerCase(),
  uppercase: (s) => s.toUpperCase(),
};

/** One of FUNCTIONS by name: its own keys only (`$constructor` is no function of ours). */
const functionNamed = (name: string | null) => (name !== null && Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined);

/** Keys a node of the subset may carry, set (a step with a predicate, stages or a group is not plain). */
const PLAIN_KEYS = new Set(["type", "value", "position", "lhs", "rhs", "steps", "procedure", "arguments"]);
const plain = (n: Node) => Object.entries(n).every(([k, v]) => v === undefined || PLAIN_KEYS.has(k));

/** The fast evaluator of an expression's tree, or null when the tree is not in the subset. */
export function fastPath(ast: Node): Fast | null {
  return mapOfList(ast) ?? text(ast);
}

/** A function call's name, when it is a plain `$name(...)` of the FUNCTIONS (or `map`). */
const calleeOf = (ast: Node) =>
  ast.type === "function" && ast.procedure?.type === "variable" && plain(ast.procedure) ? (ast.procedure.value as string) : null;

/** The value of a plain attribute name, or null when the node is not one. */
function attributeOf(ast: Node): ((input: Record<string, unknown>) => unknown) | null {
  const step = ast.type === "path" && ast.steps?.length === 1 ? ast.steps[0]! : null;
  if (step?.type !== "name" || typeof step.value !== "string" || !plain(step)) return null;
  const name = step.value;
  return (input) => (Object.hasOwn(input, name) ? input[name] : undefined);
}

/**
 * `$map(attribute, $lowercase)`: JSONata's answer for a string or a list of strings is absent for
 * an empty list, the one value for a list of one (a sequence of one is its value), and the list
 * of values otherwise.
 */
function mapOfList(ast: Node): Fast | null {
  if (!plain(ast) || calleeOf(ast) !== "map" || ast.arguments?.length !== 2) return null;
  const [list, callee] = ast.arguments as [Node, Node];
  const name = callee.type === "variable" && plain(callee) ? (callee.value as string) : null;
  const fn = functionNamed(name);
  const read = attributeOf(list);
  if (!fn || !read) return null;
  return (input, bindings) => {
    if (bindings && (Object.hasOwn(bindings, "map") || Object.hasOwn(bindings, name!))) return NOT_HANDLED;
    const v = read(input);
    if (v === undefined) return undefined;
    if (typeof v === "string") return fn(v);
    if (!Array.isArray(v)) return NOT_HANDLED;
    const out = new Array<string>(v.length);
    for (let i = 0; i < v.length; i++) {
      const item = v[i];
      if (typeof item !== "string") return NOT_HANDLED;
      out[i] = fn(item);
    }
    return out.length === 0 ? undefined : out.length === 1 ? out[0] : out;
  };
}

/** String building: literals, attribute names, `&` and $lowercase/$uppercase of those. */
function text(ast: Node): Evaluator<string> | null {
  if (!plain(ast)) return null;
  switch (ast.type) {
    case "string": {
      const value = ast.value as string;
      return () => value;
    }
    case "path": {
      const read = attributeOf(ast);
      if (!read) return null;
      return (input) => {
        const v = read(input);
        return v === undefined || typeof v === "string" ? v : NOT_HANDLED;
      };
    }
    case "binary": {
      if (ast.value !== "&" || !ast.lhs || !ast.rhs) return null;
      const lhs = text(ast.lhs);
      const rhs = text(ast.rhs);
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
      const name = calleeOf(ast);
      const fn = functionNamed(name);
      if (!fn || ast.arguments?.length !== 1) return null;
      const arg = text(ast.arguments[0]!);
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
