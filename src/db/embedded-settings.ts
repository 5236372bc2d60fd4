import os from "node:os";

const MB = 2 ** 20;

/**
 * PostgreSQL's own cache for the embedded cluster: a quarter of the machine's memory, at least
 * 128 MB and at most 2 GB. At 100,000 identities the rows a delta cycle touches (connector
 * space, pending exports, metaverse, keys) take about 460 MB; with the former fixed 256 MB every
 * read of a delta sync evicted dirty pages first (EXPLAIN BUFFERS: as many blocks written as
 * read). Memory is only used as pages are touched, so a small install pays nothing for the cap.
 */
export function sharedBuffersMb(totalMemoryBytes = os.totalmem()): number {
  return Math.min(2048, Math.max(128, Math.floor(totalMemoryBytes / 4 / MB)));
}

/** Server settings (`-c name=value` pairs) the embedded cluster starts with; see the comments. */
export function embeddedServerFlags(totalMemoryBytes?: number): string[] {
  const settings = [
    // No unix socket: the data dir path may exceed the socket path limit.
    "listen_addresses=127.0.0.1",
    "unix_socket_directories=",
    `shared_buffers=${sharedBuffersMb(totalMemoryBytes)}MB`,
    // Bulk runs write a few hundred MB of WAL per 100,000 objects: a larger WAL budget keeps
    // them from forcing checkpoints mid-run (measured: 1 checkpoint and 5-17k full-page images
    // per benchmark with the defaults, none with these).
    "max_wal_size=4GB",
    "checkpoint_timeout=15min",
  ];
  return settings.flatMap((s) => ["-c", s]);
}
