/**
 * cyrb53 (public domain) of a string: two well-mixed 32-bit halves. Written into `into` rather
 * than returned, so hashing millions of keys allocates nothing.
 */
export function cyrb53Halves(text: string, into: { low: number; high: number }): void {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  into.low = h1 >>> 0;
  into.high = h2 >>> 0;
}

const scratch = { low: 0, high: 0 };

/** A 53-bit hash of a string (cyrb53): its low bits are well mixed, as NumberSet needs. */
export function hash53(text: string): number {
  cyrb53Halves(text, scratch);
  return 4294967296 * (2097151 & scratch.high) + scratch.low;
}
