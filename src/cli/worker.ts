import { defaultExecutors } from "../jobs/executors.ts";
import { startWorker, type WorkerHandle } from "../jobs/worker.ts";
import type { Services } from "../services.ts";

/** The worker `metasync worker` and `metasync serve` run: the engine's default executors. */
export function startDefaultWorker(services: Services): Promise<WorkerHandle> {
  return startWorker({ services, executors: defaultExecutors });
}
