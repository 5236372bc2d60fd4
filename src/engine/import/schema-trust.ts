import type pg from "pg";
import { contentHashOfJson } from "../../connectors/content-hash.ts";
import { canonicalJson } from "../../util/canonical-json.ts";
import { clearValidatedSchemaHash, setValidatedSchemaHash, validatedSchemaHash } from "../connected-system/store.ts";
import type { ImportSchema } from "./validate.ts";

type Q = Pick<pg.PoolClient, "query">;

/**
 * Whether a full import may skip validating the objects it finds unchanged.
 *
 * An unchanged object (same content hash and DN as stored) has the attributes an earlier import
 * validated before storing them. Checking them again gives the same answer as long as the
 * schema is the same one: connected_system.validated_schema_hash names it. It is set by a full
 * import that ended with no failed record (every object of the source was then valid against
 * it), and cleared by any other writer of stored attributes (export confirmations,
 * provisioning placeholders) and by an import that runs under another schema. Skipping the
 * check lets an unchanged re-import leave the attributes unread: a CSV row's are never parsed.
 */
export function schemaFingerprint(schema: ImportSchema): string {
  const types = [...schema].map(([type, attributes]) => [type, Object.fromEntries(attributes)] as const);
  return contentHashOfJson(canonicalJson(Object.fromEntries(types)));
}

/** True when every stored object of the system was last validated against `fingerprint`. */
export async function trustsUnchanged(q: Q, systemId: string, fingerprint: string): Promise<boolean> {
  return (await validatedSchemaHash(q, systemId)) === fingerprint;
}

/** Every stored object of the system is valid against `fingerprint` (a clean full import). */
export async function recordValidated(q: Q, systemId: string, fingerprint: string): Promise<void> {
  await setValidatedSchemaHash(q, systemId, fingerprint);
}

/**
 * Stored attributes were written without validation against the last schema (or under
 * another one): the next full import validates every object again.
 */
export async function distrustStored(q: Q, systemId: string): Promise<void> {
  await clearValidatedSchemaHash(q, systemId);
}
