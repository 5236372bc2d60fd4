import { describe, expect, it } from "vitest";
import { latestStream } from "../../src/jobs/latest-stream.ts";

interface Row {
  id: string;
  n: number;
  final?: boolean;
}

const make = () => {
  let ends = 0;
  const stream = latestStream<Row>(
    (row) => row.final === true,
    () => ends++,
  );
  return { stream, ends: () => ends };
};

describe("one subscriber's stream of newest rows", () => {
  it("hands a row to a waiting reader at once", async () => {
    const { stream } = make();
    const next = stream.next();
    stream.deliver({ id: "a", n: 1 });
    expect(await next).toEqual({ done: false, value: { id: "a", n: 1 } });
  });

  it("keeps only the newest row of each id while the reader is busy, in the order of their newest change", async () => {
    const { stream } = make();
    stream.deliver({ id: "a", n: 1 });
    stream.deliver({ id: "b", n: 1 });
    stream.deliver({ id: "a", n: 2 });
    stream.deliver({ id: "a", n: 3 });
    expect((await stream.next()).value).toEqual({ id: "b", n: 1 });
    expect((await stream.next()).value).toEqual({ id: "a", n: 3 });
    const pending = stream.next();
    stream.deliver({ id: "b", n: 2 });
    expect((await pending).value).toEqual({ id: "b", n: 2 });
  });

  it("ends after the row that ends it has been read, once, and ignores rows after it", async () => {
    const { stream, ends } = make();
    stream.deliver({ id: "a", n: 1 });
    stream.deliver({ id: "a", n: 2, final: true });
    stream.deliver({ id: "a", n: 3 });
    expect((await stream.next()).value).toEqual({ id: "a", n: 2, final: true });
    expect(ends()).toBe(0);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect(ends()).toBe(1);
  });

  it("answers a pending read with done when the subscriber leaves or the stream is ended", async () => {
    const left = make();
    const pending = left.stream.next();
    await left.stream.return?.();
    expect(await pending).toEqual({ done: true, value: undefined });
    left.stream.deliver({ id: "a", n: 1 });
    expect(await left.stream.next()).toEqual({ done: true, value: undefined });
    expect(left.ends()).toBe(1);

    const ended = make();
    const waiting = ended.stream.next();
    ended.stream.end();
    ended.stream.end();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(ended.ends()).toBe(1);
  });
});
