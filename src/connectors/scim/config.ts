import { z } from "zod";
import { hasUsablePort, PORT_MESSAGE, urlEndpoint } from "../endpoints.ts";

/** Paths are appended to the base URL: credentials, a query or a fragment in it would be sent or lost. */
function plainBase(value: string): boolean {
  try {
    const url = new URL(value);
    return !url.username && !url.password && !url.search && !url.hash;
  } catch {
    return false;
  }
}

export const ScimConfigSchema = z
  .object({
    baseUrl: z
      .string()
      .url()
      // A refinement, not a pattern: apply files spell the scheme from the environment too.
      .refine((v) => /^https?:\/\//i.test(v), "must be an http:// or https:// URL")
      .refine(hasUsablePort, PORT_MESSAGE)
      .refine(plainBase, "must not carry credentials, a query or a fragment (set bearerToken or username/password)")
      .describe("Base URL of the SCIM 2.0 service, e.g. https://app.example.com/scim/v2."),
    bearerToken: z
      .string()
      .min(1)
      .optional()
      .describe("Bearer token sent as Authorization: Bearer; stored encrypted, read back as ********."),
    username: z.string().min(1).optional().describe("User name for HTTP basic authentication (instead of bearerToken)."),
    password: z
      .string()
      .min(1)
      .optional()
      .describe("Password for HTTP basic authentication; stored encrypted, read back as ********."),
    objectTypes: z
      .record(
        z.string().min(1).regex(/^[^$]/, "must not start with $"),
        z
          .string()
          .regex(/^[A-Za-z][\w.-]*$/, "must be a resource type endpoint such as Users or Groups")
          .describe("SCIM resource type endpoint, without the slash."),
      )
      .default({ person: "Users", group: "Groups" })
      .describe(
        "Object types (sync rules select them) and the SCIM resource type endpoint each maps to; imported in this order.",
      ),
    pageSize: z.number().int().min(1).max(1000).default(100).describe("Resources per list page (SCIM count)."),
    concurrency: z.number().int().min(1).max(64).default(8).describe("Requests kept in flight during export."),
    useBulk: z
      .boolean()
      .default(true)
      .describe("Send exports through /Bulk when the service advertises bulk support in /ServiceProviderConfig."),
    timeoutMs: z.number().int().min(100).max(600000).default(10000).describe("Timeout of one request, in milliseconds."),
    maxRetryAfterMs: z
      .number()
      .int()
      .min(0)
      .max(600000)
      .default(60000)
      .describe("Longest wait honoured for a 429/503 Retry-After; a longer one fails the request as transient."),
  })
  .strict()
  .refine((c) => c.bearerToken !== undefined || (c.username !== undefined && c.password !== undefined), {
    message: "set bearerToken, or username and password",
    path: ["bearerToken"],
  });

export type ScimConfig = z.infer<typeof ScimConfigSchema>;
export const scimSecretFields = ["bearerToken", "password"] as const;

/** Secrets a run needs: the token, or the password when basic authentication is configured. */
export const scimRequiredSecrets = (config: Record<string, unknown>): string[] =>
  config.bearerToken ? [] : config.username ? ["password"] : ["bearerToken"];

/** The service the token goes to: its base URL, path included. */
export const scimEndpoint = (config: Record<string, unknown>) =>
  urlEndpoint(config.baseUrl, { "http:": 80, "https:": 443 }, true);
