import jsonata from "jsonata";
import type { FlowValue } from "../expressions.ts";

/** What an outbound flow reads: metaverse attributes by name, earlier flows' values by `$target`. */
export interface FlowInputs {
  attributes: string[];
  variables: string[];
}

type Node = { type?: string; value?: unknown; steps?: Node[]; procedure?: Node } & Record<string, unknown>;

/**
 * The inputs of a JSONata expression, read from its syntax tree: the first step of every path
 * (`uid` in `'uid=' & uid`, `department` in `department.name`) and every variable (`$uid`).
 * Function names (`$lowercase`) are not inputs.
 */
export function expressionInputs(source: string): FlowInputs {
  const attributes = new Set<string>();
  const variables = new Set<string>();
  const walk = (node: unknown, pathStep = false): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (!node || typeof node !== "object") return;
    const n = node as Node;
    if (n.type === "name" && !pathStep) attributes.add(String(n.value));
    if (n.type === "variable" && n.value !== "") variables.add(String(n.value));
    for (const [key, child] of Object.entries(n)) {
      if (key === "procedure") continue;
      if (key === "steps" && Array.isArray(child)) {
        child.forEach((step, i) => {
          // Later steps name fields inside the first one, not attributes of their own.
          walk(step, i > 0);
        });
        continue;
      }
      walk(child);
    }
  };
  walk(jsonata(source).ast());
  return { attributes: [...attributes], variables: [...variables] };
}

export const isMissing = (v: FlowValue | undefined) =>
  v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0);
