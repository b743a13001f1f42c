import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Fiber, Ref, Schedule, Stream, TestClock } from "effect"
import * as Event from "../../src/Event.js"
import * as Pipeline from "../../src/Pipeline.js"
import { isPipelineError } from "../../src/PipelineError.js"
import { collect, Fatal, Transient, unchecked, withTime } from "./helpers.js"

describe("Pipeline errors", () => {
  const failOn = (bad: ReadonlyArray<number>) => (n: number) =>
    bad.includes(n) ? Effect.fail(new Fatal({ n })) : Effect.succeed(n * 10)

  it.effect("FAIL_FAST fails the run with a PipelineError naming the step, item, input and cause", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "ff" }).map("work", failOn([3]), { concurrency: 2 })
      const error = yield* Effect.flip(p.executeToArray([1, 2, 3, 4]))
      assert.isTrue(isPipelineError(error))
      assert.strictEqual(error._tag, "PipelineError")
      assert.strictEqual(error.reason, "ItemFailed")
      assert.strictEqual(error.pipeline, "ff")
      assert.strictEqual(error.step, "work")
      assert.strictEqual(error.item, 2)
      assert.strictEqual(error.input, 3)
      assert.strictEqual(error.attempts, 1)
      assert.isFalse(error.isRetryable)
      assert.deepStrictEqual(error.cause, new Fatal({ n: 3 }))
      assert.isString(error.traceId)
      assert.isString(error.spanId)
      assert.strictEqual(error.message, "ff/work: item 2 failed after 1 attempt: Fatal")
      assert.strictEqual((yield* p.metadata).status, "failure")
    }))

  it.effect("a step function that throws or dies is an ItemDefect", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().map("parse", (n): Effect.Effect<number> => {
        if (n === 2) throw new Error("bad json")
        return Effect.succeed(n)
      })
      const error = yield* Effect.flip(p.executeToArray([1, 2]))
      assert.strictEqual(error.reason, "ItemDefect")
      assert.include(error.message, "item 1 died after 1 attempt: bad json")
      const died = yield* Effect.flip(Pipeline.start<number>().map("die", () => Effect.die("boom")).executeToArray([1]))
      assert.strictEqual(died.reason, "ItemDefect")
      assert.strictEqual(died.cause, "boom")
    }))

  it.effect("SKIP_FAILED drops failed items and counts them", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().map("work", failOn([2, 4]), { errorStrategy: "SKIP_FAILED", concurrency: 3 })
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3, 4, 5]), [10, 30, 50])
      const metadata = yield* p.metadata
      assert.strictEqual(metadata.steps[0]!.errors, 2)
      assert.deepStrictEqual(metadata.errors, [])
    }))

  it.effect("COLLECT_ERRORS keeps the errors in the metadata, up to maxCollectedErrors", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "collect", maxCollectedErrors: 2 })
        .map("work", failOn([1, 2, 3]), { errorStrategy: "COLLECT_ERRORS" })
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3, 4]), [40])
      const metadata = yield* p.metadata
      assert.deepStrictEqual(metadata.errors.map((e) => e.input), [1, 2])
      assert.strictEqual(metadata.errorCount, 3)
      assert.strictEqual(metadata.status, "success")
    }))

  it.effect("SPLIT_ERRORS sends failed items to a second stream", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>()
        .map("work", failOn([2, 3]), { errorStrategy: "SPLIT_ERRORS", concurrency: 2 })
        .map("after", (n) => Effect.succeed(n + 1))
      const [outputs, errors] = yield* Effect.scoped(Effect.gen(function*() {
        const [outputs, errors] = yield* p.executeSplit([1, 2, 3, 4])
        return yield* Effect.all([collect(outputs), collect(errors)], { concurrency: 2 })
      }))
      assert.deepStrictEqual(outputs, [11, 41])
      assert.deepStrictEqual(errors.map((e) => [e.step, e.item, e.input]), [["work", 1, 2], ["work", 2, 3]])
      const either = yield* collect(p.executeEither([2, 4]))
      assert.deepStrictEqual(either.map(Either.isLeft), [true, false])
      // without a split run, the errors are collected
      assert.deepStrictEqual(yield* p.executeToArray([1, 2]), [11])
      assert.strictEqual((yield* p.metadata).errorCount, 1)
    }))

  it.effect("flatMap applies the error strategy to each item's stream", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().flatMap(
        "expand",
        (n) =>
          n === 2 ? Stream.concat(Stream.make(20), Stream.fail(new Fatal({ n }))) : Stream.make(n * 10, n * 10 + 1),
        { errorStrategy: "COLLECT_ERRORS" }
      )
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3]), [10, 11, 20, 30, 31])
      assert.deepStrictEqual((yield* p.metadata).errors.map((e) => e.item), [1])
      const failFast = Pipeline.start<number>().flatMap("expand", (n) => Stream.fail(new Fatal({ n })))
      assert.strictEqual((yield* Effect.flip(failFast.executeToArray([1]))).reason, "ItemFailed")
    }))

  it.effect("invalid definitions fail the run with a typed InvalidDefinition error", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Pipeline.Pipeline<number, unknown, unknown>, string, string]> = [
        [Pipeline.start<number>().map("m", Effect.succeed, { concurrency: 0 }), "m", "concurrency must be"],
        [Pipeline.start<number>().filter("f", () => true, { bufferSize: -1 }), "f", "bufferSize must be"],
        [Pipeline.start<number>().batch("b", 0), "b", "batch size must be"],
        [Pipeline.start<number>().take("t", -1), "t", "take count"],
        [Pipeline.start<number>().skip("s", 1.5), "s", "skip count"],
        [Pipeline.start<number>().window("w", 2, { slide: 0 }), "w", "window slide"],
        [Pipeline.start<number>().groupBy("g", (n) => n, { size: 0 }), "g", "group size"],
        [
          Pipeline.start<number>().map("r", Effect.succeed, { retry: { maxAttempts: 0 } }),
          "r",
          "retry.maxAttempts"
        ],
        [
          Pipeline.start<number>().map("e", Effect.succeed, { errorStrategy: "IGNORE" as "SKIP_FAILED" }),
          "e",
          "unknown errorStrategy"
        ],
        [unchecked(Pipeline.start<number>().take("dup", 1)).take("dup", 2), "dup", "duplicate step id \"dup\""],
        [Pipeline.start<number>({ sampleRate: 2 }), "start", "sampleRate"]
      ]
      for (const [p, step, text] of cases) {
        const error = yield* Effect.flip(p.executeToArray([1]))
        assert.strictEqual(error.reason, "InvalidDefinition", text)
        assert.strictEqual(error.step, step)
        assert.include(error.message, text)
      }
      const batch = Pipeline.startBatch<number>().map("m", Effect.succeed, { concurrency: -2 })
      assert.strictEqual((yield* Effect.flip(batch.run([1]))).reason, "InvalidDefinition")
    }))
})

