import { CronExpressionParser } from "cron-parser";
import { badInput, conflict, notFound } from "../errors.ts";
import type { PrismaClient, Schedule } from "../generated/prisma/client.ts";
import { RunProfile } from "../generated/prisma/enums.ts";

export interface ScheduleStep {
  connectedSystemId: string;
  profile: RunProfile;
  dryRun?: boolean;
}

export interface ScheduleInput {
  name: string;
  enabled?: boolean | null;
  /** Five or six field cron expression, evaluated in UTC. */
  cron?: string | null;
  intervalSeconds?: number | null;
  /** Run in order; a step starts only when the previous one COMPLETED. */
  steps: ScheduleStep[];
}

const MAX_STEPS = 20;

/** When a schedule fires next after `from`: the next cron occurrence, or `from` + interval. */
export function nextFireAt(schedule: Pick<Schedule, "cron" | "intervalSeconds">, from: Date): Date {
  if (schedule.cron) return CronExpressionParser.parse(schedule.cron, { currentDate: from, tz: "UTC" }).next().toDate();
  return new Date(from.getTime() + (schedule.intervalSeconds ?? 60) * 1000);
}

/** Schedules as configuration: validated on save (cron by the parser itself), read by the scheduler. */
export class Schedules {
  constructor(private readonly deps: { prisma: PrismaClient }) {}

  list(): Promise<Schedule[]> {
    return this.deps.prisma.schedule.findMany({ orderBy: { name: "asc" } });
  }

  async create(input: ScheduleInput): Promise<Schedule> {
    const data = await this.validate(input);
    try {
      return await this.deps.prisma.schedule.create({ data: { ...data, nextFireAt: nextFireAt(data, new Date()) } });
    } catch (e) {
      throw uniqueName(e, input.name);
    }
  }

  async update(id: string, input: ScheduleInput): Promise<Schedule> {
    const existing = await this.deps.prisma.schedule.findUnique({ where: { id } });
    if (!existing) throw notFound("schedule", id);
    const data = await this.validate(input);
    try {
      return await this.deps.prisma.schedule.update({
        where: { id },
        data: { ...data, nextFireAt: nextFireAt(data, new Date()) },
      });
    } catch (e) {
      throw uniqueName(e, input.name);
    }
  }

  async delete(id: string): Promise<boolean> {
    const { count } = await this.deps.prisma.schedule.deleteMany({ where: { id } });
    if (!count) throw notFound("schedule", id);
    return true;
  }

  private async validate(input: ScheduleInput) {
    if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$/.test(input.name))
      throw badInput("name must be 1-100 letters, digits, spaces, '_', '.' or '-', starting with a letter or digit", "name");
    const cron = input.cron?.trim() || null;
    const intervalSeconds = input.intervalSeconds ?? null;
    if ((cron === null) === (intervalSeconds === null)) throw badInput("give exactly one of cron or intervalSeconds", "cron");
    if (cron !== null) {
      try {
        CronExpressionParser.parse(cron, { tz: "UTC", strict: false });
      } catch (e) {
        throw badInput(`invalid cron expression "${cron}": ${(e as Error).message}`, "cron");
      }
    }
    if (intervalSeconds !== null && (!Number.isInteger(intervalSeconds) || intervalSeconds < 1))
      throw badInput("intervalSeconds must be a whole number of seconds, at least 1", "intervalSeconds");
    if (!input.steps.length || input.steps.length > MAX_STEPS)
      throw badInput(`a schedule needs 1 to ${MAX_STEPS} steps`, "steps");
    const steps: ScheduleStep[] = [];
    for (const [i, step] of input.steps.entries()) {
      if (!Object.values(RunProfile).includes(step.profile))
        throw badInput(`unknown profile ${step.profile}`, `steps.${i}.profile`);
      const system = await this.deps.prisma.connectedSystem.findUnique({ where: { id: step.connectedSystemId } });
      if (!system)
        throw badInput(`steps.${i}: connected system ${step.connectedSystemId} does not exist`, `steps.${i}.connectedSystemId`);
      steps.push({ connectedSystemId: system.id, profile: step.profile, dryRun: step.dryRun ?? false });
    }
    return { name: input.name, enabled: input.enabled ?? true, cron, intervalSeconds, steps: steps as object[] };
  }
}

function uniqueName(e: unknown, name: string): unknown {
  if ((e as { code?: string }).code === "P2002") return conflict(`a schedule named "${name}" already exists`, { name });
  return e;
}
