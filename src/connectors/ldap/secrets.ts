import { isDirectorySecret, isSealedValue } from "../../secrets.ts";
import type { ExportChange, ExportResult } from "../connector.ts";

// Directory secrets (isDirectorySecret names them): not imported unless an inbound rule of the
// system reads one; then imported sealed (SecretBox), so the database, GraphQL, logs and run
// records never hold the value in the clear.

/** What import does with secret attributes: keep only `wanted` ones (lower case), sealed. */
export interface SecretPolicy {
  wanted: Set<string>;
  seal(value: string): string;
}

export const NO_SECRETS: SecretPolicy = {
  wanted: new Set(),
  seal: () => {
    throw new Error("no secret is imported");
  },
};

/**
 * The policy for one import: the secrets among the attributes the rules read, sealed with `seal`.
 * Without a sealer nothing secret is imported, whatever the rules read.
 */
export function secretPolicy(read: Set<string>, seal: ((value: string) => string) | undefined): SecretPolicy {
  if (!seal) return NO_SECRETS;
  const wanted = new Set([...read].map((n) => n.toLowerCase()).filter(isDirectorySecret));
  return wanted.size ? { wanted, seal } : NO_SECRETS;
}

/**
 * Changes with their sealed values opened: a sealed secret (an imported password hash) is
 * written to the directory as the value it was, never as its sealed text (which anyone reading
 * the database could then bind with). Without an opener, a change holding one is refused.
 */
export function unsealChanges(
  changes: ExportChange[],
  open: ((sealed: string) => string) | undefined,
): { ready: ExportChange[]; refused: ExportResult[] } {
  const ready: ExportChange[] = [];
  const refused: ExportResult[] = [];
  for (const change of changes) {
    if (!change.attributes.some((a) => a.values.some(isSealedValue))) ready.push(change);
    else if (!open)
      refused.push({
        id: change.id,
        status: "PERMANENT_FAILURE",
        code: "INVALID_INPUT",
        message: "the change holds a sealed secret and this connector has no key to open it",
      });
    else
      ready.push({
        ...change,
        attributes: change.attributes.map((a) => ({ ...a, values: a.values.map((v) => (isSealedValue(v) ? open(v) : v)) })),
      });
  }
  return { ready, refused };
}
