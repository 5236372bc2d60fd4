import { type ConnectorConfigDescription, connectorKinds, describeConnectorConfig } from "../connectors/config-schema.ts";
import { builder } from "./builder.ts";
import { ConnectorKindEnum } from "./enums.ts";

const ConnectorKindInfo = builder.objectRef<ConnectorConfigDescription>("ConnectorKindInfo").implement({
  description: "How to configure one connector kind: what ConnectedSystemInput.config accepts for it.",
  fields: (t) => ({
    kind: t.expose("kind", { type: ConnectorKindEnum }),
    configSchema: t.expose("configSchema", {
      type: "JSON",
      description:
        "JSON Schema (draft-07) of the config, generated from the schema the server validates with; secret fields are writeOnly.",
    }),
    defaults: t.expose("defaults", { type: "JSON", description: "The value each optional field takes when left out." }),
    secretFields: t.exposeStringList("secretFields", {
      description: "Fields stored encrypted and read back as ********; leaving one out on update keeps it.",
    }),
  }),
});

// Generated once: the schemas are fixed for the life of the process.
const descriptions = connectorKinds().map(describeConnectorConfig);

builder.queryField("connectorKinds", (t) =>
  t.field({
    type: [ConnectorKindInfo],
    description: "Every connector kind with its config schema, defaults and secret fields.",
    authScopes: { reader: true },
    resolve: () => descriptions,
  }),
);
