import type pg from "pg";
import { connectorConfigs } from "../connectors/configs.ts";
import { ConnectorError } from "../connectors/connector.ts";
import { FileRoots } from "../connectors/file-roots.ts";
import { inTransaction } from "../db/transaction.ts";
import { BreakerSchema } from "../engine/outbound/breaker.ts";
import { badInput, conflict, invalidInput, issueProblems, notFound, type Problem } from "../errors.ts";
import { type ConnectedSystem, type ConnectionSettings, Prisma, type PrismaClient } from "../generated/prisma/client.ts";
import type { ConnectorKind } from "../generated/prisma/enums.ts";
import type { SecretBox } from "../secrets.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { storedRateLimit } from "./rate-limit-input.ts";
import { parseRealtime } from "./realtime-input.ts";

export const REDACTED = "********";

export interface ConnectedSystemInput {
  name: string;
  kind: ConnectorKind;
  description?: string | null;
  config?: unknown;
  deleteThreshold?: number | null;
  /** Plan exports, never send them; left out on update: unchanged (turning it off releases exports). */
  staging?: boolean | null;
  /** Pace of every worker's calls to the system; left out on update: unchanged; null: unlimited. */
  rateLimit?: unknown;
  /** Pushed changes: { enabled, windowMs, batchSize, webhookSecret }; left out on update: unchanged; null: off. */
  realtime?: unknown;
  /** Mass-change breaker (engine/outbound/breaker.ts); null: the default protection; left out on update: unchanged. */
  breaker?: unknown;
}

/** The breaker column for an input: undefined leaves it as it is, null is the default protection. */
function breakerColumn(input: ConnectedSystemInput) {
  if (input.breaker === undefined) return undefined;
  if (input.breaker === null) return Prisma.DbNull;
  // Validated in scalarProblems: parsed again here for the stored shape (nulls dropped).
  const parsed = BreakerSchema.parse(input.breaker);
  return Object.fromEntries(Object.entries(parsed).filter(([, v]) => v != null)) as Prisma.InputJsonValue;
}

/** Connected systems and their immutable, versioned connection settings. */
export class ConnectedSystems {
  private readonly fileRoots: FileRoots;

  constructor(
    private readonly deps: {
      prisma: PrismaClient;
      pool: pg.Pool;
      secrets: SecretBox;
      /** Folders file connectors may use (METASYNC_FILE_ROOTS); checked when a config is saved. */
      fileRoots: readonly string[];
    },
  ) {
    this.fileRoots = new FileRoots(deps.fileRoots);
  }

  async create(input: ConnectedSystemInput): Promise<ConnectedSystem> {
    const rateLimit = storedRateLimit(input.rateLimit) ?? Prisma.DbNull;
    // A SCIM service provider takes its data by push only: real-time is on unless the input says otherwise.
    const implied = input.realtime === undefined && input.kind === "SCIM_INBOUND" ? { enabled: true } : input.realtime;
    const realtime = parseRealtime(implied, this.deps.secrets);
    const { config, secrets } = await this.splitConfig(input, {});
    try {
      return await this.deps.prisma.connectedSystem.create({
        data: {
          name: input.name,
          kind: input.kind,
          description: input.description ?? null,
          deleteThreshold: input.deleteThreshold ?? null,
          staging: input.staging ?? false,
          rateLimit,
          realtime: (realtime.settings as Prisma.InputJsonObject | null) ?? Prisma.DbNull,
          webhookSecret: realtime.sealedSecret ?? null,
          breaker: breakerColumn(input) ?? Prisma.DbNull,
          currentSettingsVersion: 1,
          settings: { create: { version: 1, config, secrets } },
        },
      });
    } catch (e) {
      throw uniqueNameConflict(e, input.name);
    }
  }

