// The pushing side of bench/realtime.ts, in its own process as a real HR system would be: COUNT
// single-record pushes to POST /hooks/<system> at RATE a second from at most SENDERS connections
// at once (a sender's HTTP client pool; thousands of new connections at once overflow the listen
// backlog, which is the sender's problem, not the inbox's), each signed with the system's webhook
// secret. Prints one JSON line: { sent, seconds, cpuSeconds } (its own CPU while sending).
// Usage: node --import tsx bench/realtime-sender.ts <hook url> <secret> <count> <rate> [senders] [id prefix]

import { createHmac } from "node:crypto";
import http from "node:http";

const [url, secret, countArg, rateArg, sendersArg = "64", prefix = "B"] = process.argv.slice(2);
if (!url || !secret || !countArg || !rateArg) {
  console.error("usage: realtime-sender.ts <hook url> <secret> <count> <rate> [senders] [id prefix]");
  process.exit(2);
}
const COUNT = Number(countArg);
const RATE = Number(rateArg);
const SENDERS = Number(sendersArg);

async function push(id: string) {
  const body = JSON.stringify({
    records: [
      {
        op: "upsert",
        objectType: "person",
        anchor: id,
        attributes: { employeeId: id, givenName: "Zoë", sn: `Þórsdóttir ${id}`, department: "Engineering" },
      },
    ],
  });
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac("sha256", secret!).update(`${t}.${body}`).digest("hex");
  const { status, text } = await post(body, `t=${t},v1=${v1}`);
  if (status !== 202) throw new Error(`push ${id}: ${status} ${text}`);
}

// node:http on kept-alive connections, not fetch: fetch cost this process 0.71 ms of CPU a push
// (undici's streams and promises per request), which on a 2-core machine is CPU the product under
// test does not get; a sender on another machine would not take it from us.
const agent = new http.Agent({ keepAlive: true, maxSockets: SENDERS });
function post(body: string, signature: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url!,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "x-metasync-signature": signature,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const cpuStart = process.cpuUsage();
const start = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: SENDERS }, async () => {
    for (let i = next++; i < COUNT; i = next++) {
      const wait = start + (i * 1000) / RATE - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      await push(`${prefix}${i}`);
    }
  }),
);
const cpu = process.cpuUsage(cpuStart);
agent.destroy();
console.log(
  JSON.stringify({ sent: COUNT, seconds: (performance.now() - start) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 }),
);
