// What one sync run decides with (its scope) and what a batch decides (link changes): shared by
// the batch and the join and recompute steps it calls.
import type { PlanScope } from "../outbound/plan.ts";
import type { KeySpec } from "./keys.ts";
import type { InboundRule } from "./rules.ts";
import type { SyncObject } from "./store.ts";

export interface SyncScope {
  runId: string;
  systemId: string;
  dryRun: boolean;
  /** FULL_SYNC re-plans exports for every identity it touches, changed or not. */
  full: boolean;
  plan: PlanScope;
  rules: InboundRule[];
  /** metaverse type -> how its attributes are indexed in metaverse_key for joins and dedupe. */
  keySpecs: Map<string, KeySpec[]>;
  /** Other partitions of this run sync at the same time: claim keys and lock identities (concurrent.ts). */
  concurrent?: boolean;
}

/** A change of one object's link to the metaverse decided by a sync batch. */
export interface LinkChange {
  cso: SyncObject;
  rule: InboundRule | null;
  mvoId: string | null;
  joinType: SyncObject["joinType"];
  kind: "JOINED" | "PROJECTED" | "DISCONNECTED" | "DUPLICATE_MERGED";
  /** The metaverse object a disconnect leaves (for deletion rules). */
  previousMvoId?: string;
  reason?: string;
}
