import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "../../src/connectors/scim/client.ts";
import { httpError } from "../../src/connectors/scim/errors.ts";
import { CORE_GROUP, CORE_USER, ENTERPRISE_USER, parsePath, ScimModel } from "../../src/connectors/scim/model.ts";
import { addingMissingItems, patchOperations } from "../../src/connectors/scim/patch.ts";
import { flatten, toResource } from "../../src/connectors/scim/resources.ts";

// A service that published no /Schemas: the core schema's shapes apply.
const model = new ScimModel(
  {
    patch: true,
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: 0 },
    cursor: false,
  },
  [],
  new Map(),
);
const users = model.resourceType("Users");
const groups = model.resourceType("Groups");
const DEPT = `${ENTERPRISE_USER}:department`;

describe("SCIM attribute paths", () => {
  it("takes apart simple, sub-attribute, value-path and extension names", () => {
    expect(parsePath("userName")).toEqual({ attr: "userName" });
    expect(parsePath("name.givenName")).toMatchObject({ attr: "name", sub: "givenName" });
    expect(parsePath('emails[type eq "work"].value')).toMatchObject({ attr: "emails", type: "work", sub: "value" });
    expect(parsePath('emails[type eq "a\\"b"].value')).toMatchObject({ type: 'a"b' });
    expect(parsePath(DEPT)).toMatchObject({ urn: ENTERPRISE_USER, attr: "department" });
    expect(parsePath(`${ENTERPRISE_USER}:manager.value`)).toMatchObject({ urn: ENTERPRISE_USER, attr: "manager", sub: "value" });
    expect(parsePath('emails[value sw "x"]')).toBeNull();
  });
});

describe("PATCH operations from attribute changes", () => {
  it("replaces simple, sub-attribute and extension values; booleans from text", () => {
    const ops = patchOperations(model, users, [
      { attribute: "userName", operation: "REPLACE", values: ["ada.byron"] },
      { attribute: "name.familyName", operation: "REPLACE", values: ["Byron"] },
      { attribute: DEPT, operation: "REPLACE", values: ["Finance"] },
      { attribute: "active", operation: "REPLACE", values: ["false"] },
    ]);
    expect(ops).toEqual([
      { op: "replace", path: "userName", value: "ada.byron" },
      { op: "replace", path: "name.familyName", value: "Byron" },
      { op: "replace", path: DEPT, value: "Finance" },
      { op: "replace", path: "active", value: false },
    ]);
  });

  it("addresses typed items of multi-valued attributes by value path", () => {
    expect(
      patchOperations(model, users, [
        { attribute: 'emails[type eq "work"].value', operation: "REPLACE", values: ["ada@example.org"] },
        { attribute: 'phoneNumbers[type eq "mobile"].value', operation: "REMOVE_ALL", values: [] },
        { attribute: 'emails[type eq "home"].value', operation: "REMOVE", values: ["old@example.org"] },
        { attribute: 'emails[type eq "other"].value', operation: "ADD", values: ["x@example.org"] },
      ]),
    ).toEqual([
      { op: "replace", path: 'emails[type eq "work"].value', value: "ada@example.org" },
      { op: "remove", path: 'phoneNumbers[type eq "mobile"]' },
      { op: "remove", path: 'emails[type eq "home" and value eq "old@example.org"]' },
      { op: "add", path: "emails", value: [{ type: "other", value: "x@example.org" }] },
    ]);
  });

  it("adds and removes group members one item at a time, and replaces or clears the whole list", () => {
    expect(
      patchOperations(model, groups, [
        { attribute: "members", operation: "ADD", values: ["id-1", "id-2"] },
        { attribute: "members", operation: "REMOVE", values: ['id"3'] },
      ]),
    ).toEqual([
      { op: "add", path: "members", value: [{ value: "id-1" }, { value: "id-2" }] },
      { op: "remove", path: 'members[value eq "id\\"3"]' },
    ]);
    expect(patchOperations(model, groups, [{ attribute: "members", operation: "REPLACE", values: ["id-9"] }])).toEqual([
      { op: "replace", path: "members", value: [{ value: "id-9" }] },
    ]);
    expect(patchOperations(model, groups, [{ attribute: "members", operation: "REPLACE", values: [] }])).toEqual([
      { op: "remove", path: "members" },
    ]);
  });

  it("writes an extension's complex sub-attribute (the manager) as an add of the complex attribute", () => {
    expect(
      patchOperations(model, users, [
        { attribute: `${ENTERPRISE_USER}:manager.value`, operation: "REPLACE", values: ["u9"] },
        { attribute: `${ENTERPRISE_USER}:manager.value`, operation: "REMOVE_ALL", values: [] },
      ]),
    ).toEqual([
      { op: "add", path: `${ENTERPRISE_USER}:manager`, value: { value: "u9" } },
      { op: "remove", path: `${ENTERPRISE_USER}:manager` },
    ]);
  });

  it("never writes the id, and refuses a name that is not a SCIM path", () => {
    expect(patchOperations(model, users, [{ attribute: "id", operation: "REPLACE", values: ["x"] }])).toEqual([]);
    expect(() => patchOperations(model, users, [{ attribute: "a b", operation: "REPLACE", values: ["x"] }])).toThrow(
      /not a SCIM attribute path/,
    );
    expect(() => patchOperations(model, users, [{ attribute: "active", operation: "REPLACE", values: ["maybe"] }])).toThrow(
      /boolean/,
    );
  });

  it("turns a value-path replace into an add when the resource has no item of that type (noTarget)", () => {
    const ops = patchOperations(model, users, [
      { attribute: 'emails[type eq "work"].value', operation: "REPLACE", values: ["a@x"] },
      { attribute: 'phoneNumbers[type eq "work"].value', operation: "REPLACE", values: ["1"] },
    ]);
    expect(addingMissingItems(ops, { emails: [{ type: "work", value: "old@x" }] })).toEqual([
      { op: "replace", path: 'emails[type eq "work"].value', value: "a@x" },
      { op: "add", path: "phoneNumbers", value: [{ type: "work", value: "1" }] },
    ]);
    // A sub-attribute of a complex attribute the resource does not have yet (a first manager).
    const manager = patchOperations(model, users, [
      { attribute: `${ENTERPRISE_USER}:manager.value`, operation: "ADD", values: ["u0"] },
      { attribute: "name.givenName", operation: "REPLACE", values: ["Ada"] },
    ]);
    expect(addingMissingItems(manager, {})).toEqual([
      { op: "add", path: `${ENTERPRISE_USER}:manager`, value: { value: "u0" } },
      { op: "add", path: "name", value: { givenName: "Ada" } },
    ]);
    expect(addingMissingItems(manager, { name: { familyName: "Lovelace" } })[1]).toEqual({
      op: "replace",
      path: "name.givenName",
      value: "Ada",
    });
  });
});

