/**
 * Nodes that server tests hold open.
 */
import { Deferred, Effect, Stream } from "effect"
import * as Node from "../../src/Node.js"

/**
 * A node that emits one token, completes `started`, then waits for `release` before its output `"done"`; its name is
 * pushed to `finalized` when it ends, however it ends.
 */
export const gated = (
  name: string,
  gates: {
    readonly started: Deferred.Deferred<void>
    readonly release: Deferred.Deferred<void>
    readonly finalized: Array<string>
  }
): Node.Node<string, string> =>
  Node.make(name, (_: string, ctx) =>
    Stream.concat(
      Stream.make({ _tag: "Token", runId: ctx.runId, path: ctx.path, timestamp: 0, text: "tick" } as const),
      Stream.fromEffect(
        Effect.acquireUseRelease(
          Deferred.succeed(gates.started, undefined),
          () => Effect.as(Deferred.await(gates.release), Node.output("done")),
          () => Effect.sync(() => gates.finalized.push(name))
        )
      )
    ))
