import type { ConnectorKind } from "../../generated/prisma/enums.ts";

/** Default pace of a watcher's poll (LDAP entryCSN search, CSV stat, SQL change log read). */
export const DEFAULT_POLL_INTERVAL_MS = 2_000;

/** The kinds a watcher exists for: pull sources. SCIM has no change feed to watch. */
export const WATCHED_KINDS = ["CSV", "SQL", "LDAP"] as const satisfies readonly ConnectorKind[];
export type WatchedKind = (typeof WATCHED_KINDS)[number];
