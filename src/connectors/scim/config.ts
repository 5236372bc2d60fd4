import { z } from "zod";
import { hasUsablePort, PORT_MESSAGE, urlEndpoint } from "../endpoints.ts";

export const ScimConfigSchema = z
  .object({
    baseUrl: z
      .string()
      .url()
      .refine(hasUsablePort, PORT_MESSAGE)
      .describe("Base URL of the SCIM 2.0 service, e.g. https://idp.example.com/scim/v2."),
    token: z.string().min(1).describe("Bearer token sent to the service; stored encrypted, read back as ********."),
    resourceType: z.enum(["Users", "Groups"]).default("Users").describe("SCIM resource type to sync."),
    objectType: z.string().min(1).default("person").describe("Object type of the resources (sync rules select it)."),
    pageSize: z.number().int().min(1).max(1000).default(100).describe("Resources per list page."),
    timeoutMs: z.number().int().min(100).max(600000).default(10000).describe("Timeout of one request, in milliseconds."),
  })
  .strict();

export type ScimConfig = z.infer<typeof ScimConfigSchema>;
export const scimSecretFields = ["token"] as const;

/** The service the token goes to: its base URL, path included. */
export const scimEndpoint = (config: Record<string, unknown>) =>
  urlEndpoint(config.baseUrl, { "http:": 80, "https:": 443 }, true);
