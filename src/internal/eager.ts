/**
 * Sequencing that stays synchronous while it can: when an effect is already complete (`Effect.succeed`,
 * `Effect.fail`, `Effect.void` and every `Exit` are), its continuation runs at once and the result is again an
 * `Exit`, so a chain of steps that never waits costs no trip through the fiber runtime (the worker pool runs such an
 * item inline, see `pool.ts`). An effect that suspends is sequenced with `Effect.flatMap` and friends as usual.
 *
 * The continuation of a complete effect runs when it is built: code that must run in a given order (emitting
 * events, counting tries) is called in that order.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/** `Effect.flatMap`, run at once on a complete effect. */
export const flatMap = <A, E, R, B, E2, R2>(
  self: Effect.Effect<A, E, R>,
  f: (a: A) => Effect.Effect<B, E2, R2>
): Effect.Effect<B, E | E2, R | R2> =>
  isComplete(self) ? (Exit.isSuccess(self) ? f(self.value) : Exit.failCause(self.cause)) : Effect.flatMap(self, f)

/** `Effect.map`, run at once on a complete effect. */
export const map = <A, E, R, B>(self: Effect.Effect<A, E, R>, f: (a: A) => B): Effect.Effect<B, E, R> =>
  isComplete(self)
    ? (Exit.isSuccess(self) ? Exit.succeed(f(self.value)) : Exit.failCause(self.cause))
    : Effect.map(self, f)

/** `Effect.as`, run at once on a complete effect. */
export const as = <A, E, R, B>(self: Effect.Effect<A, E, R>, value: B): Effect.Effect<B, E, R> =>
  isComplete(self)
    ? (Exit.isSuccess(self) ? Exit.succeed(value) : Exit.failCause(self.cause))
    : Effect.as(self, value)

/** Whether an effect is already complete: an `Exit`. */
export const isComplete = <A, E, R>(self: Effect.Effect<A, E, R>): self is Exit.Exit<A, E> => Exit.isExit(self)

/** Whether an effect is already a success. */
export const isSuccess = <A, E, R>(self: Effect.Effect<A, E, R>): self is Exit.Success<A, E> =>
  Exit.isExit(self) && Exit.isSuccess(self)
