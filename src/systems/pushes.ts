import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { sealSecretAttributes } from "../connectors/sealed-secrets.ts";
import type { PushedRecord } from "../engine/realtime/inbox-store.ts";
import { AppError, badInput, invalidInput, issueProblems, notFound } from "../errors.ts";
import type { ConnectedSystem, PrismaClient } from "../generated/prisma/client.ts";
import type { SecretBox } from "../secrets.ts";
import type { InboxWakeup } from "./inbox-wakeup.ts";
import type { InboxWriter } from "./inbox-writer.ts";
import { DEFAULT_PUSH_BATCH } from "./realtime-input.ts";

/** What accepting a push needs. */
export interface PushDeps {
  prisma: PrismaClient;
  /** Stores a push's records, durable when it resolves (see inbox-writer.ts). */
  write: InboxWriter;
  /** Called after the records commit (see inbox-wakeup.ts). */
  wake: InboxWakeup;
  secrets: SecretBox;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A signature older (or newer) than this is a replay: refused. */
export const SIGNATURE_TOLERANCE_S = 300;

/** PostgreSQL stores no U+0000 in text or jsonb: such a record would fail its whole statement. */
const Text = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !s.includes("\u0000"), "contains a NUL character (U+0000), which cannot be stored");
const AttributeValue = z.union([Text(0, Number.MAX_SAFE_INTEGER), z.number(), z.boolean()]);
const RecordSchema = z.discriminatedUnion("op", [
  z
    .object({
      op: z.literal("upsert"),
      objectType: Text(1, 200),
      anchor: Text(1, 1024),
      attributes: z.record(Text(1, 200), z.union([AttributeValue, z.array(AttributeValue), z.null()])),
      id: Text(1, 200).optional(),
    })
    .strict(),
  z
    .object({
      op: z.literal("delete"),
      objectType: Text(1, 200),
      anchor: Text(1, 1024),
      id: Text(1, 200).optional(),
    })
    .strict(),
]);
const BodySchema = z.object({ records: z.array(RecordSchema).min(1) }).strict();

/** A system that takes pushes, with the object types its records may name. */
export interface PushTarget {
  system: ConnectedSystem;
  objectTypes: Set<string>;
  /** The webhook secret, opened once here rather than decrypted for every push. */
  webhookSecret: string | null;
}

/** The system a push names (its name or id), with real-time on; NOT_FOUND or CONFLICT otherwise. */
export async function pushTarget(
  { prisma, secrets }: Pick<PushDeps, "prisma" | "secrets">,
  nameOrId: string,
): Promise<PushTarget> {
  const system = await prisma.connectedSystem.findUnique({
    where: UUID.test(nameOrId) ? { id: nameOrId.toLowerCase() } : { name: nameOrId },
    include: { objectTypes: { select: { name: true } } },
  });
  if (!system) throw notFound("connected system", nameOrId);
  if (!(system.realtime as { enabled?: boolean } | null)?.enabled)
    throw new AppError("CONFLICT", `real-time is off for ${system.name}: set realtime: { enabled: true } on it first`, {
      code: "REALTIME_DISABLED",
    });
  const { objectTypes, ...row } = system;
  return {
    system: row,
    objectTypes: new Set(objectTypes.map((t) => t.name)),
    webhookSecret: system.webhookSecret ? String(secrets.open(system.webhookSecret).secret) : null,
  };
}

/**
 * `X-Metasync-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` checked
 * against the system's webhook secret, in constant time, within SIGNATURE_TOLERANCE_S of now.
 */
export function signatureValid(secret: string | null, header: string, body: Buffer, nowS = Date.now() / 1000) {
  if (!secret) return false;
  const parts = Object.fromEntries(header.split(",").map((p) => p.trim().split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowS - t) > SIGNATURE_TOLERANCE_S || !/^[0-9a-f]{64}$/i.test(parts.v1 ?? "")) return false;
  const expected = createHmac("sha256", secret).update(`${t}.`).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(parts.v1!, "hex"));
}

/**
 * Validate a push body and store its records in the system's inbox, durable before this returns,
 * then wake the workers. Returns the entry ids (a repeated record gets its first id).
 */
export async function acceptPush(deps: PushDeps, { system, objectTypes: types }: PushTarget, body: Buffer): Promise<string[]> {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw badInput(`the body is not JSON: ${(e as Error).message}`, "body");
  }
  const parsed = BodySchema.safeParse(json);
  if (!parsed.success) throw invalidInput("invalid push", issueProblems(parsed.error.issues, "", { brackets: true }));
  const records = parsed.data.records as PushedRecord[];
  const limit = (system.realtime as { batchSize?: number | null }).batchSize ?? DEFAULT_PUSH_BATCH;
  if (records.length > limit)
    throw badInput(`${records.length} records in one push; this system takes at most ${limit} (realtime.batchSize)`, "records");
  const unknown = records.findIndex((r) => !types.has(r.objectType));
  if (unknown >= 0)
    throw badInput(
      `records[${unknown}].objectType: ${system.name} has no object type "${records[unknown]!.objectType}" (known: ${[...types].join(", ") || "none; discover its schema first"})`,
      `records[${unknown}].objectType`,
    );
  const ids = await deps.write(
    system.id,
    records.map((r) => sealSecrets(r, deps.secrets)),
  );
  void deps.wake(system.id);
  return ids;
}

/**
 * A record with its directory secrets (userPassword, unicodePwd, ...) sealed, as every import
 * seals them (sealed-secrets.ts): the inbox, the connector space and the run records never hold
 * one in the clear, and an export to a directory opens it to write the value pushed. Sealing is
 * deterministic, so a repeated push is still recognised by its content.
 */
function sealSecrets(record: PushedRecord, secrets: SecretBox): PushedRecord {
  const sealed = record.attributes && sealSecretAttributes(record.attributes, (v) => secrets.sealValue(v));
  return sealed ? { ...record, attributes: sealed } : record;
}
