import { describe, expect, it } from "vitest";
import { decide, type PlanInput, type PlanSink } from "../../src/engine/outbound/decide.ts";
import { type DesiredState, forTarget, type Identity } from "../../src/engine/outbound/desired.ts";
import { attributeChanges } from "../../src/engine/outbound/diff.ts";
import { expressionInputs } from "../../src/engine/outbound/inputs.ts";
import type { OutboundRule } from "../../src/engine/outbound/rules.ts";
import type { TargetObject } from "../../src/engine/outbound/store.ts";
import type { OpenExport } from "../../src/engine/pending-export/planning.ts";

const rule: OutboundRule = {
  id: "rule-1",
  name: "dir-out",
  systemId: "sys-1",
  objectType: "person",
  metaverseType: "person",
  provision: true,
  deprovision: "DELETE",
  graceSeconds: 0,
  disableFlow: null,
  approveCreates: false,
  approveDeletes: false,
  inScope: () => true,
  flows: [],
  target: {
    anchor: "uid",
    multiValued: new Map([
      ["mail", false],
      ["cn", true],
    ]),
  },
  baseDn: null,
} as unknown as OutboundRule;

const identity: Identity = { id: "mvo-1", type: "person", status: "ACTIVE", attributes: { uid: "ada" }, contributions: {} };
const cso: TargetObject = {
  id: "cso-1",
  systemId: "sys-1",
  objectType: "person",
  anchor: "ada",
  dn: "uid=ada,dc=x",
  attributes: { uid: "ada", mail: "old@x" },
  status: "NORMAL",
  joinType: "PROVISIONED",
  mvoId: "mvo-1",
};
const desired = (attributes: DesiredState["attributes"], extra: Partial<DesiredState> = {}): DesiredState => ({
  dn: "uid=ada,dc=x",
  attributes,
  awaiting: {},
  unresolved: false,
  blocked: [],
  missing: [],
  tooMany: [],
  ...extra,
});

/** Ada's CREATE (uid, sn), not exported yet. */
const adaCreate = (id: string, status: string): OpenExport => ({
  id,
  csoId: "cso-1",
  changeType: "CREATE",
  status,
  attributeChanges: [
    { attribute: "uid", operation: "ADD", values: ["ada"], status: "PENDING" },
    { attribute: "sn", operation: "ADD", values: ["L"], status: "PENDING" },
  ],
});

function run(input: Partial<PlanInput>) {
  let n = 0;
  const sink: PlanSink = {
    inserts: [],
    revisions: [],
    placeholders: [],
    disconnects: [],
    dropped: [],
    failed: 0,
    changes: [],
    record(row) {
      (this as unknown as { changes: unknown[] }).changes.push(row);
    },
    newId: () => `id-${++n}`,
    now: () => 0,
  } as PlanSink & { changes: unknown[] };
  decide(sink, { identity, rule, cso, exportsOf: [], live: true, empty: false, desired: null, ...input });
  return sink as PlanSink & { changes: { changeType: string; errorCode?: string; attributeChanges?: unknown }[] };
}

describe("target multiplicity", () => {
  it("gives a single-valued attribute one value, refuses several, and leaves multi-valued ones as they are", () => {
    expect(forTarget(rule, "mail", ["a@x"])).toEqual({ value: "a@x" });
    expect(forTarget(rule, "MAIL", ["a@x", "b@x"])).toEqual({ value: ["a@x", "b@x"], tooMany: ["a@x", "b@x"] });
    expect(forTarget(rule, "cn", ["Ada"])).toEqual({ value: ["Ada"] });
    expect(forTarget(rule, "unknown", ["x"])).toEqual({ value: ["x"] });
  });

  it("a changed single value is one REPLACE, never ADD + REMOVE", () => {
    const { value } = forTarget(rule, "mail", ["new@x"]);
    expect(attributeChanges({ mail: value }, { mail: "old@x" })).toEqual([
      { attribute: "mail", operation: "REPLACE", values: ["new@x"] },
    ]);
  });
});

describe("expression inputs", () => {
  it("names the attributes and variables an expression reads, not its functions or nested fields", () => {
    expect(expressionInputs("'uid=' & $lowercase(uid) & ',ou=' & department.name & $cn")).toEqual({
      attributes: ["uid", "department"],
      variables: ["cn"],
    });
  });
});