  /** A config change writes a new settings version; runs already accepted keep theirs. */
  async update(id: string, input: ConnectedSystemInput): Promise<ConnectedSystem> {
    const { prisma } = this.deps;
    const existing = await prisma.connectedSystem.findUnique({ where: { id } });
    if (!existing) throw notFound("connected system", id);
    if (existing.kind !== input.kind)
      throw badInput(`kind cannot change from ${existing.kind} to ${input.kind}; create a new connected system`, "kind");
    const rateLimit = input.rateLimit === undefined ? undefined : (storedRateLimit(input.rateLimit) ?? Prisma.DbNull);
    const realtime = input.realtime === undefined ? undefined : parseRealtime(input.realtime, this.deps.secrets);
    const current = await this.currentSettings(existing);
    const previousSecrets = current.secrets ? this.deps.secrets.open(current.secrets) : {};
    const previousConfig = { ...(current.config as Record<string, unknown>), ...previousSecrets };
    const next = await this.splitConfig(input, previousSecrets, previousConfig);
    const configChanged =
      canonicalJson(next.config) !== canonicalJson(current.config) ||
      canonicalJson(next.secretValues) !== canonicalJson(previousSecrets);
    try {
      return await prisma.$transaction(async (tx) => {
        let version = existing.currentSettingsVersion;
        if (configChanged) {
          version += 1;
          await tx.connectionSettings.create({
            data: { connectedSystemId: id, version, config: next.config, secrets: next.secrets },
          });
        }
        return tx.connectedSystem.update({
          where: { id },
          data: {
            name: input.name,
            description: input.description ?? null,
            deleteThreshold: input.deleteThreshold ?? null,
            staging: input.staging ?? existing.staging,
            rateLimit,
            ...(realtime && {
              realtime: (realtime.settings as Prisma.InputJsonObject | null) ?? Prisma.DbNull,
              webhookSecret: realtime.settings ? realtime.sealedSecret : null,
            }),
            breaker: breakerColumn(input),
            currentSettingsVersion: version,
          },
        });
      });
    } catch (e) {
      throw uniqueNameConflict(e, input.name);
    }
  }

  /**
   * Sets the header a file connector creates a missing file with (CSV `columns`), as a new
   * settings version that keeps the secrets; nothing when it is already so.
   */
  async planColumns(system: Pick<ConnectedSystem, "id" | "currentSettingsVersion">, columns: string[]): Promise<void> {
    const current = await this.currentSettings(system);
    const config = { ...(current.config as Record<string, unknown>), columns };
    if (canonicalJson(config) === canonicalJson(current.config)) return;
    const version = system.currentSettingsVersion + 1;
    await this.deps.prisma.$transaction(async (tx) => {
      await tx.connectionSettings.create({
        data: { connectedSystemId: system.id, version, config, secrets: current.secrets },
      });
      await tx.connectedSystem.update({ where: { id: system.id }, data: { currentSettingsVersion: version } });
    });
  }

  /** Staging on or off alone (the CLI's `staging` command), the rest of the system as it is. */
  async setStaging(name: string, staging: boolean): Promise<ConnectedSystem> {
    const existing = await this.deps.prisma.connectedSystem.findUnique({ where: { name } });
    if (!existing) throw notFound("connected system", name);
    return this.deps.prisma.connectedSystem.update({ where: { id: existing.id }, data: { staging } });
  }

  async delete(id: string): Promise<boolean> {
    // The run store lives in jobs/, a layer above this one: a plain read through Prisma here.
    const active = await this.deps.prisma.run.findFirst({
      where: { connectedSystemId: id, status: { in: ["QUEUED", "RUNNING", "CANCELLING", "PAUSED"] } },
      select: { id: true },
    });
    if (active) throw conflict(`connected system ${id} has an active run ${active.id}; cancel it first`, { runId: active.id });
    // Connector space, its sync queue and the runs' changes have no foreign key to the system
    // (bulk loads skip the per-row check): they go explicitly, in the same transaction.
    const count = await inTransaction(this.deps.pool, async (tx) => {
      await tx.query("DELETE FROM run_change WHERE run_id IN (SELECT id FROM run WHERE connected_system_id = $1)", [id]);
      const { rowCount } = await tx.query("DELETE FROM connected_system WHERE id = $1", [id]);
      await tx.query("DELETE FROM cso_change WHERE connected_system_id = $1", [id]);
      await tx.query("DELETE FROM connector_space_object WHERE connected_system_id = $1", [id]);
      return rowCount ?? 0;
    });
    if (!count) throw notFound("connected system", id);
    return true;
  }

  async currentSettings(system: Pick<ConnectedSystem, "id" | "currentSettingsVersion">): Promise<ConnectionSettings> {
    return this.deps.prisma.connectionSettings.findUniqueOrThrow({
      where: { connectedSystemId_version: { connectedSystemId: system.id, version: system.currentSettingsVersion } },
    });
  }

  /** The full config (secrets included) of one settings version: what a connector is built from. */
  async resolveConfig(settingsId: string): Promise<Record<string, unknown>> {
    const settings = await this.deps.prisma.connectionSettings.findUniqueOrThrow({ where: { id: settingsId } });
    const secrets = settings.secrets ? this.deps.secrets.open(settings.secrets) : {};
    return { ...(settings.config as Record<string, unknown>), ...secrets };
  }

  /** The config as the API shows it: secret fields replaced by a placeholder. */
  static redact(kind: ConnectorKind, settings: Pick<ConnectionSettings, "config" | "secrets">): Record<string, unknown> {
    const config = { ...(settings.config as Record<string, unknown>) };
    if (settings.secrets) for (const field of connectorConfigs[kind].secretFields) config[field] = REDACTED;
    return config;
  }

