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
  let keysExist: { value: boolean; at: number } | null = null;
  const anyKey = async () => {
    if (keysExist && Date.now() - keysExist.at < 2000) return keysExist.value;
    const value = (await prisma.apiKey.count({ where: { revokedAt: null } })) > 0;
    keysExist = { value, at: Date.now() };
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
