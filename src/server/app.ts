import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createGraphQLError, createYoga } from "graphql-yoga";
import { WebSocketServer } from "ws";
import type { Context } from "../schema/builder.ts";
import { schema } from "../schema/index.ts";
import type { Services } from "../services.ts";
import { createAuthenticator, refusal } from "./auth.ts";
import { createDashboard } from "./dashboard.ts";
import { createErrorMasker } from "./errors.ts";
import { healthz, metricsRoute, refuseBody } from "./http.ts";
import { countSubscription, createMetrics } from "./metrics.ts";
import { persistedOperationsPlugin } from "./persisted-operations.ts";

type ServerContext = { req: IncomingMessage; res: ServerResponse };

export interface App {
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
}

/** Yoga + Pothos at /graphql, graphql-ws on the same port, /healthz, /metrics. */
export function buildApp(services: Services): App {
  const { config, logger } = services;
  const authenticate = createAuthenticator(services.db.prisma);
  const metrics = createMetrics(services);
  const dashboard = createDashboard();

  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: { title: "Metasync", subscriptionsProtocol: "WS" },
    landingPage: false,
    logging: false,
    maskedErrors: { maskError: createErrorMasker(logger) },
    context: async ({ req }) => {
      const caller = await authenticate(req.headers.authorization, req.socket.remoteAddress);
      // Refused before execution: not even __typename or introspection without a valid key.
      if (caller.role === null)
        throw createGraphQLError(refusal(caller.reason), { extensions: { code: "UNAUTHENTICATED", http: { status: 401 } } });
      return { services, role: caller.role, apiKeyId: caller.keyId, clientAddress: req.socket.remoteAddress };
    },
    plugins: [
      // Far above what the dashboard asks (depth <= 9, a handful of aliases, < 1,000 tokens);
      // introspection is exempt from the depth rule.
      EnvelopArmorPlugin({
        maxDepth: { n: 15 },
        maxAliases: { n: 50 },
        costLimit: { maxCost: 20000 },
        maxTokens: { n: 5000 },
        maxDirectives: { n: 50 },
        blockFieldSuggestion: { enabled: config.production },
      }),
      metrics.plugin,
      ...(config.persistedOperationsFile ? [persistedOperationsPlugin(config.persistedOperationsFile)] : []),
    ],
  });

  const server = createServer(async (req, res) => {
    const path = req.url?.split("?")[0];
    if (path === "/healthz") return healthz(services, res);
    if (path && dashboard(req, res, path)) return;
    if (path === "/metrics")
      return metricsRoute(metrics, await authenticate(req.headers.authorization, req.socket.remoteAddress), res);
    if (refuseBody(req, res)) return;
    return yoga(req, res);
  });

  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const ws = useServer<
    Record<string, unknown>,
    { request: IncomingMessage; socket: import("ws").WebSocket; role?: Context["role"]; apiKeyId?: string | null }
  >(
    {
      execute: (args) => (args.rootValue as { execute: typeof import("graphql").execute }).execute(args),
      subscribe: async (args) => {
        const result = await (args.rootValue as { subscribe: typeof import("graphql").subscribe }).subscribe(args);
        return Symbol.asyncIterator in result ? countSubscription(result, metrics.subscriptions) : result;
      },
      onConnect: async (ctx) => {
        const header = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const caller = await authenticate(
          typeof header === "string" ? header : undefined,
          ctx.extra.request.socket.remoteAddress,
        );
        if (caller.role === null) {
          // 4401 + a reason naming the code; graphql-ws's own refusal would be a bare 4403 "Forbidden".
          ctx.extra.socket.close(4401, `UNAUTHENTICATED: ${refusal(caller.reason)}`.slice(0, 123));
          return false;
        }
        ctx.extra.role = caller.role;
        ctx.extra.apiKeyId = caller.keyId;
        return true;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const enveloped = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params: payload });
        // graphql-armor's rules throw instead of reporting: return their errors so the socket stays open.
        let document: import("graphql").DocumentNode;
        try {
          document = enveloped.parse(payload.query);
          const errors = enveloped.validate(enveloped.schema, document);
          if (errors.length) return errors.map((e: GraphQLError) => maskForWs(e));
        } catch (e) {
          if (e instanceof GraphQLError) return [maskForWs(e)];
          throw e;
        }
        const contextValue: Context = {
          services,
          role: ctx.extra.role ?? null,
          apiKeyId: ctx.extra.apiKeyId ?? null,
          clientAddress: ctx.extra.request.socket.remoteAddress,
        };
        return {
          schema: enveloped.schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue,
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
      },
    },
    wss,
  );
  const mask = createErrorMasker(logger);
  const maskForWs = (e: GraphQLError) => mask(e) as GraphQLError;

  return {
    async start() {
      // Checked before listening: once "listening on" is logged, start() returns without more awaits.
      const keyless = (await services.db.prisma.apiKey.count({ where: { revokedAt: null } })) === 0;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const { port } = server.address() as AddressInfo;
      const url = `http://${config.host}:${port}`;
      logger.info({ url }, `listening on ${url}`);
      if (keyless)
        logger.warn(
          "no API key exists: only loopback clients are served, as admin; create one with npx metasync apikey create --role admin",
        );
      return { url, port };
    },
    async stop() {
      await ws.dispose();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
