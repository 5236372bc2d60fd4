import pg from "pg";
import type { RealtimeSettings } from "../../engine/realtime/inbox-store.ts";
import type { Services } from "../../services.ts";
import { canonicalJson } from "../../util/canonical-json.ts";
import type { WatchedKind } from "./settings.ts";
import type { Watcher, WatcherFactory } from "./watcher.ts";

/** Published by the GraphQL mutations when a system is created, updated or deleted (src/schema/topics.ts). */
const SYSTEMS_TOPIC = "systems";
/** First key of the two-key advisory lock a watching worker holds per system ("MSWT"). */
export const LOCK_CLASS = 0x4d535754;
const DEFAULT_RECONCILE_MS = 5_000;
/** A watcher that could not start (file outside the roots, source down) is retried after this, doubling up to the cap. */
const RETRY_MS = 10_000;
const RETRY_CAP_MS = 5 * 60_000;

/** Each kind's watcher, loaded on first use like the connectors. */
const factories: Record<WatchedKind, () => Promise<WatcherFactory>> = {
  CSV: async () => (await import("./csv-watcher.ts")).startCsvWatcher,
  SQL: async () => (await import("./sql-watcher.ts")).startSqlWatcher,
  LDAP: async () => (await import("./ldap-watcher.ts")).startLdapWatcher,
};

interface WatchedSystem {
  id: string;
  name: string;
  kind: WatchedKind;
  settingsVersion: number;
  realtime: RealtimeSettings;
}

export interface Watchers {
  /** Systems this worker watches now (ids). */
  watching(): string[];
  /** Look at the systems again now (also done on every systems change and every reconcileMs). */
  reconcile(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The watchers of one worker: one per system with real-time on, `realtime.watch` set and a pull
 * kind (CSV, SQL, LDAP). With several workers, one watches a given system: the one holding the
 * system's session-level advisory lock on its own connection. Another worker's reconcile skips a
 * locked system, and takes it over when the holder's connection ends (worker stopped or dead).
 * A watcher is restarted when the system's settings or real-time settings change.
 */
export function startWatchers(services: Services, options: { reconcileMs?: number } = {}): Watchers {
  const log = services.logger.child({ component: "watchers" });
  const running = new Map<string, { signature: string; watcher: Watcher }>();
  let locks: pg.Client | null = null;
  let stopped = false;
  let pass: Promise<void> = Promise.resolve();
  /** Systems whose watcher failed to start: not tried again before `until` (no warning every reconcile). */
  const failures = new Map<string, { signature: string; until: number; delayMs: number }>();

  const lockConnection = async (): Promise<pg.Client> => {
    if (locks) return locks;
    const client = new pg.Client({ connectionString: services.db.url, application_name: "metasync-watchers" });
    const lost = (err?: Error) => {
      if (locks !== client) return;
      // The locks went with the connection: another worker may watch these systems now.
      locks = null;
      if (!stopped) log.warn({ err }, "watcher lock connection lost; stopping this worker's watchers");
      void stopAll(false);
    };
    client.on("error", lost);
    client.on("end", () => lost());
    await client.connect();
    locks = client;
    return client;
  };
  const lock = async (id: string) => {
    const client = await lockConnection();
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [LOCK_CLASS, id]);
    return rows[0]?.ok === true;
  };
  const unlock = async (id: string) => {
    await locks?.query("SELECT pg_advisory_unlock($1, hashtext($2))", [LOCK_CLASS, id]).catch(() => {});
  };
  const stopOne = async (id: string, release: boolean) => {
    const entry = running.get(id);
    if (!entry) return;
    running.delete(id);
    await entry.watcher.stop().catch((err) => log.warn({ err, systemId: id }, "stopping a watcher failed"));
    if (release) await unlock(id);
  };
  const stopAll = async (release: boolean) => {
    await Promise.all([...running.keys()].map((id) => stopOne(id, release)));
  };

  const wanted = async (): Promise<WatchedSystem[]> => {
    const { rows } = await services.db.pool.query<WatchedSystem>(
      `SELECT id, name, kind::text AS kind, current_settings_version AS "settingsVersion", realtime FROM connected_system
        WHERE kind::text IN ('CSV', 'SQL', 'LDAP')
          AND COALESCE((realtime->>'enabled')::boolean, false) AND COALESCE((realtime->>'watch')::boolean, false)`,
    );
    return rows;
  };

  const start = async (system: WatchedSystem, signature: string) => {
    const failed = failures.get(system.id);
    if (failed && failed.signature === signature && failed.until > Date.now()) return;
    if (!(await lock(system.id))) return; // another worker watches it
    try {
      const settings = await services.systems.currentSettings({ id: system.id, currentSettingsVersion: system.settingsVersion });
      const config = await services.systems.resolveConfig(settings.id);
      const logger = log.child({ systemId: system.id, system: system.name });
      const factory = await factories[system.kind]();
      const watcher = await factory({
        pool: services.db.pool,
        bus: services.bus,
        logger,
        system: { id: system.id, name: system.name, kind: system.kind },
        config,
        settings: system.realtime,
        fileRoots: services.config.fileRoots,
        connect: () => services.connectorFactory(system.kind, config, { logger }),
      });
      failures.delete(system.id);
      if (stopped) await watcher.stop();
      else running.set(system.id, { signature, watcher });
    } catch (err) {
      // Tried again later, sooner when its settings change; meanwhile another worker may try.
      const delayMs = Math.min((failed?.delayMs ?? RETRY_MS / 2) * 2, RETRY_CAP_MS);
      failures.set(system.id, { signature, until: Date.now() + delayMs, delayMs });
      log.warn({ err, systemId: system.id, system: system.name, retryInMs: delayMs }, "could not start watching");
      await unlock(system.id);
    }
  };

  const reconcileOnce = async () => {
    if (stopped) return;
    const systems = await wanted();
    const signatures = new Map(systems.map((s) => [s.id, canonicalJson([s.settingsVersion, s.realtime as never])]));
    for (const [id, entry] of running) if (signatures.get(id) !== entry.signature) await stopOne(id, true);
    for (const system of systems) if (!running.has(system.id) && !stopped) await start(system, signatures.get(system.id)!);
  };
  const reconcile = () => {
    pass = pass.then(reconcileOnce).catch((err) => log.warn({ err }, "watcher reconcile failed"));
    return pass;
  };

  const changes = services.bus.subscribe(SYSTEMS_TOPIC);
  void (async () => {
    for await (const _ of changes) void reconcile();
  })();
  const timer = setInterval(() => void reconcile(), options.reconcileMs ?? DEFAULT_RECONCILE_MS);
  void reconcile();

  return {
    watching: () => [...running.keys()],
    reconcile,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await changes.return?.();
      await pass;
      await stopAll(true);
      await locks?.end().catch(() => {});
      locks = null;
    },
  };
}
