import { z } from "zod";
import type { ConnectorKind } from "../generated/prisma/enums.ts";
import { connectorConfigs } from "./configs.ts";

export type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema> };

/** What a client needs to write a connector kind's config: its JSON Schema, defaults and secret fields. */
export interface ConnectorConfigDescription {
  kind: ConnectorKind;
  configSchema: JsonSchema;
  defaults: Record<string, unknown>;
  secretFields: string[];
}

/**
 * Generated from the zod schema the server validates with, so the published schema cannot
 * disagree with what is accepted (refinements such as "the delimiter must not contain the quote"
 * have no JSON Schema form and stay server-side). The input side: a field with a default is optional.
 */
export function describeConnectorConfig(kind: ConnectorKind): ConnectorConfigDescription {
  const spec = connectorConfigs[kind];
  const generated = z.toJSONSchema(spec.documented, { io: "input", target: "draft-7" }) as JsonSchema;
  const properties = { ...(generated.properties ?? {}) };
  // Secrets are write-only: accepted on save, never read back (the API shows ********).
  for (const field of spec.secretFields) if (properties[field]) properties[field] = { ...properties[field], writeOnly: true };
  const configSchema: JsonSchema = { ...generated, title: `${kind} connector config`, properties };
  const defaults = Object.fromEntries(
    Object.entries(properties)
      .filter(([, p]) => p.default !== undefined)
      .map(([key, p]) => [key, p.default]),
  );
  return { kind, configSchema, defaults, secretFields: [...spec.secretFields] };
}

export const connectorKinds = (): ConnectorKind[] => Object.keys(connectorConfigs) as ConnectorKind[];
