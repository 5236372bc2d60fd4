import {
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  GraphQLList,
  type GraphQLNamedType,
  GraphQLNonNull,
  type GraphQLSchema,
  type GraphQLType,
  getNamedType,
  isCompositeType,
  isInterfaceType,
  isObjectType,
  Kind,
  type SelectionSetNode,
  valueFromAST,
} from "graphql";
import { createGraphQLError, type Plugin } from "graphql-yoga";
import { MAX_PAGE_SIZE } from "../schema/builder.ts";

export interface CostLimits {
  maxCost: number;
  maxListArgument: number;
}

/** Size assumed for a list field with no first/last and no list argument (e.g. objectTypes). */
const DEFAULT_LIST_SIZE = 10;
/** Size assumed for a connection without first/last: its default page. */
const DEFAULT_PAGE = 100;

/**
 * Estimated cost of an operation: the number of field values the answer would hold. A field
 * inside a list counts once per element: first/last (also from variables) or the length of a
 * list argument (nodes(ids)) multiply everything below them; other lists count as
 * DEFAULT_LIST_SIZE, or as the `listSize` a field declares in its extensions. Every alias is a
 * selection of its own, so 49 aliases of one wide field cost 49 times as much. Fragments are
 * costed once and multiplied where spread, so nested spreads cannot make the estimate slow.
 * List arguments longer than maxListArgument are refused outright. One function because the
 * walk's visitors share the fragment cache and the running total.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  limits: CostLimits,
): { cost: number } | { error: string; code: "QUERY_TOO_COMPLEX" | "BAD_USER_INPUT" } {
  const fragments = new Map<string, FragmentDefinitionNode>();
  const operations = [];
  for (const d of document.definitions) {
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    else if (d.kind === Kind.OPERATION_DEFINITION) operations.push(d);
  }
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
  if (!operation) return { cost: 0 };
  const root =
    operation.operation === "query"
      ? schema.getQueryType()
      : operation.operation === "mutation"
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  if (!root) return { cost: 0 };

  const fragmentCosts = new Map<string, number>();
  let tooLong: string | null = null;

  const sizeOf = (field: GraphQLField<unknown, unknown>, node: import("graphql").FieldNode, parent: GraphQLNamedType): number => {
    let listArgument = 0;
    let page: number | null = null;
    for (const arg of node.arguments ?? []) {
      const def = field.args.find((a) => a.name === arg.name.value);
      if (!def) continue;
      const value = valueFromAST(arg.value, def.type, variables ?? undefined);
      if ((arg.name.value === "first" || arg.name.value === "last") && typeof value === "number")
        page = Math.max(page ?? 0, Math.min(Math.max(value, 0), MAX_PAGE_SIZE));
      if (isList(def.type) && Array.isArray(value)) {
        if (value.length > limits.maxListArgument && !tooLong)
          tooLong = `argument ${def.name} of ${field.name} has ${value.length} items, at most ${limits.maxListArgument} are allowed`;
        listArgument = Math.max(listArgument, value.length);
      }
    }
    if (page !== null) return page;
    // A connection's edges are its page, already counted on the connection field.
    if (parent.name.endsWith("Connection") && (field.name === "edges" || field.name === "nodes")) return 1;
    if (isList(field.type)) {
      const declared = (field.extensions as { listSize?: number } | undefined)?.listSize;
      return listArgument || declared || DEFAULT_LIST_SIZE;
    }
    if (getNamedType(field.type).name.endsWith("Connection")) return DEFAULT_PAGE;
    return 1;
  };

  const selectionCost = (set: SelectionSetNode, type: GraphQLNamedType, seen: Set<string>): number => {
    let cost = 0;
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) {
        const name = s.name.value;
        if (name.startsWith("__")) continue; // introspection and __typename are not the data's size
        const field = isObjectType(type) || isInterfaceType(type) ? type.getFields()[name] : undefined;
        if (!field) continue;
        const size = sizeOf(field, s, type);
        const child = getNamedType(field.type);
        const below = s.selectionSet && isCompositeType(child) ? selectionCost(s.selectionSet, child, seen) : 0;
        cost += size * (1 + below);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        const on = s.typeCondition ? schema.getType(s.typeCondition.name.value) : type;
        cost += on ? selectionCost(s.selectionSet, on, seen) : 0;
      } else {
        const name = s.name.value;
        const fragment = fragments.get(name);
        if (!fragment || seen.has(name)) continue; // cycles are a validation error already
        let fc = fragmentCosts.get(name);
        if (fc === undefined) {
          const on = schema.getType(fragment.typeCondition.name.value);
          fc = on ? selectionCost(fragment.selectionSet, on, new Set([...seen, name])) : 0;
          fragmentCosts.set(name, fc);
        }
        cost += fc;
      }
    }
    return cost;
  };

  const cost = selectionCost(operation.selectionSet, root, new Set());
  if (tooLong) return { error: tooLong, code: "BAD_USER_INPUT" };
  if (cost > limits.maxCost)
    return {
      error: `Query Cost limit of ${limits.maxCost} exceeded, found ${Math.round(cost)}: ask for fewer aliases, smaller pages or fewer ids`,
      code: "QUERY_TOO_COMPLEX",
    };
  return { cost };
}

function isList(type: GraphQLType): boolean {
  const t = type instanceof GraphQLNonNull ? type.ofType : type;
  return t instanceof GraphQLList;
}

/** The check as a plugin: it runs once variables are known (HTTP and, via getEnveloped, WebSocket). */
export function queryCostPlugin(limits: CostLimits): Plugin {
  const check = (args: {
    schema: GraphQLSchema;
    document: DocumentNode;
    operationName?: string | null;
    variableValues?: unknown;
  }) => {
    const r = operationCost(
      args.schema,
      args.document,
      args.operationName,
      args.variableValues as Record<string, unknown>,
      limits,
    );
    return "error" in r
      ? { errors: [createGraphQLError(r.error, { extensions: { code: r.code, http: { status: 400 } } })] }
      : null;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = check(args);
      if (refused) setResultAndStopExecution(refused);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = check(args);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}
