import { isDirectorySecret } from "../../secrets.ts";

// Directory secrets (isDirectorySecret names them): not read from the directory unless an
// inbound rule of the system reads one and they will be sealed (src/connectors/sealed-secrets.ts
// seals what every connector imports), so the database, GraphQL, logs and run records never
// hold the value in the clear.

/** No secret attribute is read. */
export const NO_SECRETS: ReadonlySet<string> = new Set();

/** The secret attributes (lower case) an import reads: those the rules read, and only when they will be sealed. */
export function secretsWanted(read: Set<string>, sealed: boolean): ReadonlySet<string> {
  if (!sealed) return NO_SECRETS;
  return new Set([...read].map((n) => n.toLowerCase()).filter(isDirectorySecret));
}
