import { on } from "node:events";
import { MessageChannel, type MessagePort, parentPort, Worker } from "node:worker_threads";

/** What a worker posts on a job's port: a batch, the end, or a failure (re-thrown by the caller). */
export type WorkerMessage<B> = { batch: B } | { done: true } | { error: PostedError };
export interface PostedError {
  name: string;
  message: string;
  /** What the worker's `describe` kept of the error, e.g. an error code. */
  details: unknown;
}

/** Batches a worker may post before the consumer has taken them: bounds the memory they hold. */
const IN_FLIGHT = 4;

/**
 * One worker per entry module for the whole process, started on first use (~150-200 ms: it
 * loads tsx and the entry's modules) and kept while jobs follow each other. Idle for
 * IDLE_MS, it stops and gives its memory back. Unref'ed: an idle worker never keeps the
 * process alive. A worker that dies is replaced at the next job.
 */
const IDLE_MS = 5_000;
interface Pooled {
  worker: Worker;
  jobs: number;
  idle: NodeJS.Timeout | null;
}
const workers = new Map<string, Pooled>();

function acquire(entry: URL): Pooled {
  let pooled = workers.get(entry.href);
  if (!pooled) {
    // Worker threads do not inherit tsx's loader: worker-entry.mjs registers it first.
    const worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), {
      workerData: { entry: entry.href },
      // The worker's garbage is short-lived batches: a young generation of 32 MB collects it
      // with a quarter less CPU than 12 MB did (reading a 100,000-row HR file: 1.05 s against
      // 1.40 s) for ~30 MB more peak RSS; the default (3 x 16 MB semi-spaces) would add ~50 MB.
      // The old generation's limit also paces its growth (see bin/metasync.mjs).
      resourceLimits: { maxYoungGenerationSizeMb: 32, maxOldGenerationSizeMb: 1024 },
    });
    worker.unref();
    const forget = () => workers.get(entry.href) === created && workers.delete(entry.href);
    // Jobs hear of a death through their ports; the next job starts a new worker.
    worker.once("exit", forget).on("error", forget);
    const created: Pooled = { worker, jobs: 0, idle: null };
    workers.set(entry.href, (pooled = created));
  }
  if (pooled.idle) clearTimeout(pooled.idle);
  pooled.idle = null;
  pooled.jobs++;
  return pooled;
}

function release(entry: URL, pooled: Pooled): void {
  if (--pooled.jobs > 0) return;
  pooled.idle = setTimeout(() => {
    if (workers.get(entry.href) === pooled) workers.delete(entry.href);
    void pooled.worker.terminate();
  }, IDLE_MS);
  pooled.idle.unref();
}

/**
 * Run a job in the worker of `entry` (a module that calls serveJobs) and iterate the batches
 * it streams back. The worker runs at most IN_FLIGHT batches ahead of the consumer, so a slow
 * consumer holds little in memory; stopping early cancels the job. `rethrow` turns a posted
 * error back into the caller's error type.
 */
export async function* iterateWorker<B>(entry: URL, data: unknown, rethrow: (error: PostedError) => Error): AsyncGenerator<B> {
  const pooled = acquire(entry);
  const { worker } = pooled;
  const { port1, port2 } = new MessageChannel();
  const died = (error: unknown) => port1.emit("close", error);
  worker.on("error", died).on("exit", died);
  worker.postMessage({ data, port: port2 }, [port2]);
  // The port closes when the job ends on the worker's side or the worker dies.
  const messages = on(port1, "message", { close: ["close"] });
  try {
    for await (const [message] of messages as AsyncIterable<[WorkerMessage<B>]>) {
      if ("error" in message) throw rethrow(message.error);
      if ("done" in message) return;
      yield message.batch;
      port1.postMessage("more");
    }
    throw new Error(`worker ${entry.pathname} stopped before it was done`);
  } finally {
    worker.off("error", died).off("exit", died);
    port1.close();
    release(entry, pooled);
  }
}

/**
 * The worker side of iterateWorker: for each job, post the batches of `run(data)` on the job's
 * port, never more than the consumer's credit ahead, then "done"; a thrown error is posted with
 * its name, message and `describe(error)`. A job whose port closes (the consumer stopped) ends.
 */
export function serveJobs<B>(run: (data: never) => AsyncIterable<B>, describe: (error: unknown) => unknown): void {
  parentPort!.on("message", ({ data, port }: { data: never; port: MessagePort }) => {
    void streamJob(port, run(data), describe);
  });
}

async function streamJob<B>(port: MessagePort, batches: AsyncIterable<B>, describe: (error: unknown) => unknown) {
  let credit = IN_FLIGHT;
  let closed = false;
  let wake: (() => void) | null = null;
  port.on("message", () => {
    credit++;
    wake?.();
  });
  port.on("close", () => {
    closed = true;
    wake?.();
  });
  const iterator = batches[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      while (credit === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
      if (closed) return;
      credit--;
      port.postMessage({ batch: next.value } satisfies WorkerMessage<B>);
    }
    port.postMessage({ done: true } satisfies WorkerMessage<B>);
  } catch (error) {
    const name = error instanceof Error ? error.name : "Error";
    const message = error instanceof Error ? error.message : String(error);
    port.postMessage({ error: { name, message, details: describe(error) } } satisfies WorkerMessage<B>);
  } finally {
    await iterator.return?.();
    port.close();
  }
}
