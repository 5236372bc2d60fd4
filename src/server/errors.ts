import { GraphQLError } from "graphql";
import { createGraphQLError } from "graphql-yoga";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";

/**
 * Expected failures keep their message and gain a stable extensions.code; GraphQL
 * validation errors (including graphql-armor's, which carry no code) get one too;
 * anything else is logged and masked: no stack or SQL leaves the server.
 */
export function createErrorMasker(logger: Logger) {
  return (error: unknown): Error => {
    const original = error instanceof GraphQLError ? (error.originalError ?? null) : error;
    if (original instanceof AppError) {
      return createGraphQLError(original.message, {
        nodes: error instanceof GraphQLError ? error.nodes : undefined,
        path: error instanceof GraphQLError ? error.path : undefined,
        extensions: { ...original.details, code: original.code },
      });
    }
    if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) {
      const code = error.extensions?.code ?? codeFor(error.message);
      return createGraphQLError(error.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        extensions: { ...error.extensions, code },
      });
    }
    logger.error({ err: original ?? error }, "unexpected error in a GraphQL operation");
    return createGraphQLError("Unexpected error.", {
      path: error instanceof GraphQLError ? error.path : undefined,
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
  };
}

function codeFor(message: string): string {
  if (/depth|alias|cost|token|directive/i.test(message)) return "QUERY_TOO_COMPLEX";
  if (/Variable|Expected|Int cannot|String cannot|got invalid value/i.test(message)) return "BAD_USER_INPUT";
  return "GRAPHQL_VALIDATION_FAILED";
}
