import { inboxAgeAlert } from "../alerts/inbox-alerts.ts";
import { inTransaction } from "../db/transaction.ts";
import {
  INBOX_TOPIC,
  inboxStats,
  realtimeExportTargets,
  realtimeSettings,
  systemsWithWaiting,
} from "../engine/realtime/inbox-store.ts";
import type { RunProfile } from "../generated/prisma/enums.ts";
import type { Services } from "../services.ts";
import { isFinalStatus, operationForProfile } from "./operations.ts";
import { RUNS_TOPIC, type RunChangedPayload } from "./progress.ts";
import { findActiveRunHolding } from "./run-store.ts";

export const DEFAULT_WINDOW_MS = 25;
/** A start refused as BLOCKED is tried again after this, doubling up to the cap (no run record storm). */
const BLOCKED_RETRY_MS = 15_000;
const BLOCKED_RETRY_CAP_MS = 5 * 60_000;

export interface RealtimeDrainer {
  stop(): Promise<void>;
}

/**
 * Turns pushed changes into runs, in every worker (the start gate makes them agree: a second
 * start is DEDUPED or SCOPE_BUSY). A push starts its system's REALTIME run after the system's
 * window (pushes arriving meanwhile go in the same run); when a run ends, what waited behind it
 * starts, and EXPORT runs take the exports REALTIME runs planned to their targets. A sweep
 * catches what a lost notification or a restart left: nothing accepted waits longer than it.
 */
export function startRealtimeDrainer(
  services: Services,
  options: { sweepMs?: number; inboxAlertMs?: number } = {},
): RealtimeDrainer {
  const inboxAlertMs = options.inboxAlertMs ?? Number(process.env.METASYNC_INBOX_ALERT_MS ?? 60_000);
  const { bus, startGate, logger } = services;
  const pool = services.db.pool;
  const log = logger.child({ component: "realtime" });
  const timers = new Map<string, NodeJS.Timeout>();
  // Systems with a REALTIME run accepted or found queued or running (or a run holding their
  // scope): that run's end brings the next drain, so pushes meanwhile need no start attempt each.
  // In a burst they came every window (10-25 ms), each a start-gate transaction answered DEDUPED:
  // 255 of them for 4,000 pushes, queueing on the gate's advisory locks. The periodic sweep still
  // drains every system, so a lost end message costs at most one sweep interval.
  const awaitingEnd = new Set<string>();
  const blocked = new Map<string, { until: number; delayMs: number }>();
  let stopped = false;

  // One start attempt per system and profile at a time in this worker: a push's drain and a
  // run end's sweep often came together, and the second was answered DEDUPED by the gate after
  // its preflight. Skipping it loses nothing: whatever the first attempt's answer, a run that
  // will read what waits is queued, or the run in the way will sweep again when it ends.
  const starting = new Set<string>();
  const start = async (systemId: string, profile: RunProfile) => {
    const key = `${profile}:${systemId}`;
    const hold = blocked.get(key);
    if ((hold && hold.until > Date.now()) || starting.has(key)) return;
    starting.add(key);
    try {
      await attempt(systemId, profile, key, hold);
    } finally {
      starting.delete(key);
    }
  };
  const attempt = async (
    systemId: string,
    profile: RunProfile,
    key: string,
    hold: { until: number; delayMs: number } | undefined,
  ) => {
    // A run holding the scopes (the same operation, or one in its way) would make the gate answer
    // DEDUPED or SCOPE_BUSY, after a preflight that for an export target opens a connection to
    // it: one read instead. That run's end brings the next sweep.
    if (await findActiveRunHolding(pool, operationForProfile(profile).scopes(systemId))) {
      if (profile === "REALTIME") awaitingEnd.add(systemId);
      return;
    }
    const result = await startGate.start({ connectedSystemId: systemId, profile, trigger: "REALTIME" });
    if (profile === "REALTIME" && result.outcome !== "BLOCKED") awaitingEnd.add(systemId);
    if (result.outcome === "BLOCKED") {
      const delayMs = Math.min((hold?.delayMs ?? BLOCKED_RETRY_MS / 2) * 2, BLOCKED_RETRY_CAP_MS);
      blocked.set(key, { until: Date.now() + delayMs, delayMs });
      log.warn({ systemId, profile, reasonCode: result.failure?.reasonCode, retryInMs: delayMs }, "real-time run blocked");
    } else blocked.delete(key);
    // ACCEPTED or DEDUPED: that run applies what waits. SCOPE_BUSY: the holder's end brings us back.
  };

  const drain = async (systemId: string) => {
    const settings = await realtimeSettings(pool, systemId);
    if (!settings) return;
    windows.set(systemId, settings.windowMs ?? DEFAULT_WINDOW_MS);
    await start(systemId, "REALTIME");
  };
  const later = (key: string, delayMs: number, work: () => Promise<void>) => {
    if (stopped || timers.has(key)) return;
    timers.set(
      key,
      setTimeout(() => {
        timers.delete(key);
        work().catch((err) => log.warn({ err }, "real-time pass failed"));
      }, delayMs),
    );
  };
  const exportTargets = async () => {
    for (const target of await inTransaction(pool, realtimeExportTargets)) await start(target, "EXPORT");
  };
  const sweep = async () => {
    for (const systemId of await systemsWithWaiting(pool)) await drain(systemId);
    await exportTargets();
    await alertOldInboxes();
  };
  // INBOX_AGE: a record that waits longer than the limit means no worker drains, or a run holds
  // the system too long. One alert per system and window (the alert's dedupe key).
  const alertOldInboxes = async () => {
    const old = (await inboxStats(pool)).filter((s) => (s.oldestAgeMs ?? 0) > inboxAlertMs);
    if (!old.length) return;
    await inTransaction(pool, (tx) =>
      services.alerts.raise(
        tx,
        old.map((s) =>
          inboxAgeAlert({
            connectedSystemId: s.systemId,
            systemName: s.systemName,
            depth: s.depth,
            oldestAgeMs: s.oldestAgeMs ?? 0,
            limitMs: inboxAlertMs,
          }),
        ),
      ),
    );
  };

  // Nothing awaited per message: a burst of pushes (one message each) must never back up the
  // subscription. The window is the one the system's last drain read (the default until then).
  const windows = new Map<string, number>();
  const pushes = bus.subscribe(INBOX_TOPIC);
  void (async () => {
    for await (const message of pushes) {
      const systemId = String(message.connectedSystemId);
      if (awaitingEnd.has(systemId)) continue;
      later(`drain:${systemId}`, windows.get(systemId) ?? DEFAULT_WINDOW_MS, () => drain(systemId));
    }
  })();
  const runs = bus.subscribe(RUNS_TOPIC);
  void (async () => {
    for await (const message of runs) {
      const run = message as RunChangedPayload;
      if (!isFinalStatus(run.status)) continue;
      awaitingEnd.clear();
      // What waited behind this run (its own system's pushes, or any system's scope it held), and
      // the exports a finished REALTIME run planned.
      later("sweep", 0, sweep);
    }
  })();
  const sweeper = setInterval(() => later("sweep", 0, sweep), options.sweepMs ?? 2_000);
  later("sweep", 0, sweep);

  return {
    async stop() {
      stopped = true;
      clearInterval(sweeper);
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      await pushes.return?.();
      await runs.return?.();
    },
  };
}
