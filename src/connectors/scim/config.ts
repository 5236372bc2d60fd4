import { z } from "zod";
import { hasUsablePort, PORT_MESSAGE, urlEndpoint } from "../endpoints.ts";

export const ScimConfigSchema = z
  .object({
    baseUrl: z.string().url().refine(hasUsablePort, PORT_MESSAGE),
    token: z.string().min(1),
    resourceType: z.enum(["Users", "Groups"]).default("Users"),
    objectType: z.string().min(1).default("person"),
    pageSize: z.number().int().min(1).max(1000).default(100),
    timeoutMs: z.number().int().min(100).max(600000).default(10000),
  })
  .strict();

export type ScimConfig = z.infer<typeof ScimConfigSchema>;
export const scimSecretFields = ["token"] as const;

/** The service the token goes to: its base URL, path included. */
export const scimEndpoint = (config: Record<string, unknown>) =>
  urlEndpoint(config.baseUrl, { "http:": 80, "https:": 443 }, true);
