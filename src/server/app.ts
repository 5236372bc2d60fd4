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
import { API_KEY_REVOKED_TOPIC } from "../systems/api-keys.ts";
import { type Caller, createAuthenticator, refusalResponse } from "./auth.ts";
import { createDashboard } from "./dashboard.ts";
import { createErrorMasker } from "./errors.ts";
import { healthz, metricsRoute, refuseBody, sendError, sendRefusal } from "./http.ts";
import { serverLimits } from "./limits.ts";
import { countSubscription, createMetrics } from "./metrics.ts";
import { createOriginPolicy, originRefusal } from "./origin.ts";
import { persistedOperationsPlugin } from "./persisted-operations.ts";
import { operationCost, queryCostPlugin } from "./query-cost.ts";
import { createSessions, type Session } from "./ws-sessions.ts";

type ServerContext = { req: IncomingMessage; res: ServerResponse };

export interface App {
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
}

/** Yoga + Pothos at /graphql, graphql-ws on the same port, /healthz, /metrics. */
export function buildApp(services: Services): App {
  const { config, logger } = services;
  const limits = serverLimits(config);
  const origins = createOriginPolicy(config);
  const authenticate = createAuthenticator(services.db.prisma, {
    failuresPerMinute: limits.authFailuresPerMinute,
    trustedHost: origins.trustedHost,
  });
  const metrics = createMetrics(services);
  const dashboard = createDashboard();
  const costLimits = { maxCost: limits.maxQueryCost, maxListArgument: limits.maxListArgument };
  // Authenticated before Yoga parses or validates (so a refused caller learns nothing about the
  // schema, not even field suggestions); the context reads the result.
  const callers = new WeakMap<IncomingMessage, Caller>();

  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: { title: "Metasync", subscriptionsProtocol: "WS" },
    landingPage: false,
    logging: false,
    maskedErrors: { maskError: createErrorMasker(logger) },
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
      const caller =
        callers.get(req) ?? (await authenticate(req.headers.authorization, req.socket.remoteAddress, req.headers.host));
      // Refused before execution: not even __typename or introspection without a valid key.
      if (caller.role === null) {
        const r = refusalResponse(caller);
        throw createGraphQLError(r.message, {
          extensions: { ...r.extensions, code: r.code, http: { status: r.status, headers: r.headers } },
        });
      }
      return { services, role: caller.role, apiKeyId: caller.keyId, clientAddress: req.socket.remoteAddress };
    },
    plugins: [
      // Far above what the dashboard asks (depth <= 9, a handful of aliases, < 1,000 tokens);
      // introspection is exempt from the depth rule. The cost is our own (query-cost.ts): armor's
      // ignores variables and list arguments.
      EnvelopArmorPlugin({
        maxDepth: { n: 15 },
        maxAliases: { n: 50 },
        costLimit: { enabled: false },
        maxTokens: { n: 5000 },
        maxDirectives: { n: 50 },
        blockFieldSuggestion: { enabled: config.production },
      }),
      queryCostPlugin(costLimits),
      metrics.plugin,
      ...(config.persistedOperationsFile ? [persistedOperationsPlugin(config.persistedOperationsFile)] : []),
    ],
  });

  const server = createServer(async (req, res) => {
    const path = req.url?.split("?")[0];
    if (path === "/healthz") return healthz(services, res);
    // A page of another origin must not reach the API at all (see origin.ts).
    const origin = req.headers.origin;
    if (!origins.allows(origin, req.headers.host)) return sendError(res, 403, "FORBIDDEN", originRefusal(String(origin)));
    if (path && dashboard(req, res, path)) return;
    if (path === "/metrics")
      return metricsRoute(
        metrics,
        await authenticate(req.headers.authorization, req.socket.remoteAddress, req.headers.host),
        res,
      );
    if (refuseBody(req, res)) return;
    // The GraphiQL page itself is public (it holds no data); a preflight carries no credentials.
    const graphiqlPage = req.method === "GET" && (req.headers.accept ?? "").includes("text/html");
    if (path === yoga.graphqlEndpoint && req.method !== "OPTIONS" && !graphiqlPage) {
      const caller = await authenticate(req.headers.authorization, req.socket.remoteAddress, req.headers.host);
      if (caller.role === null) return sendRefusal(res, caller);
      callers.set(req, caller);
    }
    return yoga(req, res);
  });

  const sessions = createSessions(limits);
  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    // Browsers always send Origin on a WebSocket and never ask first: the check must be here.
    verifyClient: ({ origin, req }, done) => {
      if (origins.allows(origin, req.headers.host)) return done(true);
      done(false, 403, originRefusal(String(origin)));
    },
  });
  type Extra = { request: IncomingMessage; socket: import("ws").WebSocket; role?: Context["role"]; apiKeyId?: string | null };
  const ws = useServer<Record<string, unknown>, Extra>(
    {
      execute: (args) => (args.rootValue as { execute: typeof import("graphql").execute }).execute(args),
      subscribe: async (args) => {
        const result = await (args.rootValue as { subscribe: typeof import("graphql").subscribe }).subscribe(args);
        return Symbol.asyncIterator in result ? countSubscription(result, metrics.subscriptions) : result;
      },
      onConnect: async (ctx) => {
        // The key in connection_init's payload, else the upgrade request's Authorization header.
        const param = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const header = typeof param === "string" ? param : ctx.extra.request.headers.authorization;
        const caller = await authenticate(header, ctx.extra.request.socket.remoteAddress, ctx.extra.request.headers.host);
        if (caller.role === null) {
          // 4401 + a reason naming the code; graphql-ws's own refusal would be a bare 4403 "Forbidden".
          // A throttled address gets 4429, which clients retry later.
          const r = refusalResponse(caller);
          ctx.extra.socket.close(r.status === 429 ? 4429 : 4401, `${r.code}: ${r.message}`.slice(0, 123));
          return false;
        }
        ctx.extra.role = caller.role;
        ctx.extra.apiKeyId = caller.keyId;
        sessions.add(ctx as unknown as Session);
        sessions.guardBackpressure(ctx.extra.socket);
        return true;
      },
      onClose: (ctx) => {
        if (ctx.acknowledged) sessions.remove(ctx as unknown as Session);
      },
      onSubscribe: async (ctx, _id, payload) => {
        const excess = sessions.refuseSubscribe(ctx as unknown as Session);
        if (excess) return [createGraphQLError(excess, { extensions: { code: "TOO_MANY_SUBSCRIPTIONS" } }) as GraphQLError];
        // A key revoked while a notice was missed (bus reconnecting) is refused here all the same.
        if (ctx.extra.apiKeyId && !(await keyStillValid(ctx.extra.apiKeyId))) {
          ctx.extra.socket.close(4401, "UNAUTHENTICATED: the API key was revoked");
          return [
            createGraphQLError("the API key is invalid or revoked", { extensions: { code: "UNAUTHENTICATED" } }) as GraphQLError,
          ];
        }
        const enveloped = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params: payload });
        // graphql-armor's rules throw instead of reporting: return their errors so the socket stays open.
        let document: import("graphql").DocumentNode;
        try {
          document = enveloped.parse(payload.query);
          const errors = enveloped.validate(enveloped.schema, document);
          if (errors.length) return errors.map((e: GraphQLError) => maskForWs(e));
          const cost = operationCost(enveloped.schema, document, payload.operationName, payload.variables, costLimits);
          if ("error" in cost) return [createGraphQLError(cost.error, { extensions: { code: cost.code } }) as GraphQLError];
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
  const keyStillValid = async (id: string) =>
    (await services.db.prisma.apiKey.findUnique({ where: { id }, select: { revokedAt: true } }))?.revokedAt === null;

  // Revocations from any process (the CLI, another API process) arrive over the event bus.
  const revocations = services.bus.subscribe(API_KEY_REVOKED_TOPIC);
  void (async () => {
    for await (const { id } of revocations) {
      const closed = typeof id === "string" ? sessions.closeKey(id) : 0;
      if (closed) logger.info({ apiKeyId: id, sockets: closed }, "revoked API key: its WebSockets closed");
    }
  })();

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
      await revocations.return?.();
      await ws.dispose();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
