// subscription_fanout: N graphql-ws clients (one connection each, as N dashboards would be)
// subscribe to runsChanged of one system before a run starts; every message they receive about
// that run is a delivery, its lag the time from the run row's latest timestamp to arrival.
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

interface RunMessage {
  id: string;
  status: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  progress: { updatedAt: string };
}

const FINAL = new Set(["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"]);

export interface Fanout {
  /** Resolves when every subscriber has seen the run's final status. */
  deliveredFinal(runId: string, timeoutMs: number): Promise<void>;
  stats(runId: string): { deliveries: number; lagP50Ms: number; lagP99Ms: number; subscribersDone: number };
  close(): Promise<void>;
}

export async function subscribeMany(wsUrl: string, count: number, connectedSystemId: string): Promise<Fanout> {
  const clients: Client[] = [];
  const lags = new Map<string, number[]>();
  const done = new Map<string, Set<number>>();
  const waiters: (() => void)[] = [];
  const connected: Promise<void>[] = [];
  for (let n = 0; n < count; n++) {
    let onConnected!: () => void;
    connected.push(new Promise((r) => (onConnected = r)));
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      on: { connected: () => onConnected() },
    });
    clients.push(client);
    client.subscribe<{ runsChanged: RunMessage }>(
      {
        query:
          "subscription ($s: ID) { runsChanged(connectedSystemId: $s) { id status createdAt startedAt finishedAt progress { updatedAt } } }",
        variables: { s: connectedSystemId },
      },
      {
        next: ({ data }) => {
          const run = data?.runsChanged;
          if (!run) return;
          const stamp = Math.max(
            ...[run.createdAt, run.startedAt, run.finishedAt, run.progress.updatedAt].map((t) => (t ? Date.parse(t) : 0)),
          );
          const list = lags.get(run.id) ?? [];
          list.push(Date.now() - stamp);
          lags.set(run.id, list);
          if (FINAL.has(run.status)) {
            const set = done.get(run.id) ?? new Set();
            set.add(n);
            done.set(run.id, set);
            for (const w of [...waiters]) w();
          }
        },
        error: () => {},
        complete: () => {},
      },
    );
  }
  await Promise.all(connected);
  // Subscribe messages follow each connection's ack: give the server a moment to register them all.
  await new Promise((r) => setTimeout(r, 1000));
  return {
    deliveredFinal(runId, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`only ${done.get(runId)?.size ?? 0} of ${count} subscribers saw run ${runId} end`));
        }, timeoutMs);
        const check = () => {
          if ((done.get(runId)?.size ?? 0) < count) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        waiters.push(check);
        check();
      });
    },
    stats(runId) {
      const list = [...(lags.get(runId) ?? [])].sort((a, b) => a - b);
      const at = (q: number) => list[Math.min(list.length - 1, Math.floor(q * list.length))] ?? 0;
      return { deliveries: list.length, lagP50Ms: at(0.5), lagP99Ms: at(0.99), subscribersDone: done.get(runId)?.size ?? 0 };
    },
    async close() {
      await Promise.all(clients.map((c) => c.dispose()));
    },
  };
}

/**
 * Asks `GET /healthz` one request at a time, every `everyMs`, until stopped: how long the API
 * keeps a health check waiting while it fans a run out to its subscribers.
 */
export function probeHealth(url: string, everyMs = 100) {
  const latencies: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      const res = await fetch(`${url}/healthz`).catch(() => null);
      await res?.arrayBuffer().catch(() => null);
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
      return { probes: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: Math.round(sorted.at(-1) ?? 0) };
    },
  };
}
