import net from "node:net";

/**
 * A TCP proxy in front of a real server that can lose one reply: armed with `loseReplyTo`, it
 * forwards the next request whose first bytes match, lets the server apply it, then drops the
 * client connection instead of relaying the server's answer. That is the "applied, but the
 * reply never came back" failure an idempotent export must survive.
 */
export interface LossyProxy {
  port: number;
  /** Arms the proxy for the next request matching `match` (called on each chunk from the client). */
  loseReplyTo(match: (chunk: Buffer) => boolean): void;
  /** Resolves once an armed loss happened. */
  lost(): Promise<void>;
  close(): Promise<void>;
}

export async function startLossyProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<LossyProxy> {
  let armed: ((chunk: Buffer) => boolean) | undefined;
  let onLost: () => void = () => {};
  let lostOnce = new Promise<void>((resolve) => {
    onLost = resolve;
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    let dropOnReply = false;
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk) => {
      if (armed?.(chunk)) {
        armed = undefined;
        dropOnReply = true;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (dropOnReply) {
        drop();
        onLost();
        return;
      }
      client.write(chunk);
    });
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    loseReplyTo(match) {
      armed = match;
      lostOnce = new Promise<void>((resolve) => {
        onLost = resolve;
      });
    },
    lost: () => lostOnce,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Whether a chunk holds an LDAP request with this protocolOp tag (RFC 4511: LDAPMessage is
 * SEQUENCE { messageID INTEGER, protocolOp [APPLICATION n] ... }); AddRequest is 0x68,
 * DelRequest 0x4a, ModifyRequest 0x66.
 */
export function ldapRequestIs(tag: number): (chunk: Buffer) => boolean {
  return (chunk) => {
    let at = 0;
    const length = (): number => {
      const first = chunk[at++]!;
      if (first < 0x80) return first;
      let n = 0;
      for (let k = 0; k < (first & 0x7f); k++) n = n * 256 + chunk[at++]!;
      return n;
    };
    while (at < chunk.length && chunk[at] === 0x30) {
      at++;
      const messageLength = length();
      const end = at + messageLength;
      if (chunk[at] !== 0x02) return false;
      at++;
      const idLength = length(); // (not `at += length()`: that adds to the old offset)
      at += idLength;
      if (chunk[at] === tag) return true;
      at = end;
    }
    return false;
  };
}
