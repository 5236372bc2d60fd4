import { Repeater } from "@repeaterjs/repeater";
import { GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString } from "graphql";
import { createYoga } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { sharedSubscriptionExecution } from "../../src/server/shared-subscriptions.ts";

interface Event {
  n: number;
}
type Role = "ADMIN" | "READER";

/**
 * A schema whose payload has a field only an admin sees and a field with an argument, and a
 * source that hands the same event objects to every subscriber (as the run feed does).
 */
function setup() {
  const resolved: string[] = [];
  const subscribers = new Set<(e: Event) => void>();
  const EventType = new GraphQLObjectType<Event, { role: Role }>({
    name: "Event",
    fields: {
      n: {
        type: GraphQLInt,
        resolve: (e) => {
          resolved.push(`n${e.n}`);
          return e.n;
        },
      },
      times: { type: GraphQLInt, args: { by: { type: GraphQLInt } }, resolve: (e, { by }) => e.n * by },
      secret: { type: GraphQLString, resolve: (e, _a, ctx) => (ctx.role === "ADMIN" ? `secret of ${e.n}` : null) },
      boom: {
        type: GraphQLString,
        resolve: () => {
          throw new Error("internal detail");
        },
      },
    },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: "Query", fields: { ok: { type: GraphQLInt, resolve: () => 1 } } }),
    subscription: new GraphQLObjectType({
      name: "Subscription",
      fields: {
        events: {
          type: EventType,
          subscribe: () =>
            new Repeater<Event>(async (push, stop) => {
              subscribers.add((e) => void push(e));
              await stop;
            }),
          resolve: (e: Event) => e,
        },
        broken: {
          type: EventType,
          subscribe: () => {
            throw new Error("no such feed");
          },
        },
      },
    }),
  });
  const yoga = createYoga<Record<string, never>, { role: Role }>({
    schema,
    logging: false,
    plugins: [sharedSubscriptionExecution<{ role: Role }>((ctx) => ctx.role)],
  });
  const subscribe = async (role: Role, query: string, variables?: Record<string, unknown>) => {
    const { parse, subscribe: run, schema: s } = yoga.getEnveloped({ role } as never);
    const stream = await run({ schema: s, document: parse(query), variableValues: variables, contextValue: { role } });
    if (!(Symbol.asyncIterator in stream)) throw new Error(`not a stream: ${JSON.stringify(stream)}`);
    return (stream as AsyncIterable<{ data?: { events: Record<string, unknown> } }>)[Symbol.asyncIterator]();
  };
  const publish = (e: Event) => {
    for (const s of subscribers) s(e);
  };
  return { subscribe, publish, resolved, subscribers };
}

describe("subscription events executed once per kind of subscriber", () => {
  it("shares one execution between subscribers asking the same thing with the same role, and never across a different query, variables or role", async () => {
    const { subscribe, publish, resolved, subscribers } = setup();
    const same = "subscription { events { n secret } }";
    const admins = await Promise.all([1, 2, 3].map(() => subscribe("ADMIN", same)));
    const readers = await Promise.all([1, 2].map(() => subscribe("READER", same)));
    const other = await subscribe("ADMIN", "subscription { events { n } }");
    const byTwo = await subscribe("ADMIN", "subscription ($b: Int) { events { times(by: $b) } }", { b: 2 });
    const byTen = await subscribe("ADMIN", "subscription ($b: Int) { events { times(by: $b) } }", { b: 10 });
    const all = [...admins, ...readers, other, byTwo, byTen];
    // The subscribe resolvers run when the streams are first read.
    const firsts = all.map((s) => s.next());
    await expect.poll(() => subscribers.size).toBe(all.length);

    publish({ n: 7 });
    const results = (await Promise.all(firsts)).map((r) => r.value);
    for (const r of results.slice(0, 3)) expect(r.data.events).toEqual({ n: 7, secret: "secret of 7" });
    for (const r of results.slice(3, 5)) expect(r.data.events).toEqual({ n: 7, secret: null });
    expect(results[5].data.events).toEqual({ n: 7 });
    expect(results[6].data.events).toEqual({ times: 14 });
    expect(results[7].data.events).toEqual({ times: 70 });
    // One execution per kind: the admins share one result, the readers another.
    expect(results[1]).toBe(results[0]);
    expect(results[2]).toBe(results[0]);
    expect(results[4]).toBe(results[3]);
    expect(results[3]).not.toBe(results[0]);
    expect(results[6]).not.toBe(results[7]);
    expect(resolved).toEqual(["n7", "n7", "n7"]); // admins, readers, the other query

    // A new event object is executed again, once per kind as well.
    const seconds = all.map((s) => s.next());
    publish({ n: 8 });
    const again = (await Promise.all(seconds)).map((r) => r.value);
    expect(again[0].data.events).toEqual({ n: 8, secret: "secret of 8" });
    expect(again[3].data.events).toEqual({ n: 8, secret: null });
    expect(again[7].data.events).toEqual({ times: 80 });
    expect(resolved).toEqual(["n7", "n7", "n7", "n8", "n8", "n8"]);

    // Ending one subscriber ends its source, not the others'.
    await admins[0]!.return?.();
    const thirds = all.slice(1).map((s) => s.next());
    publish({ n: 9 });
    expect((await Promise.all(thirds)).map((r) => r.value.data.events.n ?? r.value.data.events.times)).toEqual([
      9, 9, 9, 9, 9, 18, 90,
    ]);
    for (const s of all.slice(1)) await s.return?.();
  });

  it("still passes every event's result through the server's error masking, for each subscriber", async () => {
    const { subscribe, publish, subscribers } = setup();
    const streams = await Promise.all([1, 2].map(() => subscribe("ADMIN", "subscription { events { n boom } }")));
    const firsts = streams.map((s) => s.next());
    await expect.poll(() => subscribers.size).toBe(2);
    publish({ n: 4 });
    for (const { value } of await Promise.all(firsts)) {
      expect(value.data.events).toEqual({ n: 4, boom: null });
      expect(value.errors.map((e: { message: string }) => e.message)).toEqual(["Unexpected error."]);
    }
    for (const s of streams) await s.return?.();
  });

  it("answers a subscribe resolver's failure with an error result, not a stream", async () => {
    const { subscribe } = setup();
    await expect(subscribe("ADMIN", "subscription { broken { n } }")).rejects.toThrow(/not a stream: \{"errors":\[/);
  });
});
