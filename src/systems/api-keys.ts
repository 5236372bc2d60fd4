import { createHash, randomBytes } from "node:crypto";
import { badInput, notFound } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import type { ApiKey, PrismaClient } from "../generated/prisma/client.ts";
import type { ApiRole } from "../generated/prisma/enums.ts";

/** Keys are stored only as this hash; the API hashes a presented key the same way to find it. */
export const hashKey = (key: string) => createHash("sha256").update(key).digest("hex");

/** Published on the event bus when a key is revoked: every API process closes its sockets. */
export const API_KEY_REVOKED_TOPIC = "apiKey.revoked";

const ROLES: readonly ApiRole[] = ["READER", "OPERATOR", "ADMIN"];

/** Parse "reader" / "OPERATOR" ... as a role; anything else is bad input naming the choices. */
export function parseRole(value: string | undefined): ApiRole {
  const role = value?.toUpperCase() as ApiRole;
  if (!ROLES.includes(role)) throw badInput(`role must be one of reader, operator, admin (got ${JSON.stringify(value)})`, "role");
  return role;
}

/**
 * API keys: only a sha256 of each key is stored, so the key is shown once, at creation.
 * Revoking keeps the row (audit: who approved what with which key).
 */
export class ApiKeys {
  constructor(private readonly deps: { prisma: PrismaClient; bus?: Pick<EventBus, "publish"> }) {}

  async create(input: { role: ApiRole; name?: string | null }): Promise<{ key: string; apiKey: ApiKey }> {
    const name = input.name?.trim() || `${input.role.toLowerCase()} key`;
    if (name.length > 100) throw badInput("name must be at most 100 characters", "name");
    const key = `msk_${randomBytes(32).toString("base64url")}`;
    const apiKey = await this.deps.prisma.apiKey.create({
      data: { name, role: input.role, keyHash: hashKey(key), prefix: key.slice(0, 12) },
    });
    return { key, apiKey };
  }

  list(): Promise<ApiKey[]> {
    return this.deps.prisma.apiKey.findMany({ orderBy: { createdAt: "asc" } });
  }

  /** Idempotent: revoking a revoked key keeps its first revocation time. */
  async revoke(id: string): Promise<ApiKey> {
    const existing = await this.deps.prisma.apiKey.findUnique({ where: { id } });
    if (!existing) throw notFound("API key", id);
    if (!existing.revokedAt) await this.deps.prisma.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
    // Also when already revoked: a process that missed the first notice closes the sockets now.
    await this.deps.bus?.publish(API_KEY_REVOKED_TOPIC, { id });
    return this.deps.prisma.apiKey.findUniqueOrThrow({ where: { id } });
  }
}