describe("planning decisions", () => {
  it("an in-scope identity without an object gets a CREATE of ADDs and a placeholder", () => {
    const sink = run({ cso: undefined, desired: desired({ uid: "ada", mail: "a@x" }) });
    expect(sink.inserts).toMatchObject([{ id: "id-1", changeType: "CREATE", status: "PENDING", csoId: "id-1" }]);
    expect(sink.inserts[0]?.attributeChanges).toEqual([
      { attribute: "uid", operation: "ADD", values: ["ada"], status: "PENDING" },
      { attribute: "mail", operation: "ADD", values: ["a@x"], status: "PENDING" },
    ]);
    expect(sink.placeholders).toMatchObject([{ id: "id-1", anchor: "pending:id-1", attributes: { uid: "ada", mail: "a@x" } }]);
  });

  it("a joined identity gets an UPDATE of only what differs, with the values before", () => {
    const sink = run({ desired: desired({ uid: "ada", mail: "new@x" }) });
    expect(sink.inserts).toMatchObject([
      { changeType: "UPDATE", csoId: "cso-1", beforeValues: { mail: "old@x" }, attributeChanges: [{ attribute: "mail" }] },
    ]);
  });

  it("a newer plan supersedes a pending UPDATE, and one with nothing left cancels it", () => {
    const pending: OpenExport = { id: "pe-1", csoId: "cso-1", changeType: "UPDATE", status: "FAILED", attributeChanges: [] };
    const superseded = run({ exportsOf: [pending], desired: desired({ mail: "new@x" }) });
    expect(superseded.revisions).toMatchObject([{ id: "pe-1", status: "PENDING" }]);
    const cancelled = run({ exportsOf: [pending], desired: desired({ mail: "old@x" }) });
    expect(cancelled.revisions).toEqual([{ id: "pe-1", attributeChanges: [], status: "CANCELLED" }]);
  });

  it("a plan equal to an open export leaves it as it is, unless it failed", () => {
    const mail: OpenExport["attributeChanges"] = [
      { attribute: "mail", operation: "REPLACE", values: ["new@x"], status: "PENDING" },
    ];
    const update: OpenExport = {
      id: "pe-1",
      csoId: "cso-1",
      changeType: "UPDATE",
      status: "PENDING",
      attributeChanges: [...mail],
    };
    const again = run({ exportsOf: [update], desired: desired({ uid: "ada", mail: "new@x" }) });
    expect(again.revisions).toEqual([]);
    expect(again.inserts).toEqual([]);
    expect(again.changes).toEqual([]);
    const failed = run({ exportsOf: [{ ...update, status: "FAILED" }], desired: desired({ uid: "ada", mail: "new@x" }) });
    expect(failed.revisions).toEqual([{ id: "pe-1", attributeChanges: [...mail], status: "PENDING" }]);
    expect(failed.changes).toMatchObject([{ changeType: "EXPORT_SUPERSEDED", pendingExportId: "pe-1" }]);
    const create = adaCreate("pe-2", "AWAITING_APPROVAL");
    const placeholder: TargetObject = { ...cso, status: "PENDING_PROVISIONING", attributes: { uid: "ada" } };
    const createAgain = run({ cso: placeholder, exportsOf: [create], desired: desired({ uid: "ada", sn: "L" }) });
    expect(createAgain.revisions).toEqual([]);
    expect(createAgain.changes).toEqual([]);
  });

  it("a CREATE planned again before it was exported keeps its initial-only values (not recomputed once the placeholder exists)", () => {
    const initialOnly = { ...rule, flows: [{ target: "uid", initialOnly: true }, { target: "sn" }] } as unknown as OutboundRule;
    const placeholder: TargetObject = {
      ...cso,
      anchor: "pending:pe-1",
      status: "PENDING_PROVISIONING",
      attributes: { uid: "ada", sn: "L" },
    };
    const create = adaCreate("pe-1", "PENDING");
    // The manager's identity exists now: the reference joins the CREATE, and uid stays in it.
    const planned = run({
      rule: initialOnly,
      cso: placeholder,
      exportsOf: [create],
      desired: desired({ sn: "L" }, { awaiting: { manager: ["mvo-2"] } }),
    });
    expect(planned.revisions).toEqual([
      {
        id: "pe-1",
        status: "PENDING",
        attributeChanges: [
          { attribute: "uid", operation: "ADD", values: ["ada"], status: "PENDING" },
          { attribute: "sn", operation: "ADD", values: ["L"], status: "PENDING" },
          { attribute: "manager", operation: "ADD", values: ["mvo-2"], status: "AWAITING_REFERENCE" },
        ],
      },
    ]);
  });

  it("a DN flow lacking inputs leaves the object as it is and records MISSING_INPUT", () => {
    const sink = run({ desired: desired({ mail: null }, { dn: null, blocked: [{ flow: "dn", inputs: ["uid"] }] }) });
    expect(sink.inserts).toEqual([]);
    expect(sink.changes).toMatchObject([{ changeType: "RECORD_ERROR", errorCode: "MISSING_INPUT" }]);
  });

  it("an identity with no attribute left (a leaver MANUAL keeps) is never planned", () => {
    const sink = run({ empty: true, identity: { ...identity, attributes: {} }, desired: desired({ mail: null }) });
    expect(sink.inserts).toEqual([]);
    expect(sink.changes[0]).toMatchObject({ errorCode: "MISSING_INPUT" });
  });

  it("several values for a single-valued attribute fail that attribute only", () => {
    const sink = run({ desired: desired({ uid: "ada" }, { tooMany: [{ attribute: "mail", values: ["a@x", "b@x"] }] }) });
    expect(sink.failed).toBe(1);
    expect(sink.changes.map((c) => c.errorCode)).toEqual(["MULTIPLE_VALUES"]);
  });

  it("an identity that left scope is deleted from the target, or disconnected when it was joined", () => {
    expect(run({ live: false }).inserts).toMatchObject([{ changeType: "DELETE", csoId: "cso-1" }]);
    const joined = run({ live: false, cso: { ...cso, joinType: "JOINED" } });
    expect(joined.disconnects).toEqual(["cso-1"]);
    expect(joined.inserts).toEqual([]);
  });
});
