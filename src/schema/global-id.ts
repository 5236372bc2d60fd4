import { decodeGlobalID } from "@pothos/plugin-relay";
import { badInput } from "../errors.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Accept a Relay global id of `typename` or a raw uuid; anything else is bad input. */
export function decodeId(typename: string, id: string, argument = "id"): string {
  if (UUID.test(id)) return id.toLowerCase();
  try {
    const decoded = decodeGlobalID(id);
    if (decoded.typename === typename && UUID.test(decoded.id)) return decoded.id;
  } catch {
    // fall through to the error below
  }
  throw badInput(`${argument} is not a ${typename} id: ${JSON.stringify(id).slice(0, 80)}`, argument);
}
