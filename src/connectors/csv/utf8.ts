/**
 * Where UTF-8 goes wrong, for an error that names the byte and the line. Used only once the
 * streaming decoder refused a chunk, so the file's happy path pays nothing but a newline count.
 */

/** Offset of the first byte of the first ill-formed sequence (RFC 3629), or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let follow: number;
    let low = 0x80;
    let high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) follow = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      follow = 2;
      if (c === 0xe0) low = 0xa0; // overlong
      if (c === 0xed) high = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      follow = 3;
      if (c === 0xf0) low = 0x90; // overlong
      if (c === 0xf4) high = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= follow; k++) {
      const d = bytes[i + k];
      // A sequence cut off by the end of the data counts too: the decoder refused it at the end.
      if (d === undefined || d < (k === 1 ? low : 0x80) || d > (k === 1 ? high : 0xbf)) return i;
    }
    i += follow + 1;
  }
  return -1;
}

export function countNewlines(bytes: Uint8Array, end = bytes.length): number {
  let n = 0;
  for (let at = bytes.indexOf(0x0a); at !== -1 && at < end; at = bytes.indexOf(0x0a, at + 1)) n++;
  return n;
}

/**
 * A streaming position: bytes and lines read so far, and the last bytes of the previous chunk
 * (a sequence may start there). `locate` answers the file offset and line of the bad byte in
 * the chunk the decoder refused (or at the end, for a sequence the file cut off).
 */
export function utf8Position() {
  let offset = 0;
  let lines = 0;
  let tail: Uint8Array = new Uint8Array(0);
  return {
    advance(bytes: Uint8Array) {
      offset += bytes.length;
      lines += countNewlines(bytes);
      tail = bytes.subarray(Math.max(0, bytes.length - 3));
    },
    locate(bytes: Uint8Array | undefined): { byte: number; line: number } {
      // Skip continuation bytes at the tail's start: their sequence began, whole, before it.
      let skip = 0;
      while (skip < tail.length && (tail[skip]! & 0xc0) === 0x80) skip++;
      const from = tail.subarray(skip);
      const joined = Buffer.concat([from, bytes ?? new Uint8Array(0)]);
      const at = Math.max(0, firstInvalidUtf8(joined));
      const start = offset - from.length;
      return { byte: start + at, line: lines - countNewlines(from) + countNewlines(joined, at) + 1 };
    },
  };
}
