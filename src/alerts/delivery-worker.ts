import type { JobWithMetadata } from "pg-boss";
import type { Services } from "../services.ts";
import { attemptDelivery } from "./deliver.ts";
import { ALERT_QUEUE, ALERTS_TOPIC } from "./events.ts";
import type { AlertJobData } from "./raise.ts";

export interface AlertDeliveryHandle {
  stop(): Promise<void>;
}

/**
 * Sends alert deliveries from their pg-boss queue, next to (never inside) a worker's run slots:
 * a hanging endpoint holds one delivery slot for at most its timeout. A failed attempt throws,
 * so pg-boss schedules the retry with its backoff; the last one is recorded FAILED.
 */
export async function startAlertDelivery(
  services: Pick<Services, "alerts" | "alertOptions" | "bus" | "db" | "secrets" | "logger">,
): Promise<AlertDeliveryHandle> {
  const { alertOptions: options } = services;
  const log = services.logger.child({ component: "alerts" });
  const boss = await services.alerts.ready();
  const inFlight = new Set<Promise<unknown>>();
  const deps = { pool: services.db.pool, secrets: services.secrets, options };

  const handler = async (jobs: JobWithMetadata<AlertJobData>[]) => {
    for (const job of jobs) {
      const attempt = attemptDelivery(deps, job.data.deliveryId, job.retryCount >= job.retryLimit);
      inFlight.add(attempt);
      const outcome = await attempt.finally(() => inFlight.delete(attempt));
      if (!outcome || outcome.delivered) continue;
      log.warn({ deliveryId: job.data.deliveryId, ...outcome }, "alert delivery attempt failed");
      // pg-boss retries it after its backoff; the delivery row already says FAILED when final.
      if (!outcome.final) throw new Error(`alert delivery attempt ${outcome.attempt} failed: ${outcome.error}`);
    }
  };
  // One work() per slot, not localConcurrency: notifyWorker wakes one id, and an alert with several
  // endpoints is several jobs that should all leave at once.
  const workIds: string[] = [];
  for (let i = 0; i < options.concurrency; i++)
    workIds.push(
      await boss.work(
        ALERT_QUEUE,
        { batchSize: 1, includeMetadata: true, pollingIntervalSeconds: options.pollingIntervalSeconds },
        handler,
      ),
    );

  const wakeups = services.bus.subscribe(ALERTS_TOPIC);
  void (async () => {
    for await (const _ of wakeups) for (const id of workIds) boss.notifyWorker(id);
  })();

  return {
    async stop() {
      await wakeups.return?.();
      for (const id of workIds) await boss.offWork(ALERT_QUEUE, { id, wait: false }).catch(() => {});
      // Attempts in flight end within their HTTP timeout; their outcome is recorded.
      await Promise.allSettled([...inFlight]);
    },
  };
}
