import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { ConnectorSpaceObject } from "../../src/generated/prisma/client.ts";
import { startTestApp, type TestApp } from "./app.ts";
import { type ExampleHarness, startExample } from "./examples.ts";

// The SCIM 2.0 service provider of a SCIM_INBOUND system ("idp") through HTTP on a free port, with
// a real worker draining its inbox and an outbound rule to a CSV phone book: what the
// scim-provider tests drive.
export const TOKEN = "idp-token-0123456789abcdef";
export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
export const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";
// How long a change may take to reach connector space and the phone book. What the tests check
// is that it gets there, not how fast (bench:realtime measures that): in one CI run of the whole
// suite a replace took more than 20 s to reach the phone book, which runs alone do in well under 1 s.
export const FOLLOWS_MS = 60_000;

const DOCUMENT = `
connectedSystems:
  - name: idp
    kind: SCIM_INBOUND
    description: An identity provider pushing users
    config:
      bearerToken: \${IDP_TOKEN}
  - name: phonebook
    kind: CSV
    breaker: { maxDeletes: 20 }
    config:
      path: \${EXPORT_DIR}/phonebook.csv
      anchor: userName
      objectType: entry
syncRules:
  - name: idp-in
    connectedSystem: idp
    direction: INBOUND
    objectType: person
    metaverseObjectType: person
    projectToMetaverse: true
    mvoDeletionRule: WHEN_AUTHORITATIVE_SOURCE_DISCONNECTS
    joinRules: [{ source: userName, metaverseAttribute: userName }]
    attributeFlows:
      - { target: userName, source: userName }
      - { target: givenName, source: name.givenName }
      - { target: sn, source: name.familyName }
      - { target: mail, source: 'emails[type eq "work"].value' }
  - name: phonebook-out
    connectedSystem: phonebook
    direction: OUTBOUND
    objectType: entry
    metaverseObjectType: person
    provisionToConnector: true
    deprovision: DELETE
    attributeFlows:
      - { target: userName, source: userName }
      - { target: name, expression: "givenName & ' ' & sn" }
      - { target: email, source: mail }
`;

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

export interface ScimProvider {
  h: ExampleHarness;
  app: TestApp;
  /** A request to /scim/v2/<system><route> with the idp's token unless `headers` say otherwise. */
  scim(method: string, route: string, body?: unknown, headers?: Record<string, string>, system?: string): Promise<Answer>;
  /** The phone book file's text ("" before its first export). */
  phonebook(): string;
  /** The connector-space object of a SCIM id, once the REALTIME run applied it. */
  stored(anchor: string): Promise<ConnectorSpaceObject | null>;
  stop(): Promise<void>;
}

export async function startScimProvider(): Promise<ScimProvider> {
  const h = await startExample(null);
  const app = await startTestApp(h.services);
  const file = path.join(h.files, "idp.yaml");
  writeFileSync(file, DOCUMENT);
  const env = { IDP_TOKEN: TOKEN, EXPORT_DIR: h.files };
  await h.cli(["apply", file], env);
  await h.cli(["systems", "discover", "idp", "phonebook"], env);
  return {
    h,
    app,
    async scim(method, route, body, headers = {}, system = "idp") {
      const res = await fetch(`${app.url}/scim/v2/${system}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body !== undefined ? { "content-type": "application/scim+json" } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
    },
    phonebook() {
      try {
        return readFileSync(path.join(h.files, "phonebook.csv"), "utf8");
      } catch {
        return "";
      }
    },
    async stored(anchor) {
      const idp = await h.services.db.prisma.connectedSystem.findUniqueOrThrow({ where: { name: "idp" } });
      return h.services.db.prisma.connectorSpaceObject.findFirst({
        where: { anchor, status: "NORMAL", connectedSystemId: idp.id },
      });
    },
    async stop() {
      await app.stop();
      await h.stop();
    },
  };
}

/**
 * The provider for one test file: started before its tests, stopped after them. The functions
 * returned call the provider of the moment (it exists once beforeAll has run).
 */
export function useScimProvider() {
  let p: ScimProvider | undefined;
  beforeAll(async () => {
    p = await startScimProvider();
  });
  afterAll(async () => {
    await p?.stop();
  });
  const provider = () => {
    if (!p) throw new Error("the SCIM provider is not started (use it inside a test)");
    return p;
  };
  return {
    provider,
    scim: ((...args) => provider().scim(...args)) as ScimProvider["scim"],
    phonebook: () => provider().phonebook(),
    stored: (anchor: string) => provider().stored(anchor),
  };
}
