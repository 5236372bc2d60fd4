import type { Config } from "./config.ts";
import type { Database } from "./db.ts";
import type { EventBus } from "./events/bus.ts";
import type { Logger } from "./logger.ts";
import type { SecretBox } from "./secrets.ts";
import { ConnectedSystems } from "./systems/connected-systems.ts";

/** Everything the API and workers share, built once per process and passed in. */
export interface Services {
  config: Config;
  db: Database;
  bus: EventBus;
  logger: Logger;
  secrets: SecretBox;
  systems: ConnectedSystems;
}

export function createServices(deps: Omit<Services, "systems">): Services {
  return {
    ...deps,
    systems: new ConnectedSystems({ prisma: deps.db.prisma, secrets: deps.secrets }),
  };
}
