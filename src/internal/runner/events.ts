/**
 * The events of a run: each one counted into the run's figures, given to the user's `onEvent`, and, when the run
 * is consumed as a stream, offered to the consumer through a bounded mailbox (`Runner.run` drains no per-item
 * events: it forwards only how the run ended). Also the graceful stop: set when the consumer's scope closes before
 * the run ended.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import type * as Stream from "effect/Stream"
import type * as Event from "../../Event.js"
import type { RunnerError } from "../../RunnerError.js"

export interface Events {
  /** Counts, forwards and offers an event. */
  readonly emit: (event: Event.Event) => Effect.Effect<void>
  readonly origin: (timestamp: number) => Event.Origin
  /** The consumer's stream. */
  readonly stream: Stream.Stream<Event.Event, RunnerError>
  /** Whether the run was asked to stop gracefully. */
  readonly stopping: () => boolean
  /** Asks the run to stop gracefully. */
  readonly stop: Effect.Effect<void>
  /** Completes once the run was asked to stop. */
  readonly stopped: Effect.Effect<void>
  /** Forwards `RunEnd` and ends the stream with the run's exit. */
  readonly end: (event: Event.Event, exit: Exit.Exit<void, RunnerError>) => Effect.Effect<void>
}

export const make = (options: {
  readonly runId: string
  readonly chain: string
  /** Whether the consumer reads every event (`Runner.stream`) or only the end (`Runner.run`). */
  readonly forward: boolean
  readonly record: (event: Event.Event) => void
  readonly onEvent: ((event: Event.Event) => Effect.Effect<void>) | undefined
}): Effect.Effect<Events> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Event.Event, RunnerError>(4096)
    const signal = yield* Deferred.make<void>()
    const { forward, onEvent, record } = options
    let stopping = false
    const offer = (event: Event.Event): Effect.Effect<void> =>
      mailbox.unsafeOffer(event) || stopping ? Effect.void : Effect.asVoid(mailbox.offer(event))
    const emit = (event: Event.Event): Effect.Effect<void> => {
      record(event)
      if (onEvent === undefined) return forward ? offer(event) : Effect.void
      return forward ? Effect.zipRight(onEvent(event), Effect.suspend(() => offer(event))) : onEvent(event)
    }
    const path = [options.chain]
    return {
      emit,
      origin: (timestamp) => ({ runId: options.runId, path, timestamp }),
      stream: Mailbox.toStream(mailbox),
      stopping: () => stopping,
      stop: Effect.suspend(() => {
        stopping = true
        return Deferred.succeed(signal, undefined)
      }),
      stopped: Deferred.await(signal),
      end: (event, exit) =>
        Effect.gen(function*() {
          if (onEvent !== undefined) yield* onEvent(event)
          // interrupted: the consumer may be gone, so never wait for room in the mailbox
          if (event._tag === "RunEnd" && event.status === "interrupted") mailbox.unsafeOffer(event)
          else yield* mailbox.offer(event)
          yield* mailbox.done(exit)
        })
    }
  })
