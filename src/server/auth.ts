import { createHash } from "node:crypto";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { ApiRole } from "../generated/prisma/enums.ts";

export type Caller = { role: ApiRole; keyId: string | null } | { role: null; reason: "NO_KEY" | "INVALID_KEY" | "NOT_LOOPBACK" };

export const hashKey = (key: string) => createHash("sha256").update(key).digest("hex");

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

/**
 * Who is calling. While no API key exists, loopback clients are admins (development
 * default) and others are refused; once one exists, a valid Bearer key is required.
 */
export function createAuthenticator(prisma: PrismaClient) {
  // Only "a key exists" is cached: the moment the first key is created (maybe by the CLI in
  // another process) keyless loopback access must end, while rejecting keyless callers of a
  // secured server should not cost a query each.
  let keysExistAt: number | null = null;
  const anyKey = async () => {
    if (keysExistAt !== null && Date.now() - keysExistAt < 2000) return true;
    const value = (await prisma.apiKey.count({ where: { revokedAt: null } })) > 0;
    keysExistAt = value ? Date.now() : null;
    return value;
  };
  return async function authenticate(
    authorization: string | null | undefined,
    remoteAddress: string | undefined,
  ): Promise<Caller> {
    const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    if (bearer) {
      const key = await prisma.apiKey.findUnique({ where: { keyHash: hashKey(bearer) } });
      if (!key || key.revokedAt) return { role: null, reason: "INVALID_KEY" };
      void prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date() } }).catch(() => {});
      return { role: key.role, keyId: key.id };
    }
    if (await anyKey()) return { role: null, reason: "NO_KEY" };
    return isLoopback(remoteAddress) ? { role: "ADMIN", keyId: null } : { role: null, reason: "NOT_LOOPBACK" };
  };
}

/** What a refused caller is told: the code is always UNAUTHENTICATED, the message says why. */
export function refusal(reason: "NO_KEY" | "INVALID_KEY" | "NOT_LOOPBACK"): string {
  switch (reason) {
    case "NO_KEY":
      return "an API key is required: send Authorization: Bearer <key>";
    case "INVALID_KEY":
      return "the API key is invalid or revoked";
    case "NOT_LOOPBACK":
      return "no API key exists yet, so only loopback clients are served: create one with npx metasync apikey create --role admin";
  }
}
