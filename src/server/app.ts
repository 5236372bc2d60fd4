import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Services } from "../services.ts";
import { type Caller, createAuthenticator } from "./auth.ts";
import { requestAuthenticator } from "./context.ts";
import { createDashboard } from "./dashboard.ts";
import { createGraphiQLAssets } from "./graphiql.ts";
import { createGraphQLHandler } from "./graphql-handler.ts";
import { serverLimits } from "./limits.ts";
import { createMetrics } from "./metrics.ts";
import { createOriginPolicy } from "./origin.ts";
import { createRequestHandler } from "./request-handler.ts";
import { attachWebSockets } from "./websocket.ts";

export interface App {
  start(): Promise<{ url: string; port: number }>;
  stop(): Promise<void>;
}

/** Yoga + Pothos at /graphql, graphql-ws on the same port, /healthz, /metrics, the dashboard. */
export function buildApp(services: Services): App {
  const { config, logger } = services;
  const limits = serverLimits(config);
  const origins = createOriginPolicy(config);
  const authenticateRequest = requestAuthenticator(
    createAuthenticator(services.db.prisma, {
      failuresPerMinute: limits.authFailuresPerMinute,
      trustedHost: origins.trustedHost,
    }),
  );
  const metrics = createMetrics(services);
  const costLimits = { maxCost: limits.maxQueryCost, maxListArgument: limits.maxListArgument };
  const callers = new WeakMap<IncomingMessage, Caller>();
  const yoga = createGraphQLHandler({ services, origins, metrics, costLimits, authenticateRequest, callers });
  const dashboard = createDashboard();
  const graphiqlAssets = createGraphiQLAssets();
  const server = createServer(
    createRequestHandler({ services, yoga, origins, dashboard, graphiqlAssets, metrics, authenticateRequest, callers }),
  );
  const webSockets = attachWebSockets({ server, yoga, services, origins, limits, metrics, costLimits, authenticateRequest });

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
      await webSockets.dispose();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
