// subscription_fanout: N graphql-ws clients (one connection each, as N dashboards would be)
// subscribe to runsChanged of one system before a run starts; every message they receive about
// that run is a delivery, its lag the time from the run row's latest timestamp to arrival. The
// clients run in child processes (bench/product/fanout-clients.ts), so the bench runner's own
// work (and the clients' parsing) is not counted as the API's delay.
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ClientsCommand, ClientsReport } from "./fanout-clients.ts";

const CLIENTS = fileURLToPath(new URL("./fanout-clients.ts", import.meta.url));
/** Subscribers per child process. */
const PER_PROCESS = 500;

export interface Fanout {
  /** Resolves when every subscriber has seen the run's final status. */
  deliveredFinal(runId: string, timeoutMs: number): Promise<void>;
  /**
   * Lag of every delivery, and of the final status alone (its row's finishedAt to arrival); with
   * `commits` (the progress timestamps of every committed batch), also each batch's wait until a
   * subscriber first saw it or a later one (commitLag: the coalescing hold included).
   */
  stats(
    runId: string,
    commits?: number[],
  ): Promise<{
    deliveries: number;
    lagP50Ms: number;
    lagP99Ms: number;
    finalLagP50Ms: number;
    finalLagP99Ms: number;
    commitLagP50Ms: number;
    commitLagP99Ms: number;
    subscribersDone: number;
  }>;
  close(): Promise<void>;
}

export async function subscribeMany(wsUrl: string, count: number, connectedSystemId: string): Promise<Fanout> {
  const children: ChildProcess[] = [];
  // Per run, per child: how many of its subscribers have seen the final status.
  const finals = new Map<string, number[]>();
  const waiters = new Set<() => void>();
  const doneCount = (runId: string) => (finals.get(runId) ?? []).reduce((s, n) => s + (n ?? 0), 0);
  const connected: Promise<void>[] = [];
  for (let first = 0, k = 0; first < count; first += PER_PROCESS, k++) {
    const child = fork(CLIENTS, [wsUrl, String(Math.min(PER_PROCESS, count - first)), connectedSystemId], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.push(child);
    connected.push(
      new Promise((resolve, reject) => {
        child.once("exit", (code) => reject(new Error(`fan-out clients exited (${code}) before connecting`)));
        child.on("message", (m: ClientsReport) => {
          if (m.type === "connected") resolve();
          if (m.type === "finals") {
            const list = finals.get(m.runId) ?? [];
            list[k] = m.subscribers;
            finals.set(m.runId, list);
            for (const w of [...waiters]) w();
          }
        });
      }),
    );
  }
  await Promise.all(connected);
  // Subscribe messages follow each connection's ack: give the server a moment to register them all.
  await new Promise((r) => setTimeout(r, 1000));
  const ask = <T extends ClientsReport["type"]>(child: ChildProcess, command: ClientsCommand, answer: T) =>
    new Promise<Extract<ClientsReport, { type: T }>>((resolve) => {
      const on = (m: ClientsReport) => {
        if (m.type !== answer) return;
        child.off("message", on);
        resolve(m as Extract<ClientsReport, { type: T }>);
      };
      child.on("message", on);
      child.send(command);
    });
  return {
    deliveredFinal(runId, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`only ${doneCount(runId)} of ${count} subscribers saw run ${runId} end`));
        }, timeoutMs);
        const check = () => {
          if (doneCount(runId) < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
    async stats(runId, commits) {
      const answers = await Promise.all(children.map((c) => ask(c, { type: "stats", runId, commits }, "stats")));
      const sorted = (lists: number[][]) => lists.flat().sort((a, b) => a - b);
      const at = (list: number[], q: number) => list[Math.min(list.length - 1, Math.floor(q * list.length))] ?? 0;
      const all = sorted(answers.map((a) => a.lags));
      const finals = sorted(answers.map((a) => a.finalLags));
      const commitLags = sorted(answers.map((a) => a.commitLags));
      return {
        deliveries: all.length,
        lagP50Ms: at(all, 0.5),
        lagP99Ms: at(all, 0.99),
        finalLagP50Ms: at(finals, 0.5),
        finalLagP99Ms: at(finals, 0.99),
        commitLagP50Ms: at(commitLags, 0.5),
        commitLagP99Ms: at(commitLags, 0.99),
        subscribersDone: answers.reduce((s, a) => s + a.subscribersDone, 0),
      };
    },
    async close() {
      await Promise.all(
        children.map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null || !c.connected) return;
          const exited = new Promise((r) => c.once("exit", r));
          await ask(c, { type: "close" }, "closed");
          await exited;
        }),
      );
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