describe("Pipeline retry", () => {
  it.effect("retries with { maxAttempts, backoff } on the test clock", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const p = Pipeline.start<number>({ name: "retry" }).map("flaky", (n) =>
        Effect.flatMap(
          Ref.updateAndGet(calls, (k) => k + 1),
          (k) => k < 3 ? Effect.fail(new Transient({ n })) : Effect.succeed(n)
        ), { retry: { maxAttempts: 3, backoff: "100 millis" } })
      const fiber = yield* Effect.fork(p.executeToArray([7]))
      yield* TestClock.adjust(99)
      assert.strictEqual(yield* Ref.get(calls), 1)
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* Ref.get(calls), 2)
      yield* TestClock.adjust(200)
      assert.deepStrictEqual(yield* Fiber.join(fiber), [7])
      assert.strictEqual(yield* Ref.get(calls), 3)
      assert.strictEqual((yield* p.metadata).steps[0]!.retries, 2)
    }))

  it.effect("gives up after maxAttempts and reports the attempts", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().map("always", (n) => Effect.fail(new Transient({ n })), {
        retry: { maxAttempts: 3, backoff: "10 millis" }
      })
      const error = yield* withTime(Effect.flip(p.executeToArray([1])), 1_000)
      assert.strictEqual(error.attempts, 3)
      assert.isTrue(error.isRetryable)
    }))

  it.effect("retries only the errors listed in `retryable` (by tag), or accepted by a Schedule's default", () =>
    Effect.gen(function*() {
      let calls = 0
      const p = Pipeline.start<number>().map(
        "tags",
        (n) =>
          Effect.suspend((): Effect.Effect<never, Transient | Fatal> => {
            calls++
            return calls === 1 ? Effect.fail(new Transient({ n })) : Effect.fail(new Fatal({ n }))
          }),
        { retry: { maxAttempts: 5, backoff: "1 millis", retryable: ["Transient"] } }
      )
      const error = yield* withTime(Effect.flip(p.executeToArray([1])), 100)
      assert.strictEqual(calls, 2)
      assert.strictEqual(error.attempts, 2)
      assert.deepStrictEqual(error.cause, new Fatal({ n: 1 }))

      let scheduled = 0
      const withSchedule = Pipeline.start<number>().map("schedule", (n) =>
        Effect.suspend(() => {
          scheduled++
          return Effect.fail(new Fatal({ n }))
        }), { retry: Schedule.spaced("1 second") })
      yield* withTime(Effect.flip(withSchedule.executeToArray([1])), 10)
      assert.strictEqual(scheduled, 1)
    }))

  it.effect("a Schedule retries retryable errors and emits Retry events at [pipeline, step, item]", () =>
    Effect.gen(function*() {
      let calls = 0
      const p = Pipeline.start<number>({ name: "sched" }).map(
        "flaky",
        (n) => Effect.suspend(() => ++calls < 3 ? Effect.fail(new Transient({ n })) : Effect.succeed(n)),
        {
          retry: Schedule.exponential("50 millis").pipe(Schedule.intersect(Schedule.recurs(5)))
        }
      )
      const events = yield* withTime(collect(p.events([4], { runId: "r" })), 1_000)
      const retries = events.filter(Event.is("Retry"))
      assert.deepStrictEqual(retries.map((e) => [e.path, e.attempt, e.delayMs, e.error]), [
        [["sched", "flaky", "0"], 1, 50, "Transient"],
        [["sched", "flaky", "0"], 2, 100, "Transient"]
      ])
      const end = events.find(Event.is("StepEnd"))!
      assert.strictEqual(end.output, 4)
      assert.strictEqual(end.durationMs, 150)
    }))
})
