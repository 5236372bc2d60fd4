import type { Services } from "../services.ts";
export async function applyCommand(_services: Services, _args: string[]): Promise<number> {
  return 2;
}
