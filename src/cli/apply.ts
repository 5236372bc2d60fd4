import { readFile } from "node:fs/promises";
import { connectorConfigs } from "../connectors/configs.ts";
import { AppError, badInput } from "../errors.ts";
import type { ConnectedSystem } from "../generated/prisma/client.ts";
import type { Services } from "../services.ts";
import { parseRateLimit } from "../systems/rate-limit-input.ts";
import { parseRealtime } from "../systems/realtime-input.ts";
import { normalise } from "../systems/sync-rule-validation.ts";
import type { ApplyOutcome, SyncRuleInput } from "../systems/sync-rules.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { applyAlertEndpoints } from "./apply-alerts.ts";
import { parseApplyDocument, type RuleEntry, type SystemEntry } from "./apply-document.ts";
import { applySchedules } from "./apply-schedules.ts";

/** `metasync apply <file.yaml>`: idempotent upsert by name; prints one line per item and a summary. */
export async function applyCommand(services: Services, args: string[]): Promise<number> {
  const file = args[0];
  if (!file) {
    console.error("usage: metasync apply <file.yaml>");
    return 2;
  }
  try {
    const doc = parseApplyDocument(await readFile(file, "utf8").catch(() => Promise.reject(badInput(`cannot read ${file}`))));
    // Shapes and expressions of every rule first: a typo in the last rule changes nothing at all.
    doc.syncRules.forEach((r, i) => {
      within(`syncRules[${i}] "${r.name}"`, () => normalise(ruleInput(r, "00000000-0000-0000-0000-000000000000")));
    });
    const counts: Record<ApplyOutcome, number> = { created: 0, updated: 0, unchanged: 0 };
    const report = (what: string, name: string, outcome: ApplyOutcome) => {
      counts[outcome] += 1;
      console.log(`${what} ${name}: ${outcome}`);
    };
    const systemIds = new Map<string, string>();
    for (const [i, entry] of doc.connectedSystems.entries()) {
      const { system, outcome } = await withinAsync(`connectedSystems[${i}] "${entry.name}"`, () =>
        upsertSystem(services, entry),
      );
      systemIds.set(system.name, system.id);
      report("connected system", entry.name, outcome);
    }
    for (const [i, entry] of doc.syncRules.entries()) {
      const outcome = await withinAsync(`syncRules[${i}] "${entry.name}"`, async () => {
        const systemId = systemIds.get(entry.connectedSystem) ?? (await systemIdByName(services, entry.connectedSystem));
        return (await services.syncRules.upsertByName(ruleInput(entry, systemId))).outcome;
      });
      report("sync rule", entry.name, outcome);
    }
    if (doc.schedules.length) {
      // Steps may name systems defined earlier, outside this file.
      for (const s of await services.db.prisma.connectedSystem.findMany({ select: { id: true, name: true } }))
        if (!systemIds.has(s.name)) systemIds.set(s.name, s.id);
      const outcomes = await applySchedules(services.schedules, doc.schedules, systemIds);
      for (const [i, o] of outcomes.entries()) report("schedule", String(doc.schedules[i]?.name ?? i), o);
    }
    const alertDeps = { alertEndpoints: services.alertEndpoints, prisma: services.db.prisma, secrets: services.secrets };
    for (const [i, entry] of doc.alertEndpoints.entries()) {
      const [outcome] = await withinAsync(`alertEndpoints[${i}] "${entry.name}"`, () => applyAlertEndpoints(alertDeps, [entry]));
      report("alert endpoint", entry.name, outcome!);
    }
    console.log(`${counts.created} created, ${counts.updated} updated, ${counts.unchanged} unchanged`);
    return 0;
  } catch (e) {
    if (e instanceof AppError) {
      console.error(`metasync apply: ${file}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

function ruleInput(entry: RuleEntry, connectedSystemId: string): SyncRuleInput {
  const { connectedSystem: _name, ...rest } = entry;
  return { ...rest, connectedSystemId } as SyncRuleInput;
}

async function systemIdByName(services: Services, name: string): Promise<string> {
  const system = await services.db.prisma.connectedSystem.findUnique({ where: { name }, select: { id: true } });
  if (!system) throw new AppError("NOT_FOUND", `connectedSystem "${name}" is neither in this file nor in the database`);
  return system.id;
}

/** Create, or update only when the name's stored state differs (a new settings version only on a config change). */
async function upsertSystem(services: Services, entry: SystemEntry): Promise<{ system: ConnectedSystem; outcome: ApplyOutcome }> {
  const existing = await services.db.prisma.connectedSystem.findUnique({ where: { name: entry.name } });
  if (!existing) return { system: await services.systems.create(entry), outcome: "created" };
  const settings = await services.systems.currentSettings(existing);
  const current = await services.systems.resolveConfig(settings.id);
  // Compare with defaults applied, as they are stored; an invalid config goes on to update() for its error.
  const parsed = connectorConfigs[entry.kind].schema.safeParse(entry.config);
  const same =
    parsed.success &&
    existing.kind === entry.kind &&
    canonicalJson(parsed.data) === canonicalJson(current) &&
    (existing.description ?? null) === (entry.description ?? null) &&
    (existing.deleteThreshold ?? null) === (entry.deleteThreshold ?? null) &&
    (entry.staging ?? existing.staging) === existing.staging &&
    sameRealtime(services, entry, existing) &&
    (entry.rateLimit === undefined || canonicalJson(parseRateLimit(entry.rateLimit)) === canonicalJson(existing.rateLimit)) &&
    (entry.breaker === undefined || canonicalJson(storedBreaker(entry.breaker)) === canonicalJson(existing.breaker ?? null));
  if (same) return { system: existing, outcome: "unchanged" };
  return { system: await services.systems.update(existing.id, entry), outcome: "updated" };
}

/** A breaker as the system stores it (keys left unset dropped), to compare with the stored one. */
const storedBreaker = (breaker: Record<string, unknown> | null) =>
  breaker ? Object.fromEntries(Object.entries(breaker).filter(([, v]) => v != null)) : null;

/** Prefix an AppError's message with the entry it is about. */
function within<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw located(e, where);
  }
}

async function withinAsync<T>(where: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw located(e, where);
  }
}

function located(e: unknown, where: string): unknown {
  return e instanceof AppError ? new AppError(e.code, `${where}: ${e.message}`, e.details) : e;
}

/** Real-time settings as stored, and the webhook secret as sealed: unchanged unless the file says otherwise. */
function sameRealtime(services: Services, entry: SystemEntry, existing: ConnectedSystem): boolean {
  if (entry.realtime === undefined) return true;
  const { settings } = parseRealtime(entry.realtime, services.secrets);
  if (canonicalJson(settings) !== canonicalJson(existing.realtime ?? null)) return false;
  const secret = entry.realtime?.webhookSecret;
  if (secret === undefined || secret === "********") return true;
  const stored = existing.webhookSecret ? String(services.secrets.open(existing.webhookSecret).secret) : null;
  return stored === (secret ?? null);
}
