import type { IncomingMessage, ServerResponse } from "node:http";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { createGraphQLError, createYoga } from "graphql-yoga";
import type { Context } from "../schema/builder.ts";
import { schema } from "../schema/index.ts";
import type { Services } from "../services.ts";
import { type Caller, refusalResponse } from "./auth.ts";
import { type AuthenticateRequest, callerContext } from "./context.ts";
import { createErrorMasker } from "./errors.ts";
import { GRAPHIQL_PAGE_HEADERS, renderGraphiQLPage } from "./graphiql.ts";
import type { Metrics } from "./metrics.ts";
import type { OriginPolicy } from "./origin.ts";
import { persistedOperationsPlugin } from "./persisted-operations.ts";
import { type CostLimits, queryCostPlugin } from "./query-cost.ts";
import { sharedSubscriptionExecution } from "./shared-subscriptions.ts";

type ServerContext = { req: IncomingMessage; res: ServerResponse };

export interface GraphQLHandlerDeps {
  services: Services;
  origins: OriginPolicy;
  metrics: Metrics;
  costLimits: CostLimits;
  authenticateRequest: AuthenticateRequest;
  /** Callers the HTTP handler already authenticated, by request (see request-handler.ts). */
  callers: WeakMap<IncomingMessage, Caller>;
}

/** Yoga with the Pothos schema at /graphql: CORS for listed origins, the caller's context, the query limits. */
export function createGraphQLHandler({
  services,
  origins,
  metrics,
  costLimits,
  authenticateRequest,
  callers,
}: GraphQLHandlerDeps) {
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: { title: "Metasync", subscriptionsProtocol: "WS" },
    // Our page, with GraphiQL's assets served by this server (graphiql.ts), not from a CDN.
    renderGraphiQL: renderGraphiQLPage,
    landingPage: false,
    logging: false,
    maskedErrors: { maskError: createErrorMasker(services.logger) },
    // Form and multipart bodies are refused before Yoga (refuseBody); this is the second lock.
    multipart: false,
    // CORS headers only for the origins METASYNC_ALLOWED_ORIGINS lists (others never get here);
    // no cookies are used, so never Allow-Credentials.
    cors: (request) => {
      const origin = request.headers.get("origin");
      return origins.isListed(origin)
        ? {
            origin: [origin as string],
            credentials: false,
            methods: ["GET", "POST"],
            allowedHeaders: ["authorization", "content-type", "accept", "x-metasync-request"],
            exposedHeaders: ["retry-after"],
            maxAge: 600,
          }
        : false;
    },
    context: async ({ req }) => {
      const caller = callers.get(req) ?? (await authenticateRequest(req));
      // Refused before execution: not even __typename or introspection without a valid key.
      if (caller.role === null) {
        const r = refusalResponse(caller);
        throw createGraphQLError(r.message, {
          extensions: { ...r.extensions, code: r.code, http: { status: r.status, headers: r.headers } },
        });
      }
      return callerContext(services, caller, req);
    },
    plugins: [
      {
        // The GraphiQL page is Yoga's only HTML answer: it gets the page's CSP and framing rules.
        onResponse: ({ response }) => {
          if (!response.headers.get("content-type")?.startsWith("text/html")) return;
          for (const [name, value] of Object.entries(GRAPHIQL_PAGE_HEADERS)) response.headers.set(name, value);
        },
      },
      // Far above what the dashboard asks (depth <= 9, a handful of aliases, < 1,000 tokens);
      // introspection is exempt from the depth rule. The cost is our own (query-cost.ts): armor's
      // ignores variables and list arguments.
      EnvelopArmorPlugin({
        maxDepth: { n: 15 },
        maxAliases: { n: 50 },
        costLimit: { enabled: false },
        maxTokens: { n: 5000 },
        maxDirectives: { n: 50 },
        blockFieldSuggestion: { enabled: services.config.production },
      }),
      queryCostPlugin(costLimits),
      metrics.plugin,
      // Resolvers of subscription payloads read only the role from the context (auth scopes).
      sharedSubscriptionExecution<Context>((ctx) => String(ctx.role)),
      ...(services.config.persistedOperationsFile ? [persistedOperationsPlugin(services.config.persistedOperationsFile)] : []),
    ],
  });
}

export type GraphQLHandler = ReturnType<typeof createGraphQLHandler>;
