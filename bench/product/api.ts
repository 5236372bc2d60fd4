// The benchmark's only way into the product: GraphQL over HTTP for queries and mutations, and
// graphql-ws for knowing when a run is over (runProgress completes after a final status).
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

export const FINAL = new Set(["COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "BLOCKED"]);

export interface RunResult {
  id: string;
  status: string;
  error: string | null;
  counts: {
    fetched: number;
    created: number;
    updated: number;
    deleted: number;
    unchanged: number;
    failed: number;
    exportsQueued: number;
  };
}

const RUN_FIELDS = "id status error counts { fetched created updated deleted unchanged failed exportsQueued }";

export class ProductApi {
  readonly wsUrl: string;
  private ws: Client | undefined;

  constructor(readonly url: string) {
    this.wsUrl = `${url.replace(/^http/, "ws")}/graphql`;
  }

  async gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const res = await fetch(`${this.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
    if (body.errors?.length || !body.data) throw new Error(`GraphQL: ${JSON.stringify(body.errors ?? body)}`);
    return body.data;
  }

  /** Connected systems by name -> id. */
  async systems(): Promise<Map<string, string>> {
    const { connectedSystems } = await this.gql<{ connectedSystems: { id: string; name: string }[] }>(
      "{ connectedSystems { id name } }",
    );
    return new Map(connectedSystems.map((s) => [s.name, s.id]));
  }

  async refreshSchema(id: string) {
    await this.gql("mutation ($id: ID!) { refreshSchema(id: $id) { id } }", { id });
  }

  /** startRun through the start gate; a busy scope (another run holds it) is waited out. */
  async startRun(connectedSystemId: string, profile: string): Promise<string> {
    for (;;) {
      const { startRun } = await this.gql<{
        startRun: { outcome: string; reasonCode: string | null; reason: string | null; run: { id: string } | null };
      }>("mutation ($i: StartRunInput!) { startRun(input: $i) { outcome reasonCode reason run { id } } }", {
        i: { connectedSystemId, profile },
      });
      if (startRun.outcome === "ACCEPTED" && startRun.run) return startRun.run.id;
      if (startRun.outcome === "SCOPE_BUSY" && startRun.run) {
        await this.waitForRun(startRun.run.id);
        continue;
      }
      throw new Error(`startRun ${profile}: ${startRun.outcome} ${startRun.reasonCode ?? ""} ${startRun.reason ?? ""}`);
    }
  }

  /** Follows runProgress until the run's final state. */
  waitForRun(runId: string): Promise<RunResult> {
    this.ws ??= createClient({ url: this.wsUrl, webSocketImpl: WebSocket, retryAttempts: 3, lazy: true });
    const ws = this.ws;
    return new Promise((resolve, reject) => {
      let last: RunResult | undefined;
      ws.subscribe<{ runProgress: RunResult }>(
        { query: `subscription ($id: ID!) { runProgress(runId: $id) { ${RUN_FIELDS} } }`, variables: { id: runId } },
        {
          next: (m) => {
            if (m.errors?.length) reject(new Error(JSON.stringify(m.errors)));
            if (m.data) last = m.data.runProgress;
          },
          error: (e) => reject(e instanceof Error ? e : new Error(JSON.stringify(e))),
          complete: () =>
            last && FINAL.has(last.status) ? resolve(last) : reject(new Error(`run ${runId}: ended without a final status`)),
        },
      );
    });
  }

  /** Starts a run and waits for it; anything but COMPLETED fails the benchmark with the run's error. */
  async run(connectedSystemId: string, profile: string, label = profile): Promise<RunResult> {
    const result = await this.waitForRun(await this.startRun(connectedSystemId, profile));
    if (result.status !== "COMPLETED") {
      const { run } = await this.gql<{ run: { changes: { edges: { node: Record<string, unknown> }[] } } }>(
        "query ($id: ID!) { run(id: $id) { changes(first: 5) { edges { node { changeType anchor errorCode message } } } } }",
        { id: result.id },
      ).catch(() => ({ run: { changes: { edges: [] } } }));
      const why = run.changes.edges.map((e) => JSON.stringify(e.node)).join("; ");
      throw new Error(`${label}: run ${result.status} ${result.error ?? ""} ${JSON.stringify(result.counts)} ${why}`);
    }
    return result;
  }

  async close() {
    await this.ws?.dispose();
  }
}
