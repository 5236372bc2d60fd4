import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request an alert endpoint received. */
export interface ReceivedAlert {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/**
 * A real HTTP receiver for alert webhooks on a free port. Each path answers by its behaviour:
 * `ok` 200, `down` 500 always, `flaky` 500 on its first request then 200, `hang` never answers
 * (until stop()).
 */
export async function startAlertReceiver() {
  const received: ReceivedAlert[] = [];
  const hanging = new Set<ServerResponse>();
  const seen = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const n = (seen.get(path) ?? 0) + 1;
      seen.set(path, n);
      if (path.startsWith("/hang")) {
        hanging.add(res);
        return;
      }
      const fail = path.startsWith("/down") || (path.startsWith("/flaky") && n === 1);
      res.writeHead(fail ? 500 : 200, { "content-type": "text/plain" }).end(fail ? "broken" : "thanks");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received,
    /** Requests held open by `hang` paths right now. */
    hangingCount: () => [...hanging].filter((r) => !r.writableEnded && !r.destroyed).length,
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
