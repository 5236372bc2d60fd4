// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are apply documents, ${NAME} in them is the point
import { describe, expect, it } from "vitest";
import { parseApplyDocument } from "../../src/cli/apply-document.ts";

const doc = (url: string) => `connectedSystems:\n  - { name: d, kind: LDAP, config: { url: "${url}" } }\n`;
const urlOf = (text: string, env: NodeJS.ProcessEnv) => parseApplyDocument(text, env).connectedSystems[0]?.config.url;

describe("apply: environment substitution", () => {
  it("replaces ${NAME} and ${NAME:-default}; the default applies when NAME is unset or empty", () => {
    expect(urlOf(doc("ldap://${HOST}:${PORT}"), { HOST: "dir", PORT: "1389" })).toBe("ldap://dir:1389");
    const withDefault = doc("${LDAP_URL:-ldap://127.0.0.1:389}");
    expect(urlOf(withDefault, {})).toBe("ldap://127.0.0.1:389");
    expect(urlOf(withDefault, { LDAP_URL: "" })).toBe("ldap://127.0.0.1:389");
    expect(urlOf(withDefault, { LDAP_URL: "ldaps://corp:636" })).toBe("ldaps://corp:636");
    // A default may hold commas and equals signs (a DN), and an empty default is allowed.
    expect(urlOf(doc("${BASE:-dc=example,dc=org}|${EMPTY:-}"), {})).toBe("dc=example,dc=org|");
  });

  it("refuses a ${NAME} without default that is unset, naming where it is used", () => {
    expect(() => parseApplyDocument(doc("${MISSING_URL}"), {})).toThrow(
      "connectedSystems[0].config.url: environment variable MISSING_URL is not set",
    );
  });
});
