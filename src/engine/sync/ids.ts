import { randomUUID } from "node:crypto";

/** Metaverse ids are chosen before insert so a batch can link objects to identities it creates. */
export const newMetaverseId = () => randomUUID();
