// A child process of the fan-out benchmark: `count` graphql-ws clients (one connection each, as
// dashboards would be) subscribed to runsChanged of one system. They live outside the bench
// runner so that their own event-loop delays are not counted as the API's; what they saw goes
// back to the parent over IPC. Lag = arrival (Date.now()) - the run row's latest timestamp,
// both read from this machine's clock.
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

export interface RunMessage {
  id: string;
  status: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  progress: { updatedAt: string };
}

/** Parent -> child. */
export type ClientsCommand = { type: "stats"; runId: string; commits?: number[] } | { type: "close" };
/** Child -> parent. */
export type ClientsReport =
  | { type: "connected" }
  | { type: "finals"; runId: string; subscribers: number }
  | { type: "stats"; runId: string; lags: number[]; finalLags: number[]; commitLags: number[]; subscribersDone: number }
  | { type: "closed" };

export const FINAL = new Set(["COMPLETED", "PARTIAL", "FAILED", "CANCELLED"]);
export const FANOUT_QUERY =
  "subscription ($s: ID) { runsChanged(connectedSystemId: $s) { id status createdAt startedAt finishedAt progress { updatedAt } } }";

async function main() {
  const [wsUrl, countArg, connectedSystemId] = process.argv.slice(2);
  const count = Number(countArg);
  const send = (m: ClientsReport) => process.send?.(m);
  const clients: Client[] = [];
  const lags = new Map<string, number[]>();
  const done = new Map<string, Set<number>>();
  const finalLags = new Map<string, number[]>();
  // Per run, per subscriber: [row timestamp, arrival] of every message, in arrival order.
  const arrivals = new Map<string, [number, number][][]>();
  // Final-status counts go to the parent once per event-loop turn, not once per subscriber.
  const dirty = new Set<string>();
  const flush = () => {
    for (const runId of dirty) send({ type: "finals", runId, subscribers: done.get(runId)?.size ?? 0 });
    dirty.clear();
  };
  const connected: Promise<void>[] = [];
  let reported = false;
  for (let n = 0; n < count; n++) {
    let onConnected!: () => void;
    connected.push(new Promise((r) => (onConnected = r)));
    const client = createClient({
      url: wsUrl!,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      on: { connected: () => onConnected() },
    });
    clients.push(client);
    client.subscribe<{ runsChanged: RunMessage }>(
      { query: FANOUT_QUERY, variables: { s: connectedSystemId } },
      {
        next: ({ data }) => {
          const arrived = Date.now();
          if (process.env.FANOUT_DEBUG) console.error("next", JSON.stringify(data));
          const run = data?.runsChanged;
          if (!run) return;
          const stamp = Math.max(
            ...[run.createdAt, run.startedAt, run.finishedAt, run.progress.updatedAt].map((t) => (t ? Date.parse(t) : 0)),
          );
          let list = lags.get(run.id);
          if (!list) lags.set(run.id, (list = []));
          list.push(arrived - stamp);
          let byClient = arrivals.get(run.id);
          if (!byClient) arrivals.set(run.id, (byClient = []));
          (byClient[n] ??= []).push([stamp, arrived]);
          if (FINAL.has(run.status)) {
            let set = done.get(run.id);
            if (!set) done.set(run.id, (set = new Set()));
            set.add(n);
            let finals = finalLags.get(run.id);
            if (!finals) finalLags.set(run.id, (finals = []));
            finals.push(arrived - stamp);
            if (dirty.size === 0) setImmediate(flush);
            dirty.add(run.id);
          }
        },
        error: (e) => {
          // Once per process: a refused subscription is the same for all of its clients.
          if (!reported) console.error("fan-out subscriber error:", JSON.stringify(e instanceof Error ? e.message : e));
          reported = true;
        },
        complete: () => {},
      },
    );
  }
  await Promise.all(connected);
  send({ type: "connected" });
  process.on("message", async (m: ClientsCommand) => {
    if (m.type === "stats")
      send({
        type: "stats",
        runId: m.runId,
        lags: lags.get(m.runId) ?? [],
        finalLags: finalLags.get(m.runId) ?? [],
        commitLags: commitLags(arrivals.get(m.runId) ?? [], m.commits ?? []),
        subscribersDone: done.get(m.runId)?.size ?? 0,
      });
    if (m.type === "close") {
      await Promise.all(clients.map((c) => c.dispose()));
      send({ type: "closed" });
      process.disconnect();
    }
  });
}

/**
 * Per subscriber and per committed batch (its progress timestamp): the wait until the first
 * message showing that batch or a later one. Unlike a message's own lag this counts a batch
 * that was folded into a later message, i.e. the coalescing hold.
 */
function commitLags(byClient: [number, number][][], commits: number[]): number[] {
  const lags: number[] = [];
  for (const seen of byClient) {
    if (!seen) continue;
    let i = 0;
    for (const commit of commits) {
      while (i < seen.length && seen[i]![0] < commit) i++;
      if (i === seen.length) break;
      lags.push(seen[i]![1] - commit);
    }
  }
  return lags;
}

await main();
