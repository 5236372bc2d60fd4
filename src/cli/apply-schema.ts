import { z } from "zod";
import { connectorKinds, describeConnectorConfig, type JsonSchema } from "../connectors/config-schema.ts";
import { ApplyDocumentSchema } from "./apply-document.ts";

/**
 * JSON Schema of a `metasync apply` document (docs/apply.schema.json), for editors: generated from
 * the zod schema apply parses with, and each connected system's `config` checked against its kind's
 * connector schema (apply leaves that check to the connected-system service, so the zod schema
 * has a plain object there).
 */
export function applyDocumentJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(ApplyDocumentSchema, { io: "input", target: "draft-7" }) as JsonSchema;
  const systems = generated.properties?.connectedSystems as JsonSchema & { items: JsonSchema };
  const byKind = connectorKinds().map((kind) => {
    const { $schema: _, ...config } = describeConnectorConfig(kind).configSchema;
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, never awaited.
    return { if: { properties: { kind: { const: kind } } }, then: { properties: { config } } };
  });
  systems.items = { ...systems.items, allOf: byKind };
  const { $schema, ...rest } = generated;
  return { $schema, title: "metasync apply document", ...rest };
}
