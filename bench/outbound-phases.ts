// Phases both export benches time the same way: the HR people imported and fully synced (with
// export planning), and an export run of one target through the engine's export executor.
import type { Connector } from "../src/connectors/connector.ts";
import { createExportExecutor } from "../src/engine/outbound/run-export.ts";
import type { Services } from "../src/services.ts";
import { runEngine } from "../test/helpers/engine-run.ts";
import { timeStatements } from "./statement-timing.ts";

export async function importAndSync(services: Services, systemId: string, source: Connector) {
  await runEngine(services, { systemId, profile: "FULL_IMPORT", connector: source });
  const t0 = performance.now();
  const sync = await runEngine(services, { systemId, profile: "FULL_SYNC", connector: source });
  return { sync, seconds: (performance.now() - t0) / 1000 };
}

export async function timedExport(services: Services, systemId: string, connector: Connector, batchSize = 500) {
  const statements = process.env.BENCH_STATEMENTS ? timeStatements() : null;
  const t0 = performance.now();
  const exported = await runEngine(services, {
    systemId,
    profile: "EXPORT",
    connector,
    executor: createExportExecutor({ batchSize, retryBaseMs: 1000 }),
  });
  const seconds = (performance.now() - t0) / 1000;
  statements?.stop();
  if (statements) console.log(statements.report(exported.processed || 1));
  return { exported, seconds };
}
