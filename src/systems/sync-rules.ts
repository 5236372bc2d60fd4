import { badInput, conflict, notFound } from "../errors.ts";
import { Prisma, type PrismaClient, type SyncRule } from "../generated/prisma/client.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { checkAgainstSample, checkFunctions } from "./expression-checks.ts";
import { checkAttributes, normalise, type SyncRuleData, type SyncRuleInput } from "./sync-rule-validation.ts";

export type { SyncRuleInput } from "./sync-rule-validation.ts";
export type ApplyOutcome = "created" | "updated" | "unchanged";

/**
 * Sync rules, validated the same way whoever writes them (GraphQL or YAML apply): shapes,
 * JSONata compiled at save time, attribute names against the system's discovered schema.
 */
export class SyncRules {
  constructor(private readonly deps: { prisma: PrismaClient }) {}

  async validate(input: SyncRuleInput): Promise<SyncRuleData> {
    const data = normalise(input);
    const system = await this.deps.prisma.connectedSystem.findUnique({
      where: { id: data.connectedSystemId },
      select: { name: true, schemaDiscoveredAt: true },
    });
    if (!system) throw notFound("connected system", data.connectedSystemId);
    // Without a discovered schema there is nothing to check names against: refreshSchema first for strict checks.
    if (system.schemaDiscoveredAt) {
      const objectType = await this.deps.prisma.objectType.findFirst({
        where: { connectedSystemId: data.connectedSystemId, name: { equals: data.objectType, mode: "insensitive" } },
        include: { attributes: { select: { name: true }, orderBy: { name: "asc" } } },
      });
      if (!objectType) {
        const known = await this.deps.prisma.objectType.findMany({
          where: { connectedSystemId: data.connectedSystemId },
          select: { name: true },
        });
        const list = known.map((k) => k.name).join(", ") || "none";
        throw badInput(`objectType: "${data.objectType}" is not an object type of ${system.name} (known: ${list})`, "objectType");
      }
      checkAttributes(
        data,
        objectType.name,
        objectType.attributes.map((a) => a.name),
      );
    }
    await checkFunctions(data);
    await checkAgainstSample(data, await this.sample(data));
    return data;
  }

  /**
   * What the rule's expressions read: INBOUND a connector space object of the system and type,
   * OUTBOUND a metaverse object of the type; without one, an object made from the discovered
   * schema (or the inbound flows' targets), each attribute holding a placeholder value.
   */
  private async sample(rule: SyncRuleData): Promise<{ attributes: Record<string, unknown>; description: string }> {
    const { prisma } = this.deps;
    if (rule.direction === "INBOUND") {
      const cso = await prisma.connectorSpaceObject.findFirst({
        where: {
          connectedSystemId: rule.connectedSystemId,
          objectType: { equals: rule.objectType, mode: "insensitive" },
          status: "NORMAL",
        },
        select: { anchor: true, attributes: true },
      });
      if (cso)
        return { attributes: cso.attributes as Record<string, unknown>, description: `connector space object ${cso.anchor}` };
      const type = await prisma.objectType.findFirst({
        where: { connectedSystemId: rule.connectedSystemId, name: { equals: rule.objectType, mode: "insensitive" } },
        include: { attributes: { select: { name: true, type: true, multiValued: true } } },
      });
      const attributes = Object.fromEntries(
        (type?.attributes ?? []).map((a) => {
          const value = a.type === "INTEGER" ? 1 : a.type === "BOOLEAN" ? true : "sample";
          return [a.name, a.multiValued ? [value] : value];
        }),
      );
      return { attributes, description: "a sample object made from the schema" };
    }
    const mvo = await prisma.metaverseObject.findFirst({
      where: { type: rule.metaverseObjectType, status: { not: "DELETED" } },
      select: { id: true, attributes: true },
    });
    if (mvo) return { attributes: mvo.attributes as Record<string, unknown>, description: `metaverse object ${mvo.id}` };
    const inbound = await prisma.syncRule.findMany({
      where: { direction: "INBOUND", metaverseObjectType: rule.metaverseObjectType },
      select: { attributeFlows: true },
    });
    const targets = inbound.flatMap((r) => (Array.isArray(r.attributeFlows) ? r.attributeFlows : []) as { target?: string }[]);
    const attributes = Object.fromEntries(targets.flatMap((f) => (f.target ? [[f.target, "sample"]] : [])));
    return { attributes, description: "a sample object made from the inbound flows' targets" };
  }

  async create(input: SyncRuleInput): Promise<SyncRule> {
    const data = await this.validate(input);
    try {
      return await this.deps.prisma.syncRule.create({ data: toColumns(data) });
    } catch (e) {
      throw nameConflict(e, data.name);
    }
  }

  async update(id: string, input: SyncRuleInput): Promise<SyncRule> {
    const existing = await this.deps.prisma.syncRule.findUnique({ where: { id }, select: { id: true } });
    if (!existing) throw notFound("sync rule", id);
    const data = await this.validate(input);
    try {
      return await this.deps.prisma.syncRule.update({ where: { id }, data: toColumns(data) });
    } catch (e) {
      throw nameConflict(e, data.name);
    }
  }

  async delete(id: string): Promise<boolean> {
    const { count } = await this.deps.prisma.syncRule.deleteMany({ where: { id } });
    if (!count) throw notFound("sync rule", id);
    return true;
  }

  /** YAML apply: create or update by name; a rule equal to the input is not written at all. */
  async upsertByName(input: SyncRuleInput): Promise<{ rule: SyncRule; outcome: ApplyOutcome }> {
    const data = await this.validate(input);
    const existing = await this.deps.prisma.syncRule.findUnique({ where: { name: data.name } });
    if (!existing) return { rule: await this.create(input), outcome: "created" };
    if (sameRule(existing, data)) return { rule: existing, outcome: "unchanged" };
    const rule = await this.deps.prisma.syncRule.update({ where: { id: existing.id }, data: toColumns(data) });
    return { rule, outcome: "updated" };
  }
}

function toColumns(data: SyncRuleData): Prisma.SyncRuleUncheckedCreateInput {
  return {
    ...data,
    joinRules: data.joinRules as Prisma.InputJsonValue,
    attributeFlows: data.attributeFlows as Prisma.InputJsonValue,
    // DbNull, not undefined: an update that drops the option must clear the column.
    disableFlow: data.disableFlow ?? Prisma.DbNull,
    deduplication: data.deduplication ?? Prisma.DbNull,
    breaker: (data.breaker as Prisma.InputJsonValue | null) ?? Prisma.DbNull,
  };
}

/** Compare the columns a rule input sets; JSON columns key-order-insensitively. */
function sameRule(existing: SyncRule, data: SyncRuleData): boolean {
  const current: Record<string, unknown> = existing;
  return Object.entries(data).every(([key, value]) => canonicalJson(current[key] ?? null) === canonicalJson(value ?? null));
}

function nameConflict(e: unknown, name: string): unknown {
  if ((e as { code?: string }).code === "P2002") return conflict(`a sync rule named "${name}" already exists`, { name });
  return e;
}