  /**
   * A stored secret is only ever sent where it was given for: a config that moves the connection
   * to another scheme, host, port or base URL must give the secrets again, or a kept (masked)
   * password would go to whoever listens there.
   */
  private assertSameEndpoint(
    kind: ConnectorKind,
    previous: Record<string, unknown>,
    next: Record<string, unknown>,
    kept: string[],
  ) {
    const { endpoint, endpointFields } = connectorConfigs[kind];
    const before = endpoint(previous);
    const after = endpoint(next);
    if (before === after) return;
    const where = endpointFields.map((f) => `config.${f}`).join(", ");
    throw badInput(
      `${where} changed: give ${kept.map((f) => `config.${f}`).join(", ")} again (stored secrets are only sent where they were given for)`,
      `config.${kept[0]}`,
    );
  }

  /** A file connector's path must lead (symlinks and ".." resolved) into the configured roots. */
  private async fileRefusalOf(value: unknown, path: string): Promise<Problem | null> {
    if (typeof value !== "string") return null;
    try {
      await this.fileRoots.resolve(value);
      return null;
    } catch (error) {
      return { path, message: refusalMessage(error) };
    }
  }

  private scalarProblems(input: ConnectedSystemInput): Problem[] {
    const problems: Problem[] = [];
    if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$/.test(input.name))
      problems.push({
        path: "name",
        message: "name must be 1-100 letters, digits, spaces, '_', '.' or '-', starting with a letter or digit",
      });
    if (input.deleteThreshold != null && input.deleteThreshold < 0)
      problems.push({ path: "deleteThreshold", message: "deleteThreshold must be 0 or more" });
    if (input.breaker != null) {
      const breaker = BreakerSchema.safeParse(input.breaker);
      if (!breaker.success) problems.push(...issueProblems(breaker.error.issues, "breaker"));
    }
    return problems;
  }

  /**
   * Validate an input's name, limits and config, every problem at once, and split off the config's
   * secret fields. A secret given as the redaction placeholder (or left out) keeps its previous
   * value, so a read-modify-write keeps secrets.
   */
  private async splitConfig(
    systemInput: ConnectedSystemInput,
    previousSecrets: Record<string, unknown>,
    /** The full config (secrets included) of the version being replaced. */
    previousConfig?: Record<string, unknown>,
  ) {
    const { kind, config: raw } = systemInput;
    const { schema, secretFields, fileFields } = connectorConfigs[kind];
    const problems = this.scalarProblems(systemInput);
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      problems.push({ path: "config", message: "config must be an object" });
      throw invalidInput(`invalid ${kind} connected system`, problems);
    }
    const input = { ...raw } as Record<string, unknown>;
    const kept: string[] = [];
    for (const field of secretFields) {
      if ((input[field] === undefined || input[field] === REDACTED) && previousSecrets[field] !== undefined) {
        input[field] = previousSecrets[field];
        kept.push(field);
      } else if (input[field] === REDACTED && previousConfig !== undefined) {
        // The placeholder of an optional secret that was never set (SCIM's password beside a
        // token), echoed back from a read: not a value.
        delete input[field];
      }
    }
    if (kept.length > 0 && previousConfig) this.assertSameEndpoint(kind, previousConfig, input, kept);
    // reportInput: to tell a key left out from a wrong value; the values never reach the message.
    const parsed = schema.safeParse(input, { reportInput: true });
    if (!parsed.success) problems.push(...issueProblems(parsed.error.issues, "config"));
    // A file path is judged even when other keys are wrong: one answer names every problem.
    for (const field of fileFields) {
      const path = `config.${field}`;
      if (problems.some((p) => p.path === path)) continue;
      const refusal = await this.fileRefusalOf(input[field], path);
      if (refusal) problems.push(refusal);
    }
    if (problems.length > 0 || !parsed.success) {
      const what = problems.every((p) => p.path.startsWith("config"))
        ? `invalid ${kind} config`
        : `invalid ${kind} connected system`;
      throw invalidInput(what, problems);
    }
    const config: Record<string, unknown> = { ...parsed.data };
    const secretValues: Record<string, unknown> = {};
    for (const field of secretFields) {
      if (config[field] !== undefined) secretValues[field] = config[field];
      delete config[field];
    }
    const secrets = Object.keys(secretValues).length ? this.deps.secrets.seal(secretValues) : null;
    return { config: config as object, secrets, secretValues };
  }
}

/** Refusals of a file path as the API's BAD_USER_INPUT; other failures (EACCES on a folder) too. */
function refusalMessage(error: unknown): string {
  return error instanceof ConnectorError || error instanceof Error ? error.message : String(error);
}

function uniqueNameConflict(e: unknown, name: string): unknown {
  if ((e as { code?: string }).code === "P2002") return conflict(`a connected system named "${name}" already exists`, { name });
  return e;
}
