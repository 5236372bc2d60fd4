import {
  type Connector,
  ConnectorError,
  type ExportChange,
  type ExportResult,
  type ImportPage,
} from "../../connectors/connector.ts";
import type { SystemRateLimiter } from "./rate-limiter.ts";

/**
 * A connector whose calls wait their turn under the system's rate limit: one request per page
 * fetched and per object exported, one object per record read or written. Every connector kind
 * gets it the same way, so no connector counts on its own. A Retry-After the connector reports
 * (on an error or a failed export) holds every worker's next call.
 */
export function rateLimited(connector: Connector, limiter: SystemRateLimiter): Connector {
  const heeding = <T>(call: () => Promise<T>) => heedRetryAfter(limiter, call);
  return {
    capabilities: connector.capabilities,
    async testConnection(timeoutMs) {
      await limiter.take({ requests: 1 });
      return heeding(() => connector.testConnection(timeoutMs));
    },
    async discoverSchema() {
      await limiter.take({ requests: 1 });
      return heeding(() => connector.discoverSchema());
    },
    importFull: (checkpoint, context) => paced(() => connector.importFull(checkpoint, context), limiter),
    importDelta: (watermark, checkpoint, context) => paced(() => connector.importDelta(watermark, checkpoint, context), limiter),
    export: (changes: ExportChange[]) => pacedExport((chunk) => connector.export(chunk), changes, limiter),
    openExportSession: connector.openExportSession
      ? () => {
          const session = connector.openExportSession!();
          return {
            export: (changes: ExportChange[]) => pacedExport((chunk) => session.export(chunk), changes, limiter),
            get commitDue() {
              return session.commitDue;
            },
            commit: () => session.commit(),
            abort: () => session.abort(),
          };
        }
      : undefined,
    close: () => connector.close(),
  };
}

/** Changes go in chunks the limit allows, each paid for before it is sent; a Retry-After holds the next. */
async function pacedExport(
  send: (chunk: ExportChange[]) => Promise<ExportResult[]>,
  changes: ExportChange[],
  limiter: SystemRateLimiter,
): Promise<ExportResult[]> {
  const results: ExportResult[] = [];
  for (let i = 0; i < changes.length; i += limiter.chunkSize) {
    const chunk = changes.slice(i, i + limiter.chunkSize);
    await limiter.take({ requests: chunk.length, objects: chunk.length });
    const answered = await heedRetryAfter(limiter, () => send(chunk));
    results.push(...answered);
    const retryAfter = Math.max(0, ...answered.map((r) => (r.status === "APPLIED" ? 0 : (r.retryAfterMs ?? 0))));
    await limiter.holdOff(retryAfter);
  }
  return results;
}

/** Each page is fetched when its request may go, and its records are paid for before the next one. */
async function* paced(pages: () => AsyncIterable<ImportPage>, limiter: SystemRateLimiter): AsyncIterable<ImportPage> {
  await limiter.take({ requests: 1 });
  const iterator = pages()[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await heedRetryAfter(limiter, () => iterator.next());
      if (next.done) return;
      const page = next.value;
      yield page;
      await limiter.take({ requests: 1, objects: page.objects.length + page.deletes.length + page.errors.length });
    }
  } finally {
    await iterator.return?.();
  }
}

/** A call's error that carries the target's Retry-After holds the system before it is rethrown. */
async function heedRetryAfter<T>(limiter: SystemRateLimiter, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof ConnectorError && e.retryAfterMs) await limiter.holdOff(e.retryAfterMs);
    throw e;
  }
}
