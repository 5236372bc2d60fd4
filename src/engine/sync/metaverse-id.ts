import { timeOrderedId } from "../time-ordered-id.ts";

/** Metaverse ids are chosen before insert so a batch can link objects to identities it creates. */
export const newMetaverseId = () => timeOrderedId();
