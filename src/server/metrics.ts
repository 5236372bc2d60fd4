import { getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";
import { Gauge, Histogram, Registry } from "prom-client";
import { inboxStats, realtimeLatency } from "../engine/realtime/inbox-store.ts";
import { countRunsByStatusAndProfile, sumProcessedByProfileAndPhase } from "../jobs/run-metrics-store.ts";
import type { Services } from "../services.ts";

export interface Metrics {
  registry: Registry;
  /** Active GraphQL subscriptions of this process (graphql-ws). */
  subscriptions: Gauge;
  /** Yoga/envelop plugin timing every operation. */
  plugin: Plugin;
}

/**
 * Prometheus metrics. Database-backed gauges are computed at scrape time with one GROUP BY
 * each: always true for the whole deployment (every worker and API process), nothing to keep
 * in sync, and a scrape costs a few index-only queries.
 */
export function createMetrics(services: Pick<Services, "db">): Metrics {
  const registry = new Registry();
  const { pool } = services.db;

  new Gauge({
    name: "metasync_runs",
    help: "Runs by status and profile.",
    labelNames: ["status", "profile"],
    registers: [registry],
    async collect() {
      const rows = await countRunsByStatusAndProfile(pool);
      this.reset();
      for (const r of rows) this.set({ status: r.status, profile: r.profile }, r.n);
    },
  });

  new Gauge({
    name: "metasync_run_objects_processed",
    help: "Objects processed by runs, by profile and phase (sum over runs).",
    labelNames: ["profile", "phase"],
    registers: [registry],
    async collect() {
      const rows = await sumProcessedByProfileAndPhase(pool);
      this.reset();
      for (const r of rows) this.set({ profile: r.profile, phase: r.phase }, r.n);
    },
  });

  new Gauge({
    name: "metasync_pending_exports",
    help: "Pending exports by status.",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      const { rows } = await pool.query<{ status: string; n: string }>(
        "SELECT status, count(*) AS n FROM pending_export GROUP BY status",
      );
      this.reset();
      for (const r of rows) this.set({ status: r.status }, Number(r.n));
    },
  });

  new Gauge({
    name: "metasync_alert_deliveries",
    help: "Alert deliveries (one per alert and endpoint) by status: PENDING, DELIVERED, FAILED.",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      const { rows } = await pool.query<{ status: string; n: string }>(
        "SELECT status::text AS status, count(*) AS n FROM alert_delivery GROUP BY status",
      );
      this.reset();
      for (const r of rows) this.set({ status: r.status }, Number(r.n));
    },
  });

  // The real-time inbox: what waits, for how long, and how long a push takes to be applied and sent.
  new Gauge({
    name: "metasync_inbox_depth",
    help: "Pushed records waiting in each system's real-time inbox.",
    labelNames: ["system"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await inboxStats(services.db.pool)) this.set({ system: s.systemName }, s.depth);
    },
  });
  new Gauge({
    name: "metasync_inbox_oldest_age_seconds",
    help: "Age of the oldest record waiting in each system's real-time inbox.",
    labelNames: ["system"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await inboxStats(services.db.pool)) this.set({ system: s.systemName }, (s.oldestAgeMs ?? 0) / 1000);
    },
  });
  new Gauge({
    name: "metasync_realtime_latency_seconds",
    help: "Push-to-applied and push-to-exported latency of the records applied in the last 5 minutes (quantiles 0.5 and 0.99).",
    labelNames: ["stage", "quantile"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await realtimeLatency(pool, 5 * 60_000)) {
        if (r.p50 !== null) this.set({ stage: r.stage, quantile: "0.5" }, r.p50);
        if (r.p99 !== null) this.set({ stage: r.stage, quantile: "0.99" }, r.p99);
      }
    },
  });

  // Recovery (and with it RUN_STALE) needs a live worker: an age that keeps growing means none is.
  new Gauge({
    name: "metasync_run_heartbeat_age_seconds",
    help: "Age of the oldest heartbeat among running runs (0 when none runs).",
    registers: [registry],
    async collect() {
      const { rows } = await pool.query<{ age: number | null }>(
        `SELECT extract(epoch FROM now() - min(coalesce(heartbeat_at, created_at)))::float8 AS age
           FROM run WHERE status IN ('RUNNING', 'CANCELLING')`,
      );
      this.set(Math.max(0, rows[0]?.age ?? 0));
    },
  });

  const subscriptions = new Gauge({
    name: "metasync_graphql_subscriptions",
    help: "Active GraphQL subscriptions in this process.",
    registers: [registry],
  });

  const latency = new Histogram({
    name: "metasync_graphql_operation_duration_seconds",
    help: "GraphQL operation execution time, by operation type and outcome.",
    labelNames: ["operation", "outcome"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const plugin: Plugin = {
    onExecute({ args }) {
      const start = performance.now();
      const operation = getOperationAST(args.document, args.operationName)?.operation ?? "unknown";
      return {
        onExecuteDone({ result }) {
          const failed = "errors" in result && Array.isArray(result.errors) && result.errors.length > 0;
          latency.observe({ operation, outcome: failed ? "error" : "ok" }, (performance.now() - start) / 1000);
        },
      };
    },
  };

  return { registry, subscriptions, plugin };
}

/**
 * Count a subscription's event stream until it ends, however it ends. A hand-written iterator,
 * not an async generator: a generator's return() waits behind a pending next(), so a quiet
 * subscription would never be released when its client leaves.
 */
export function countSubscription<T>(stream: AsyncIterable<T>, gauge: Gauge): AsyncIterableIterator<T> {
  const inner = stream[Symbol.asyncIterator]();
  let open = true;
  gauge.inc();
  const close = () => {
    if (open) gauge.dec();
    open = false;
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    // Not async: the fan-out calls this once per subscriber per message, and an extra async
    // frame per call showed in its profile.
    next() {
      return inner.next().then((r) => {
        if (r.done) close();
        return r;
      });
    },
    async return(value?: unknown) {
      close();
      return (await inner.return?.(value)) ?? { done: true, value: undefined };
    },
    async throw(error?: unknown) {
      close();
      if (inner.throw) return inner.throw(error);
      throw error;
    },
  };
}
