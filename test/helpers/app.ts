import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";
import { buildApp } from "../../src/server/app.ts";
import type { Services } from "../../src/services.ts";
import { closeTestServices, createTestServices } from "./services.ts";

export interface GraphQLResult<T = any> {
  status: number;
  headers: Headers;
  data?: T;
  errors?: { message: string; extensions?: { code?: string; [k: string]: unknown } }[];
}

export interface TestApp {
  url: string;
  wsUrl: string;
  services: Services;
  gql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResult<T>>;
  ws(connectionParams?: Record<string, unknown>): Client;
  stop(): Promise<void>;
}

/** The real app on a free port over a test file's own database. */
export async function startTestApp(services?: Services): Promise<TestApp> {
  const ownServices = services ?? (await createTestServices());
  const app = buildApp(ownServices);
  const { url } = await app.start();
  const clients: Client[] = [];
  return {
    url,
    wsUrl: `${url.replace(/^http/, "ws")}/graphql`,
    services: ownServices,
    async gql(query, variables, headers = {}) {
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as GraphQLResult;
      return { ...body, status: res.status, headers: res.headers };
    },
    ws(connectionParams) {
      const client = createClient({
        url: `${url.replace(/^http/, "ws")}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams,
        lazy: true,
        retryAttempts: 0,
      });
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.dispose()));
      await app.stop();
      if (!services) await closeTestServices(ownServices);
    },
  };
}
