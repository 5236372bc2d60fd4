import { parseArgs } from "node:util";
import { AppError } from "../errors.ts";
import type { Services } from "../services.ts";
import { parseRole } from "../systems/api-keys.ts";

export const APIKEY_USAGE = `usage: metasync apikey create --role <reader|operator|admin> [--name <name>]
       metasync apikey list
       metasync apikey revoke <id>`;

/** `metasync apikey ...`: the key is printed once, alone on stdout, so scripts can capture it. */
export async function apikeyCommand(services: Services, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case "create": {
        const { values } = parseArgs({ args: rest, options: { role: { type: "string" }, name: { type: "string" } } });
        const { key, apiKey } = await services.apiKeys.create({ role: parseRole(values.role), name: values.name });
        console.log(key);
        console.error(
          `created ${apiKey.role.toLowerCase()} key "${apiKey.name}" (id ${apiKey.id}); store it now, it is not shown again`,
        );
        return 0;
      }
      case "list": {
        for (const k of await services.apiKeys.list()) {
          const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : "active";
          console.log([k.id, k.role.toLowerCase(), k.prefix, state, k.name].join("\t"));
        }
        return 0;
      }
      case "revoke": {
        const id = rest[0];
        if (!id || !/^[0-9a-f-]{36}$/i.test(id))
          throw new AppError("BAD_USER_INPUT", "apikey revoke needs the key's id (see apikey list)");
        const k = await services.apiKeys.revoke(id);
        console.log(`revoked ${k.id} (${k.name})`);
        return 0;
      }
      default:
        console.error(APIKEY_USAGE);
        return 2;
    }
  } catch (e) {
    if (e instanceof AppError) {
      console.error(`metasync apikey: ${e.message}`);
      return e.code === "NOT_FOUND" ? 3 : 2;
    }
    throw e;
  }
}
