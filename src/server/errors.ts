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
        extensions: { ...original.details, code: original.code, ...httpOf(original) },
      });
    }
    if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) {
      // Armor's token limit fires while parsing, where Yoga has already said GRAPHQL_PARSE_FAILED.
      const code = ARMOR_LIMIT.test(error.message) ? "QUERY_TOO_COMPLEX" : (error.extensions?.code ?? codeFor(error.message));
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

/** graphql-armor's rejections all read "<Query depth|Aliases|Query Cost|Token|Directives> limit of N exceeded". */
const ARMOR_LIMIT = /limit of \d+ exceeded/i;

function codeFor(message: string): string {
  if (/Variable|Expected|Int cannot|String cannot|got invalid value/i.test(message)) return "BAD_USER_INPUT";
  return "GRAPHQL_VALIDATION_FAILED";
}

/**
 * RATE_LIMITED answers HTTP 429 with Retry-After, so HTTP clients and proxies back off
 * without reading the body (Yoga takes the status and headers from extensions.http).
 */
function httpOf(error: AppError) {
  if (error.code !== "RATE_LIMITED") return {};
  const seconds = Math.max(1, Math.ceil(Number(error.details.retryAfterSeconds) || 1));
  return { http: { status: 429, headers: { "retry-after": String(seconds) } } };
}