describe("SCIM resources <-> flat attributes", () => {
  const resource = {
    schemas: [CORE_USER, ENTERPRISE_USER],
    id: "u1",
    externalId: "E1",
    userName: "ada",
    meta: { lastModified: "2026-01-01T00:00:00Z" },
    name: { givenName: "Ada", familyName: "Lovelace" },
    emails: [
      { type: "work", value: "ada@work" },
      { type: "home", value: "ada@home", primary: true },
    ],
    active: true,
    groups: [{ value: "g1" }],
    [ENTERPRISE_USER]: { department: "Engineering", manager: { value: "u0" } },
  };

  it("flattens to SCIM paths, skipping bookkeeping", () => {
    expect(flatten(resource)).toEqual({
      id: "u1",
      externalId: "E1",
      userName: "ada",
      "name.givenName": "Ada",
      "name.familyName": "Lovelace",
      'emails[type eq "work"].value': "ada@work",
      'emails[type eq "home"].value': "ada@home",
      'emails[type eq "home"].primary': true,
      active: true,
      [DEPT]: "Engineering",
      [`${ENTERPRISE_USER}:manager.value`]: "u0",
    });
    expect(
      flatten({ id: "g", schemas: [CORE_GROUP], displayName: "eng", members: [{ value: "a", type: "User" }, { value: "b" }] }),
    ).toEqual({
      id: "g",
      displayName: "eng",
      members: ["a", "b"],
    });
  });

  it("builds the resource back, with the extension's schema listed", () => {
    const { id: _id, ...flat } = flatten(resource);
    const { id: _i, meta: _m, groups: _g, ...expected } = resource;
    expect(toResource(model, users, flat)).toEqual(expected);
    expect(toResource(model, groups, { displayName: "eng", members: ["a", "b"] })).toEqual({
      schemas: [CORE_GROUP],
      displayName: "eng",
      members: [{ value: "a" }, { value: "b" }],
    });
  });
});

describe("SCIM answers", () => {
  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter(new Date(0).toUTCString(), 4_000)).toBe(0);
    expect(parseRetryAfter("soon")).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });

  it("maps statuses and scimTypes to typed, transient-or-not errors", () => {
    const e = (status: number, scimType?: string) => {
      const err = httpError(status, scimType ? { scimType } : null, "POST /Users");
      return [err.code, err.transient];
    };
    expect(e(401)).toEqual(["AUTH_FAILED", false]);
    expect(e(403)).toEqual(["PERMISSION_DENIED", false]);
    expect(e(409, "uniqueness")).toEqual(["ALREADY_EXISTS", false]);
    expect(e(400, "invalidValue")).toEqual(["SCHEMA_VIOLATION", false]);
    expect(e(400, "invalidSyntax")).toEqual(["INVALID_INPUT", false]);
    expect(e(429)).toEqual(["CONNECTION_FAILED", true]);
    expect(e(503)).toEqual(["CONNECTION_FAILED", true]);
    expect(e(501)).toEqual(["UNSUPPORTED", false]);
  });
});
