import { conflict, invalidInput, notFound, type Problem } from "../errors.ts";
import type { AlertEndpoint, PrismaClient } from "../generated/prisma/client.ts";
import type { AlertEvent } from "../generated/prisma/enums.ts";
import type { SecretBox } from "../secrets.ts";
import { ALERT_EVENTS } from "./events.ts";

export interface AlertEndpointInput {
  name: string;
  url: string;
  secret: string;
  events: AlertEvent[];
  enabled?: boolean | null;
}

/** An update: what is left out stays (the secret above all, which cannot be read back). */
export type AlertEndpointPatch = { [K in keyof AlertEndpointInput]?: AlertEndpointInput[K] | null };

/** Long enough that the HMAC cannot be brute-forced from one signed request. */
export const MIN_SECRET_LENGTH = 16;
const MAX_NAME_LENGTH = 200;
const MAX_URL_LENGTH = 2048;

/**
 * Alert endpoints as configuration. The URL is an admin's choice, so it may point anywhere an
 * admin may reach; what is refused is every scheme but http and https (file:, gopher:, data:
 * would make the worker read or speak other protocols). The secret is sealed like connector
 * secrets and only ever opened by the delivery worker to sign.
 */
export class AlertEndpoints {
  constructor(private readonly deps: { prisma: PrismaClient; secrets: SecretBox }) {}

  list(): Promise<AlertEndpoint[]> {
    return this.deps.prisma.alertEndpoint.findMany({ orderBy: { name: "asc" } });
  }

  async create(input: AlertEndpointInput): Promise<AlertEndpoint> {
    check(input, true);
    try {
      return await this.deps.prisma.alertEndpoint.create({
        data: {
          name: input.name.trim(),
          url: input.url.trim(),
          secret: this.deps.secrets.seal({ secret: input.secret }),
          events: unique(input.events),
          enabled: input.enabled ?? true,
        },
      });
    } catch (e) {
      throw nameTaken(e, input.name) ?? e;
    }
  }

  async update(id: string, patch: AlertEndpointPatch): Promise<AlertEndpoint> {
    check(patch, false);
    const exists = await this.deps.prisma.alertEndpoint.count({ where: { id } });
    if (!exists) throw notFound("alert endpoint", id);
    try {
      return await this.deps.prisma.alertEndpoint.update({
        where: { id },
        data: {
          ...(patch.name != null ? { name: patch.name.trim() } : {}),
          ...(patch.url != null ? { url: patch.url.trim() } : {}),
          ...(patch.secret != null ? { secret: this.deps.secrets.seal({ secret: patch.secret }) } : {}),
          ...(patch.events != null ? { events: unique(patch.events) } : {}),
          ...(patch.enabled != null ? { enabled: patch.enabled } : {}),
        },
      });
    } catch (e) {
      throw nameTaken(e, patch.name ?? "") ?? e;
    }
  }

  /** The endpoint goes; its delivery log stays (endpoint name and URL are kept on each delivery). */
  async delete(id: string): Promise<boolean> {
    const { count } = await this.deps.prisma.alertEndpoint.deleteMany({ where: { id } });
    if (!count) throw notFound("alert endpoint", id);
    return true;
  }
}

/** Every problem of the input at once; `complete`: a create, where each field is required. */
function check(input: AlertEndpointPatch, complete: boolean) {
  const problems: Problem[] = [];
  const given = (v: unknown) => v !== undefined && v !== null;
  if (given(input.name) || complete) {
    const name = input.name?.trim() ?? "";
    if (!name) problems.push({ path: "name", message: "must not be empty" });
    else if (name.length > MAX_NAME_LENGTH)
      problems.push({ path: "name", message: `must be at most ${MAX_NAME_LENGTH} characters` });
  }
  if (given(input.url) || complete) {
    const problem = urlProblem(input.url?.trim() ?? "");
    if (problem) problems.push({ path: "url", message: problem });
  }
  if (given(input.secret) || complete) {
    if ((input.secret ?? "").length < MIN_SECRET_LENGTH)
      problems.push({ path: "secret", message: `must be at least ${MIN_SECRET_LENGTH} characters` });
  }
  if (given(input.events) || complete) {
    const events = input.events ?? [];
    if (!events.length) problems.push({ path: "events", message: "name at least one event" });
    const unknown = events.filter((e) => !(ALERT_EVENTS as readonly string[]).includes(e));
    if (unknown.length) problems.push({ path: "events", message: `unknown events ${unknown.join(", ")}` });
  }
  if (problems.length) throw invalidInput("invalid alert endpoint", problems);
}

function urlProblem(raw: string): string | null {
  if (!raw) return "must not be empty";
  if (raw.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is not an absolute URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return `scheme ${url.protocol.replace(/:$/, "")} is not allowed: use http or https`;
  return null;
}

const unique = (events: AlertEvent[]) => [...new Set(events)];

function nameTaken(e: unknown, name: string) {
  if ((e as { code?: string }).code === "P2002") return conflict(`an alert endpoint named "${name}" already exists`, { name });
  return null;
}
