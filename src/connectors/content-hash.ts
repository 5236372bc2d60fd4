import { hash } from "node:crypto";
import { canonicalJson } from "../util/canonical-json.ts";
import type { Attributes } from "./connector.ts";

/**
 * The content hash of an object's attributes, as stored with each CSO. Connectors without
 * change tracking (CSV) compute it too to answer a delta import: both sides must agree, so
 * this is the one definition. crypto.hash: one call, no Hash object per document.
 */
export function contentHash(attributes: Attributes): string {
  return hash("md5", canonicalJson(attributes), "hex");
}

/**
 * contentHash of attributes given as their canonical JSON, e.g. JSON.stringify of attributes
 * whose keys a connector inserted in sorted order at every level: the same hash without
 * sorting, half the cost per row. Array-index keys ("2", "10") come first in any JavaScript
 * object; canonicalJson's sorted copy has them first too, so the two agree.
 */
export function contentHashOfJson(canonical: string): string {
  return hash("md5", canonical, "hex");
}
