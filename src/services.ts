import type { Config } from "./config.ts";
import type { Database } from "./db.ts";
import type { EventBus } from "./events/bus.ts";
import type { Logger } from "./logger.ts";
import type { SecretBox } from "./secrets.ts";
import { ApiKeys } from "./systems/api-keys.ts";
import { ConnectedSystems } from "./systems/connected-systems.ts";
import { ConnectionActions } from "./systems/connection-actions.ts";
import { PendingExports } from "./systems/pending-exports.ts";
import { SyncRules } from "./systems/sync-rules.ts";

/** Everything the API and workers share, built once per process and passed in. */
export interface Services {
  config: Config;
  db: Database;
  bus: EventBus;
  logger: Logger;
  secrets: SecretBox;
  systems: ConnectedSystems;
  pendingExports: PendingExports;
  apiKeys: ApiKeys;
  syncRules: SyncRules;
  connectionActions: ConnectionActions;
}

/** What a process opens itself; the domain services are built from it. */
export type ServiceDeps = Pick<Services, "config" | "db" | "bus" | "logger" | "secrets">;

export function createServices(deps: ServiceDeps): Services {
  const systems = new ConnectedSystems({ prisma: deps.db.prisma, secrets: deps.secrets });
  return {
    ...deps,
    systems,
    connectionActions: new ConnectionActions({ prisma: deps.db.prisma, systems, logger: deps.logger }),
    pendingExports: new PendingExports({ prisma: deps.db.prisma, bus: deps.bus }),
    apiKeys: new ApiKeys({ prisma: deps.db.prisma }),
    syncRules: new SyncRules({ prisma: deps.db.prisma }),
  };
}
