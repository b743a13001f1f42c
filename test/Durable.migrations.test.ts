import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Ref, TestClock } from "effect"
import * as Store from "../src/internal/durable/store.js"

class Built extends Context.Tag("test/Built")<Built, number>() {}

/** A layer whose first `failures` builds die as the cluster's migrations do when another runner won the race. */
const flaky = (attempts: Ref.Ref<number>, failures: number, defect: (n: number) => unknown) =>
  Layer.effect(
    Built,
    Effect.flatMap(Ref.updateAndGet(attempts, (n) => n + 1), (n) =>
      n <= failures ? Effect.die(defect(n)) : Effect.succeed(n))
  )

const race = (n: number) => new SqlError({ cause: new Error(`relation "cluster_migrations" already exists (${n})`) })

describe("Durable: runners started together on a fresh database", () => {
  it.effect("building the cluster again after its migrations died of an SQL error", () =>
    Effect.gen(function*() {
      const attempts = yield* Ref.make(0)
      const fiber = yield* Effect.fork(Effect.scoped(Layer.build(Store.retryMigrationRace(flaky(attempts, 2, race)))))
      yield* TestClock.adjust("1 second")
      const context = yield* fiber.await
      expect(Exit.isSuccess(context) && Context.get(context.value, Built)).toBe(3)
    }))

  it.effect("other defects, and SQL errors past the last attempt, are not retried away", () =>
    Effect.gen(function*() {
      const attempts = yield* Ref.make(0)
      const other = yield* Effect.exit(
        Effect.scoped(Layer.build(Store.retryMigrationRace(flaky(attempts, 1, () => new Error("boom")))))
      )
      expect(Exit.isFailure(other)).toBe(true)
      expect(yield* Ref.get(attempts)).toBe(1)

      const always = yield* Ref.make(0)
      const fiber = yield* Effect.fork(
        Effect.scoped(Layer.build(Store.retryMigrationRace(flaky(always, 100, race), 3)))
      )
      yield* TestClock.adjust("10 seconds")
      expect(Exit.isFailure(yield* fiber.await)).toBe(true)
      expect(yield* Ref.get(always)).toBe(4)
    }))
})
