import { AlertEndpoints } from "./alerts/endpoints.ts";
import { type AlertOptions, alertOptions } from "./alerts/options.ts";
import { AlertRaiser } from "./alerts/raise.ts";
import type { Config } from "./config.ts";
import type { ConnectorFactory } from "./connectors/deps.ts";
import { createConnector } from "./connectors/index.ts";
import type { Database } from "./db.ts";
import type { EventBus } from "./events/bus.ts";
import type { Run } from "./generated/prisma/client.ts";
import { type RunOptions, runOptions } from "./jobs/options.ts";
import { RunQueue } from "./jobs/queue.ts";
import { createRunFeed, type RunFeed } from "./jobs/run-stream.ts";
import { StartGate } from "./jobs/start-gate.ts";
import type { Logger } from "./logger.ts";
import type { SecretBox } from "./secrets.ts";
import { ApiKeys } from "./systems/api-keys.ts";
import { ConnectedSystems } from "./systems/connected-systems.ts";
import { ConnectionActions } from "./systems/connection-actions.ts";
import { PendingExports } from "./systems/pending-exports.ts";
import { Schedules } from "./systems/schedules.ts";
import { startRunLimiter } from "./systems/start-run-limit.ts";
import { SyncRules } from "./systems/sync-rules.ts";
import type { RateLimiter } from "./util/rate-limiter.ts";

/** Everything the API and workers share, built once per process and passed in. */
export interface Services {
  config: Config;
  db: Database;
  bus: EventBus;
  logger: Logger;
  secrets: SecretBox;
  systems: ConnectedSystems;
  /** Builds connectors (preflight connection tests, runs); tests inject their own. */
  connectorFactory: ConnectorFactory;
  runOptions: RunOptions;
  queue: RunQueue;
  /** The only way to start a run. */
  startGate: StartGate;
  schedules: Schedules;
  pendingExports: PendingExports;
  apiKeys: ApiKeys;
  syncRules: SyncRules;
  connectionActions: ConnectionActions;
  /** Token bucket per caller for startRun (in memory, per API process). */
  startRunLimiter: RateLimiter;
  /** Run changes for this process's subscribers: one reload per change, whatever their number. */
  runFeed: RunFeed<Run>;
  /** Raises alerts where runs end (delivery: src/alerts/delivery-worker.ts). */
  alerts: AlertRaiser;
  alertEndpoints: AlertEndpoints;
  alertOptions: AlertOptions;
}

export interface ServiceDeps {
  config: Config;
  db: Database;
  bus: EventBus;
  logger: Logger;
  secrets: SecretBox;
  connectorFactory?: ConnectorFactory;
  runOptions?: Partial<RunOptions>;
  alertOptions?: Partial<AlertOptions>;
}

export function createServices(deps: ServiceDeps): Services {
  const { db, bus, logger } = deps;
  const { fileRoots } = deps.config;
  const systems = new ConnectedSystems({ prisma: db.prisma, pool: db.pool, secrets: deps.secrets, fileRoots });
  const makeConnector: ConnectorFactory =
    deps.connectorFactory ?? ((kind, config, connectorDeps) => createConnector(kind, config, { fileRoots, ...connectorDeps }));
  // Connectors seal the secret attributes they import (e.g. LDAP userPassword) with the same key
  // as connector secrets.
  const connectorFactory: ConnectorFactory = (kind, config, connectorDeps) =>
    makeConnector(kind, config, {
      sealValue: (v) => deps.secrets.sealValue(v),
      openValue: (v) => deps.secrets.openValue(v),
      ...connectorDeps,
    });
  const options = runOptions(deps.runOptions);
  const queue = new RunQueue({ pool: db.pool, logger });
  const alertTimings = alertOptions(deps.alertOptions);
  const alerts = new AlertRaiser({ queue, bus, logger, options: alertTimings });
  const startGate = new StartGate({
    pool: db.pool,
    prisma: db.prisma,
    systems,
    queue,
    bus,
    logger,
    connectorFactory,
    options,
    alerts,
  });
  return {
    config: deps.config,
    db,
    bus,
    logger,
    secrets: deps.secrets,
    systems,
    connectorFactory,
    runOptions: options,
    queue,
    startGate,
    schedules: new Schedules({ prisma: db.prisma }),
    connectionActions: new ConnectionActions({ prisma: db.prisma, systems, logger, connect: connectorFactory }),
    startRunLimiter: startRunLimiter(deps.config),
    pendingExports: new PendingExports({ prisma: db.prisma, pool: db.pool, bus }),
    apiKeys: new ApiKeys({ prisma: db.prisma, bus }),
    syncRules: new SyncRules({ prisma: db.prisma }),
    runFeed: createRunFeed(bus, (id) => db.prisma.run.findUnique({ where: { id } })),
    alerts,
    alertEndpoints: new AlertEndpoints({ prisma: db.prisma, secrets: deps.secrets }),
    alertOptions: alertTimings,
  };
}
