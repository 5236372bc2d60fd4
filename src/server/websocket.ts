import type { IncomingMessage, Server } from "node:http";
import { type DocumentNode, GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createGraphQLError } from "graphql-yoga";
import { WebSocketServer } from "ws";
import type { ServerLimits } from "../config.ts";
import type { Services } from "../services.ts";
import { API_KEY_REVOKED_TOPIC } from "../systems/api-keys.ts";
import { refusalResponse } from "./auth.ts";
import { type AdmittedCaller, type AuthenticateRequest, callerContext } from "./context.ts";
import { createErrorMasker } from "./errors.ts";
import type { GraphQLHandler } from "./graphql-handler.ts";
import { countSubscription, type Metrics } from "./metrics.ts";
import { type OriginPolicy, originRefusal } from "./origin.ts";
import { type CostLimits, operationCost } from "./query-cost.ts";
import { createSessions, type Session } from "./ws-sessions.ts";

export interface WebSocketDeps {
  server: Server;
  yoga: GraphQLHandler;
  services: Services;
  origins: OriginPolicy;
  limits: ServerLimits;
  metrics: Metrics;
  costLimits: CostLimits;
  authenticateRequest: AuthenticateRequest;
}

/**
 * graphql-ws on the HTTP server's /graphql: origin check on upgrade, the caller authenticated
 * once per connection, per-connection and per-key subscription caps, slow readers closed, the
 * same parse/validate/cost limits as HTTP, and sockets of revoked keys closed. Long because
 * graphql-ws takes its hooks as one options object sharing the sessions.
 */
export function attachWebSockets({
  server,
  yoga,
  services,
  origins,
  limits,
  metrics,
  costLimits,
  authenticateRequest,
}: WebSocketDeps) {
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
  type Extra = { request: IncomingMessage; socket: import("ws").WebSocket; caller?: AdmittedCaller };
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
        const caller = await authenticateRequest(ctx.extra.request, header);
        if (caller.role === null) {
          // 4401 + a reason naming the code; graphql-ws's own refusal would be a bare 4403 "Forbidden".
          // A throttled address gets 4429, which clients retry later.
          const r = refusalResponse(caller);
          ctx.extra.socket.close(r.status === 429 ? 4429 : 4401, `${r.code}: ${r.message}`.slice(0, 123));
          return false;
        }
        ctx.extra.caller = caller;
        sessions.add(ctx as Session);
        sessions.guardBackpressure(ctx.extra.socket);
        return true;
      },
      onClose: (ctx) => {
        if (ctx.acknowledged) sessions.remove(ctx as Session);
      },
      onSubscribe: async (ctx, _id, payload) => {
        const excess = sessions.refuseSubscribe(ctx as Session);
        if (excess) return [createGraphQLError(excess, { extensions: { code: "TOO_MANY_SUBSCRIPTIONS" } }) as GraphQLError];
        // A key revoked while a notice was missed (bus reconnecting) is refused here all the same.
        const caller = ctx.extra.caller!;
        if (caller.keyId && !(await keyStillValid(caller.keyId))) {
          ctx.extra.socket.close(4401, "UNAUTHENTICATED: the API key was revoked");
          return [
            createGraphQLError("the API key is invalid or revoked", { extensions: { code: "UNAUTHENTICATED" } }) as GraphQLError,
          ];
        }
        const enveloped = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params: payload });
        const checked = checkOperation(enveloped, payload, costLimits, maskForWs);
        if ("errors" in checked) return checked.errors;
        const { document } = checked;
        const contextValue = callerContext(services, caller, ctx.extra.request);
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
  const mask = createErrorMasker(services.logger);
  const maskForWs = (e: GraphQLError) => mask(e) as GraphQLError;
  const keyStillValid = async (id: string) =>
    (await services.db.prisma.apiKey.findUnique({ where: { id }, select: { revokedAt: true } }))?.revokedAt === null;

  const revocations = closeRevokedSockets(services, sessions);

  return {
    async dispose() {
      await revocations.return?.();
      await ws.dispose();
      wss.close();
    },
  };
}

type Enveloped = ReturnType<GraphQLHandler["getEnveloped"]>;

/**
 * Parse, validate and cost an operation sent over a socket, as HTTP requests are. graphql-armor's
 * rules throw instead of reporting: their errors are returned, so the socket stays open.
 */
function checkOperation(
  enveloped: Enveloped,
  payload: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
  costLimits: CostLimits,
  mask: (e: GraphQLError) => GraphQLError,
): { document: DocumentNode } | { errors: GraphQLError[] } {
  try {
    const document: DocumentNode = enveloped.parse(payload.query);
    const errors = enveloped.validate(enveloped.schema, document);
    if (errors.length) return { errors: errors.map((e: GraphQLError) => mask(e)) };
    const cost = operationCost(enveloped.schema, document, payload.operationName, payload.variables, costLimits);
    if ("error" in cost) return { errors: [createGraphQLError(cost.error, { extensions: { code: cost.code } }) as GraphQLError] };
    return { document };
  } catch (e) {
    if (e instanceof GraphQLError) return { errors: [mask(e)] };
    throw e;
  }
}

/** Revocations from any process (the CLI, another API process) arrive over the event bus: close those keys' sockets. */
function closeRevokedSockets(services: Services, sessions: ReturnType<typeof createSessions>) {
  const revocations = services.bus.subscribe(API_KEY_REVOKED_TOPIC);
  void (async () => {
    for await (const { id } of revocations) {
      const closed = typeof id === "string" ? sessions.closeKey(id) : 0;
      if (closed) services.logger.info({ apiKeyId: id, sockets: closed }, "revoked API key: its WebSockets closed");
    }
  })();
  return revocations;
}
