/**
 * The one retry mechanism of sluice: every step that retries (Node, Graph, Pipeline, Chain, Agent, Llm) goes through
 * {@link effect} or {@link stream}.
 *
 * - What is worth retrying is decided by one rule, {@link isRetryable} (`EngineError.isRetryable`): an engine error
 *   (or an `AiError` carrying one) by its reason (429, 5xx, transport and timeouts retry; 400, 401, 403, 404 do not);
 *   any other value by its own `isRetryable` flag, else not. A policy's `while` replaces the rule.
 * - The delay before the next attempt is the schedule's, but never shorter than the server's retry-after.
 * - Before each new attempt the caller is told (`onRetry`) the attempt that failed, its error and the delay, to
 *   emit its `Retry` event.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import * as Stream from "effect/Stream"
import * as EngineError from "../EngineError.js"

/** The one rule: see the module documentation. */
export const isRetryable: (error: unknown) => boolean = EngineError.isRetryable

/** A retry policy: a `Schedule` fed with the errors, and which errors are worth retrying. */
export interface Policy<in E = unknown, out R = never> {
  readonly schedule: Schedule.Schedule<unknown, E, R>
  readonly while?: ((error: E) => boolean) | undefined
}

/** A failed attempt about to be retried: its number (from 1), its error and the delay before the next one. */
export interface Attempt {
  readonly attempt: number
  readonly error: unknown
  readonly delayMs: number
}

/**
 * The default policy of an LLM call: transient failures (429, 5xx, transport, timeouts) retried `times` times
 * (default 2) with jittered exponential backoff from `base` (default 500 ms) and the server's retry-after.
 */
export const transient = (options?: EngineError.RetryOptions | undefined): Policy => ({
  schedule: EngineError.retrySchedule(options)
})

/** The default number of retries of an LLM call (as the official SDKs do). */
export const defaultTimes = 2

const schedules = new WeakMap<Policy<any, any>, Schedule.Schedule<any, any, any>>()

/**
 * The policy's schedule, stopping on what is not worth retrying and waiting at least the server's retry-after (built
 * once per policy).
 */
const schedule = <E, R>(policy: Policy<E, R>): Schedule.Schedule<E, E, R> => {
  let built = schedules.get(policy)
  if (built === undefined) {
    built = make(policy)
    schedules.set(policy, built)
  }
  return built
}

const make = <E, R>(policy: Policy<E, R>): Schedule.Schedule<E, E, R> =>
  Schedule.passthrough(policy.schedule).pipe(
    Schedule.whileInput(policy.while ?? isRetryable),
    Schedule.modifyDelay((error, delay) =>
      Option.match(EngineError.retryAfter(error), {
        onNone: () => delay,
        onSome: (server) => Duration.max(delay, server)
      })
    )
  )

const delayOf = (decision: ScheduleDecision.ScheduleDecision, now: number): number =>
  ScheduleDecision.isDone(decision) ? 0 : Math.max(0, Intervals.start(decision.intervals) - now)

/**
 * Retries an effect as `Effect.retry` would with the policy's schedule, calling `onRetry` before each new attempt
 * (after the decision, before the delay). The schedule is stepped only after a failure, so an attempt that succeeds
 * costs one failure handler, not a schedule driver.
 */
export const effect = <A, E, R, R2, R3>(
  self: Effect.Effect<A, E, R>,
  policy: Policy<E, R2>,
  onRetry: (attempt: Attempt) => Effect.Effect<void, never, R3>
): Effect.Effect<A, E, R | R2 | R3> => {
  const decide = schedule(policy)
  const loop = (state: unknown, attempt: number): Effect.Effect<A, E, R | R2 | R3> =>
    Effect.catchAll(
      self,
      (error) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.flatMap(decide.step(now, error, state), ([next, _, decision]) => {
            if (ScheduleDecision.isDone(decision)) {
              return Effect.fail(error)
            }
            const delayMs = delayOf(decision, now)
            return onRetry({ attempt, error, delayMs }).pipe(
              Effect.zipRight(Effect.sleep(delayMs)),
              Effect.zipRight(loop(next, attempt + 1))
            )
          }))
    )
  return loop(decide.initial, 1)
}

/**
 * Retries a stream: on failure the stream `make(n)` of the next attempt `n` follows the elements `onRetry` emits
 * and the delay. What the failed attempt streamed stays streamed (consumers drop it on the `Retry` event).
 */
export const stream = <A, E, R, R2, B, R3>(
  make: (attempt: number) => Stream.Stream<A, E, R>,
  policy: Policy<E, R2>,
  onRetry: (attempt: Attempt) => Stream.Stream<B, never, R3>
): Stream.Stream<A | B, E, R | R2 | R3> => {
  const decide = schedule(policy)
  return Stream.suspend(() => {
    let state = decide.initial
    const attempt = (n: number): Stream.Stream<A | B, E, R | R2 | R3> =>
      Stream.catchAll(make(n), (error) =>
        Stream.unwrap(Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const [next, _, decision] = yield* decide.step(now, error, state)
          if (ScheduleDecision.isDone(decision)) return Stream.fail(error)
          state = next
          const delayMs = delayOf(decision, now)
          return onRetry({ attempt: n, error, delayMs }).pipe(
            Stream.concat(Stream.drain(Stream.fromEffect(Effect.sleep(delayMs)))),
            Stream.concat(attempt(n + 1))
          )
        })))
    return attempt(1)
  })
}
