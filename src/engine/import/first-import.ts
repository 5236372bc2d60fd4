import { NumberSet } from "../../util/number-set.ts";
import { hash53 } from "../../util/string-hash.ts";

/**
 * A full import into a connector space that was empty when it started (a system's first
 * import): none of its objects can be stored unless an earlier page of the same run wrote it.
 * The keys of the pages prepared so far are kept as 53-bit fingerprints (8-16 bytes each, see
 * NumberSet); a page none of whose keys was met before needs no lookup of its stored rows.
 * A fingerprint hit (a key met twice, or a rare collision) sends the page to the real lookup,
 * so the answer stays exact. Only the import writes its system's connector space while it runs.
 */
export class FirstImportKeys {
  private readonly met = new NumberSet();

  /**
   * Whether none of `keys` was met by an earlier page; records them as met. Called once per page,
   * in page order (pages are prepared in order, before the previous one is written).
   */
  allNew(keys: Iterable<string>): boolean {
    let fresh = true;
    for (const key of keys) {
      const print = hash53(key);
      if (this.met.has(print)) fresh = false;
      else this.met.add(print);
    }
    return fresh;
  }
}
