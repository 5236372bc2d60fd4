import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createGraphQLError, type Plugin } from "graphql-yoga";

/**
 * Optional persisted operations for production: METASYNC_PERSISTED_OPERATIONS names a JSON file
 * `{ "<sha256 of the document>": "<document>" }` (what persisted-document tooling emits). With it,
 * the server runs only those documents: clients send `documentId` or
 * `extensions.persistedQuery.sha256Hash`, or the full text of a listed document. Without it,
 * nothing changes. The graphql-ws path is not covered: subscriptions stay free-form.
 */
export function persistedOperationsPlugin(file: string): Plugin {
  const documents = loadDocuments(file);
  return {
    onParams({ params, setParams }) {
      const extensions = params.extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined;
      const asked = (params as { documentId?: unknown }).documentId ?? extensions?.persistedQuery?.sha256Hash;
      if (typeof asked === "string") {
        const query = documents.get(asked);
        if (!query)
          throw createGraphQLError(`persisted operation ${asked.slice(0, 80)} is unknown`, {
            extensions: { code: "PERSISTED_OPERATION_NOT_FOUND", http: { status: 400 } },
          });
        // documentId is not a standard parameter: Yoga refuses a request that still carries it.
        const { documentId: _id, ...standard } = params as typeof params & { documentId?: unknown };
        setParams({ ...standard, query });
        return;
      }
      if (typeof params.query === "string" && documents.has(sha256(params.query))) return;
      throw createGraphQLError("this server runs persisted operations only: send documentId", {
        extensions: { code: "PERSISTED_OPERATION_REQUIRED", http: { status: 400 } },
      });
    },
  };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function loadDocuments(file: string): Map<string, string> {
  const raw = JSON.parse(readFileSync(file, "utf8")) as unknown;
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new Error(`${file}: persisted operations must be a JSON object { "<sha256>": "<document>" }`);
  const documents = new Map<string, string>();
  for (const [hash, document] of Object.entries(raw)) {
    if (typeof document !== "string") throw new Error(`${file}: the value of ${hash} is not a GraphQL document`);
    documents.set(hash, document);
    // Also by the document's own hash, so a listing keyed by custom ids still admits its full text.
    documents.set(sha256(document), document);
  }
  return documents;
}
