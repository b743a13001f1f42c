/**
 * `POST /runs/<name>`: one run of a mounted runnable, its events as SSE, then a `result` or an `error` event.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as EngineError from "../../EngineError.js"
import * as Event from "../../Event.js"
import * as Node from "../../Node.js"
import type { RouteImpl } from "./route.js"
import * as Sse from "./sse.js"

/** A typed error as JSON: its tag, message and retryability, then its own JSON-safe fields. */
export const encodeError = (error: unknown): Record<string, unknown> => {
  const fields: Record<string, unknown> = {}
  if (typeof error === "object" && error !== null) {
    for (const [key, value] of Object.entries(error)) {
      if (key === "cause" || key === "stack" || typeof value === "function") continue
      fields[key] = value
    }
  }
  return JSON.parse(Sse.safeJson({
    ...fields,
    _tag: Node.errorTag(error),
    message: Node.errorMessage(error),
    retryable: EngineError.isRetryable(error)
  }))
}

export const encodeCause = (cause: Cause.Cause<unknown>): Record<string, unknown> => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return encodeError(failure.value)
  if (Cause.isInterruptedOnly(cause)) {
    return { _tag: "Interrupted", message: "the run was interrupted", retryable: true }
  }
  const defect = Cause.squash(cause)
  return { _tag: "Defect", message: Node.errorMessage(defect), retryable: false }
}

/** The `error` block of a run stopped by the server's shutdown (retryable: another server may run it). */
export const stopped = (runId: string, message: string): Uint8Array =>
  Sse.frame(Sse.safeJson({ runId, error: { _tag: "Interrupted", message, retryable: true } }), "error")

/** The SSE body of one run. The run is forked in the stream's scope: a client that goes away interrupts it. */
export const stream = <R>(route: RouteImpl<R>, input: unknown, runId: string): Stream.Stream<Uint8Array, never, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Uint8Array>(256)
    let seq = 0
    const emit = (event: Event.Event): Effect.Effect<void> =>
      Event.encodeJson(event).pipe(
        Effect.orElseSucceed(() => Sse.safeJson(event)),
        Effect.flatMap((json) => mailbox.offer(Sse.frame(json, undefined, String(++seq)))),
        Effect.asVoid
      )
    const finish = (exit: Exit.Exit<unknown, unknown>) => {
      const block = Exit.isSuccess(exit)
        ? Sse.frame(Sse.safeJson({ runId, output: exit.value ?? null }), "result", String(++seq))
        : Sse.frame(Sse.safeJson({ runId, error: encodeCause(exit.cause) }), "error", String(++seq))
      return Effect.zipRight(mailbox.offer(block), mailbox.end)
    }
    yield* route.run(input, { runId, emit }).pipe(
      Effect.exit,
      Effect.flatMap(finish),
      Effect.forkScoped
    )
    return Stream.mapChunks(Mailbox.toStream(mailbox), Sse.join)
  }))
