// The pushing side of bench/realtime.ts, in its own process as a real HR system would be: COUNT
// single-record pushes to POST /hooks/<system> at RATE a second from at most SENDERS connections
// at once (a sender's HTTP client pool; thousands of new connections at once overflow the listen
// backlog, which is the sender's problem, not the inbox's), each signed with the system's webhook
// secret. Prints one JSON line: { sent, seconds }.
// Usage: node --import tsx bench/realtime-sender.ts <hook url> <secret> <count> <rate> [senders] [id prefix]

import { createHmac } from "node:crypto";

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
  const res = await fetch(url!, {
    method: "POST",
    headers: { "content-type": "application/json", "x-metasync-signature": `t=${t},v1=${v1}` },
    body,
  });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`push ${id}: ${res.status} ${text}`);
}

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
console.log(JSON.stringify({ sent: COUNT, seconds: (performance.now() - start) / 1000 }));
