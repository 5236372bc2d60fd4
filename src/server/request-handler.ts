import type { IncomingMessage, ServerResponse } from "node:http";
import type { Services } from "../services.ts";
import { inboxWakeup } from "../systems/inbox-wakeup.ts";
import type { Caller } from "./auth.ts";
import type { AuthenticateRequest } from "./context.ts";
import type { DashboardRoute } from "./dashboard.ts";
import type { GraphiQLAssetRoute } from "./graphiql.ts";
import type { GraphQLHandler } from "./graphql-handler.ts";
import { databaseHealth } from "./health.ts";
import { createHookRoute } from "./hooks.ts";
import { healthz, metricsRoute, refuseBody, sendError, sendRefusal } from "./http.ts";
import type { Metrics } from "./metrics.ts";
import { type OriginPolicy, originRefusal } from "./origin.ts";
import { createScimRoute } from "./scim.ts";

export interface RequestHandlerDeps {
  services: Services;
  yoga: GraphQLHandler;
  origins: OriginPolicy;
  dashboard: DashboardRoute;
  graphiqlAssets: GraphiQLAssetRoute;
  metrics: Metrics;
  authenticateRequest: AuthenticateRequest;
  /** Where the caller of a GraphQL request is left for Yoga's context (see graphql-handler.ts). */
  callers: WeakMap<IncomingMessage, Caller>;
}

/** Every HTTP request: /healthz, the origin check, the dashboard, /metrics, then GraphQL. */
export function createRequestHandler({
  services,
  yoga,
  origins,
  dashboard,
  graphiqlAssets,
  metrics,
  authenticateRequest,
  callers,
}: RequestHandlerDeps) {
  // Webhook and SCIM writes wake the workers through one coalescing notifier per process.
  const wake = inboxWakeup(services.bus, (err) =>
    services.logger.warn({ err }, "waking the workers after a push failed; their sweep will find it"),
  );
  const hooks = createHookRoute(services, authenticateRequest, wake);
  const database = databaseHealth(() => services.db.pool.query("SELECT 1"));
  const scim = createScimRoute(services, wake);
  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url?.split("?")[0];
    if (path === "/healthz") return healthz(database, res);
    // A page of another origin must not reach the API at all (see origin.ts).
    const origin = req.headers.origin;
    if (!origins.allows(origin, req.headers.host)) return sendError(res, 403, "FORBIDDEN", originRefusal(String(origin)));
    if (path && (dashboard(req, res, path) || graphiqlAssets(req, res, path))) return;
    if (path === "/metrics") return metricsRoute(metrics, await authenticateRequest(req), res);
    if (path && (await hooks(req, res, path))) return;
    if (path && (await scim(req, res, path))) return;
    if (refuseBody(req, res)) return;
    // The GraphiQL page itself is public (it holds no data); a preflight carries no credentials.
    // Other GraphQL requests are authenticated before Yoga parses or validates them, so a refused
    // caller learns nothing about the schema, not even field suggestions.
    const graphiqlPage = req.method === "GET" && (req.headers.accept ?? "").includes("text/html");
    if (path === yoga.graphqlEndpoint && req.method !== "OPTIONS" && !graphiqlPage) {
      const caller = await authenticateRequest(req);
      if (caller.role === null) return sendRefusal(res, caller);
      callers.set(req, caller);
    }
    return yoga(req, res);
  };
  // A defect in a route must answer its request, not leave it hanging (nor reject into the
  // server, which nothing awaits): 500 with a stable code, the cause in the log only.
  return async (req: IncomingMessage, res: ServerResponse) => {
    try {
      await route(req, res);
    } catch (err) {
      services.logger.error({ err, method: req.method, path: req.url?.split("?")[0] }, "request failed unexpectedly");
      if (!res.headersSent) sendError(res, 500, "INTERNAL_SERVER_ERROR", "unexpected error; see the server log");
      else res.destroy();
    }
  };
}
