import { createHash } from "node:crypto";
import type { Attributes } from "../connectors/connector.ts";
import { canonicalJson } from "../util/canonical-json.ts";

/**
 * The content hash of an object's attributes, as stored with each CSO. Connectors without
 * change tracking (CSV) compute it too to answer a delta import: both sides must agree, so
 * this is the one definition.
 */
export function contentHash(attributes: Attributes): string {
  return createHash("md5").update(canonicalJson(attributes)).digest("hex");
}
