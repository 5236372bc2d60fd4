import { hash } from "node:crypto";
import type { Attributes } from "../connectors/connector.ts";
import { canonicalJson } from "../util/canonical-json.ts";

/**
 * The content hash of an object's attributes, as stored with each CSO. Connectors without
 * change tracking (CSV) compute it too to answer a delta import: both sides must agree, so
 * this is the one definition. crypto.hash: one call, no Hash object per document.
 */
export function contentHash(attributes: Attributes): string {
  return hash("md5", canonicalJson(attributes), "hex");
}
