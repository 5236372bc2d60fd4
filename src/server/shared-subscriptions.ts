import { createSourceEventStream, type DocumentNode, type ExecutionArgs, type ExecutionResult, execute } from "graphql";
import type { Plugin } from "graphql-yoga";

/**
 * Subscription events executed once for every subscriber that asked the same thing. An event
 * source such as the run feed hands the SAME row object to all its subscribers; a thousand
 * dashboards following one run used to execute the same selection on that row a thousand
 * times per message. Here the execution of an event is shared by subscribers whose
 * (document, operation name, variables, audience) are equal, so a subscriber with another
 * query, other variables or another role never gets someone else's result.
 *
 * `audience` names what in a subscriber's context may change a result: the role, since
 * auth scopes are the only thing resolvers of subscription payloads read from the context.
 *
 * Per event this does what graphql-js's own subscribe does (execute with the event as the
 * root value), without the per-subscriber promise layers of the engine's mapping.
 */
export function sharedSubscriptionExecution<C>(audience: (context: C) => string): Plugin {
  // Per event object: its execution per subscription kind. Weak: gone with the event.
  const executions = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();
  // Documents by identity (the server's parse cache gives one object per query text).
  const documents = new WeakMap<DocumentNode, number>();
  let nextDocument = 0;

  const kindOf = (args: ExecutionArgs) => {
    let doc = documents.get(args.document);
    if (doc === undefined) documents.set(args.document, (doc = nextDocument++));
    return JSON.stringify([doc, args.operationName ?? null, args.variableValues ?? null, audience(args.contextValue as C)]);
  };

  const subscribe = async (args: ExecutionArgs) => {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source; // the subscribe resolver's errors
    const events = source[Symbol.asyncIterator]();
    const kind = kindOf(args);
    const resultOf = (event: unknown): Promise<ExecutionResult> => {
      const run = async () => execute({ ...args, rootValue: event });
      if (typeof event !== "object" || event === null) return run();
      let byKind = executions.get(event);
      if (!byKind) executions.set(event, (byKind = new Map()));
      let result = byKind.get(kind);
      if (!result) byKind.set(kind, (result = run()));
      return result;
    };
    const results: AsyncIterableIterator<ExecutionResult> = {
      [Symbol.asyncIterator]: () => results,
      // Promise chains, not async functions: this runs once per subscriber per message.
      next: () =>
        events
          .next()
          .then((next) => (next.done ? next : resultOf(next.value).then((value) => ({ done: false as const, value })))),
      async return() {
        await events.return?.();
        return { done: true, value: undefined };
      },
      async throw(error?: unknown) {
        await events.return?.();
        throw error;
      },
    };
    return results;
  };

  return { onSubscribe: ({ setSubscribeFn }) => setSubscribeFn(subscribe as never) };
}
