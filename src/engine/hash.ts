import { createHash } from "node:crypto";
import type { Attributes } from "../connectors/connector.ts";
import { canonicalJson } from "../util/canonical-json.ts";

/** md5 of the canonical attribute document: equal attributes, equal hash, whatever the key order. */
export function contentHash(attributes: Attributes): string {
  return createHash("md5").update(canonicalJson(attributes)).digest("hex");
}
