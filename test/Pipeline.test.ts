import { assert, describe, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Context,
  Data,
  Effect,
  Either,
  Exit,
  Fiber,
  Metric,
  MetricLabel,
  Option,
  Ref,
  Schedule,
  Stream,
  TestClock
} from "effect"
import * as Event from "../src/Event.js"
import * as Node from "../src/Node.js"
import * as Pipeline from "../src/Pipeline.js"
import { isPipelineError, PipelineError } from "../src/PipelineError.js"

class Transient extends Data.TaggedError("Transient")<{ readonly n: number }> {
  get isRetryable() {
    return true
  }
}
class Fatal extends Data.TaggedError("Fatal")<{ readonly n: number }> {
  get isRetryable() {
    return false
  }
}

/** Runs `effect` in a fiber, advances the test clock by `ms`, and joins it. */
const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, ms: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(ms)
    return yield* Fiber.join(fiber)
  })

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** Forgets the ids used so far, to test the run-time duplicate-id check. */
const unchecked = (p: Pipeline.Pipeline<number, number, never, never, string>) =>
  p as unknown as Pipeline.Pipeline<number, number>

describe("Pipeline builder", () => {
  it.effect("map, filter, take and skip compose in order", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "basic" })
        .map("double", (n) => Effect.succeed(n * 2))
        .filter("no-six", (n) => n !== 6)
        .skip("skip1", 1)
        .take("first3", 3)
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3, 4, 5, 6]), [4, 8, 10])
      assert.deepStrictEqual(p.steps.map((s) => `${s.kind}:${s.id}`), [
        "map:double",
        "filter:no-six",
        "skip:skip1",
        "take:first3"
      ])
    }))

  it.effect("runs over Streams, Iterables and AsyncIterables", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().map("inc", (n) => Effect.succeed(n + 1))
      async function* gen() {
        yield 1
        yield 2
      }
      assert.deepStrictEqual(yield* p.executeToArray(Stream.make(1, 2)), [2, 3])
      assert.deepStrictEqual(yield* p.executeToArray(new Set([5, 6])), [6, 7])
      assert.deepStrictEqual(yield* p.executeToArray(gen()), [2, 3])
    }))

  it.effect("a failing input source fails the run with InputFailed", () =>
    Effect.gen(function*() {
      async function* broken() {
        yield 1
        throw new Error("disk gone")
      }
      const error = yield* Effect.flip(Pipeline.start<number>({ name: "in" }).executeToArray(broken()))
      assert.strictEqual(error.reason, "InputFailed")
      assert.strictEqual(error.step, "input")
      assert.include(error.message, "disk gone")
      const fromStream = yield* Effect.flip(Pipeline.start<number>().executeToArray(Stream.fail("nope")))
      assert.strictEqual(fromStream.cause, "nope")
    }))

  it.effect("add runs a whole-stream step and wraps its failures with the step name", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<string>({ name: "add" })
        .add("discover", ({ input, step }) => Stream.flatMap(input, (dir) => Stream.make(`${dir}/a`, `${dir}/b`, step)))
      assert.deepStrictEqual(yield* p.executeToArray(["x"]), ["x/a", "x/b", "discover"])
      const failing = Pipeline.start<string>({ name: "add" }).add("boom", () => Stream.fail(new Fatal({ n: 1 })))
      const error = yield* Effect.flip(failing.executeToArray(["x"]))
      assert.strictEqual(error.reason, "StepFailed")
      assert.strictEqual(error.step, "boom")
      assert.deepStrictEqual(error.cause, new Fatal({ n: 1 }))
      // an upstream PipelineError passes through an add step unwrapped
      const upstream = yield* Effect.flip(
        Pipeline.start<number>()
          .map("fail", (n) => Effect.fail(new Fatal({ n })))
          .add("pass", ({ input }) => input)
          .executeToArray([1])
      )
      assert.strictEqual(upstream.step, "fail")
    }))

  it.effect("flatMap streams lazily with concurrency 1 (an endless stream works with take)", () =>
    Effect.gen(function*() {
      let pages = 0
      const p = Pipeline.start<string>()
        .flatMap("pages", (query) =>
          Stream.iterate(1, (n) => n + 1).pipe(
            Stream.tap(() => Effect.sync(() => pages++)),
            Stream.map((page) => `${query}#${page}`)
          ))
        .take("first", 3)
      assert.deepStrictEqual(yield* p.executeToArray(["q"]), ["q#1", "q#2", "q#3"])
      assert.isAtMost(pages, 3 + 4096)
      const arrays = Pipeline.start<number>().flatMap("range", (n) => Array.from({ length: n }, (_, i) => i))
      assert.deepStrictEqual(yield* arrays.executeToArray([1, 3]), [0, 0, 1, 2])
    }))

  it.effect("flatMap with concurrency collects each item's output and keeps the order", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().flatMap(
        "spread",
        (n) => Stream.fromEffect(Effect.as(Effect.sleep(50 - n * 10), [n, n])).pipe(Stream.flattenIterables),
        { concurrency: 4 }
      )
      assert.deepStrictEqual(yield* withTime(p.executeToArray([1, 2, 3]), 100), [1, 1, 2, 2, 3, 3])
    }))

  it.effect("filter takes booleans, effects of booleans and refinements", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number | string>()
        .filter("numbers", (x): x is number => typeof x === "number")
        .filter("even", (n) => Effect.succeed(n % 2 === 0), { concurrency: 2 })
        .map("half", (n) => Effect.succeed(n / 2))
      assert.deepStrictEqual(yield* p.executeToArray([1, "a", 2, 4, "b", 5]), [1, 2])
    }))

  it.effect("batch groups by size, or by size and time; unbatch flattens", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().batch("pairs", 2)
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3, 4, 5]), [[1, 2], [3, 4], [5]])
      assert.deepStrictEqual(yield* p.unbatch("flat").executeToArray([1, 2, 3]), [1, 2, 3])
      const timed = Pipeline.start<number>().batch("timed", 10, { within: "100 millis" })
      const source = Stream.make(1, 2).pipe(Stream.concat(Stream.fromEffect(Effect.as(Effect.sleep(300), 3))))
      assert.deepStrictEqual(yield* withTime(timed.executeToArray(source), 1_000), [[1, 2], [3]])
    }))

  it.effect("checkpoint materialises a snapshot that later steps read from state", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>()
        .map("square", (n) => Effect.succeed(n * n))
        .checkpoint("squares")
        .map("share", (n, { state }) => {
          const total = state.accumulated.squares.reduce((a, b) => a + b, 0)
          return Effect.succeed(`${n}/${total}`)
        })
        .add("with-stream", ({ input, state }) =>
          Stream.concat(input, Stream.map(state.stream("squares"), (n) => `again ${n}`)))
        .map("count", (s, { state }) =>
          Effect.map(state.materialize("squares"), (all) => `${s} (${all.length})`))
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3]), [
        "1/14 (3)",
        "4/14 (3)",
        "9/14 (3)",
        "again 1 (3)",
        "again 4 (3)",
        "again 9 (3)"
      ])
    }))

  it.effect("window emits sliding or tumbling windows", () =>
    Effect.gen(function*() {
      const sliding = Pipeline.start<number>().window("w", 3, { slide: 1 })
      assert.deepStrictEqual(yield* sliding.executeToArray([1, 2, 3, 4]), [[1, 2, 3], [2, 3, 4]])
      const tumbling = Pipeline.start<number>().window("w", 2)
      assert.deepStrictEqual(yield* tumbling.executeToArray([1, 2, 3, 4]), [[1, 2], [3, 4]])
    }))

  it.effect("groupBy emits full groups as they fill and the rest at the end", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<string>().groupBy("by-length", (s) => s.length, { size: 2 })
      const groups = yield* p.executeToArray(["a", "bb", "c", "dd", "e", "fff"])
      assert.deepStrictEqual(groups, [
        { key: 1, items: ["a", "c"] },
        { key: 2, items: ["bb", "dd"] },
        { key: 1, items: ["e"] },
        { key: 3, items: ["fff"] }
      ])
      const unbounded = Pipeline.start<number>().groupBy("parity", (n) => n % 2)
      assert.deepStrictEqual(yield* unbounded.executeToArray([1, 2, 3]), [{ key: 1, items: [1, 3] }, {
        key: 0,
        items: [2]
      }])
    }))

  it.effect("merge interleaves another source", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().merge("extra", ["x", "y"])
      const out = yield* p.executeToArray([1, 2])
      assert.sameMembers(out, [1, 2, "x", "y"])
      const fromContext = Pipeline.start<number>().merge("dyn", ({ step }) => Stream.make(step))
      assert.sameMembers(yield* fromContext.executeToArray([1]), [1, "dyn"])
    }))

  it.effect("join matches items with another source by key (inner and left)", () =>
    Effect.gen(function*() {
      const users = [{ id: 1, name: "ada" }, { id: 2, name: "bob" }, { id: 1, name: "ada2" }]
      const orders = [{ user: 1, total: 10 }, { user: 3, total: 5 }]
      const inner = Pipeline.start<{ user: number; total: number }>().join("users", users, {
        left: (o) => o.user,
        right: (u) => u.id
      })
      assert.deepStrictEqual(yield* inner.executeToArray(orders), [
        [{ user: 1, total: 10 }, { id: 1, name: "ada" }],
        [{ user: 1, total: 10 }, { id: 1, name: "ada2" }]
      ])
      const left = Pipeline.start<{ user: number; total: number }>().join("users", users, {
        left: (o) => o.user,
        right: (u) => u.id,
        mode: "left"
      })
      const rows = yield* left.executeToArray(orders)
      assert.deepStrictEqual(rows.map(([o, u]) => `${o.total}:${u?.name ?? "-"}`), ["10:ada", "10:ada2", "5:-"])
    }))

  it.effect("addBatch runs an array step over batches or over the whole stream", () =>
    Effect.gen(function*() {
      const sums = Pipeline.start<number>().addBatch("sums", (xs) => Effect.succeed([xs.reduce((a, b) => a + b, 0)]), {
        size: 2
      })
      assert.deepStrictEqual(yield* sums.executeToArray([1, 2, 3, 4, 5]), [3, 7, 5])
      const sorted = Pipeline.start<number>().addBatch("sort", (xs) => Effect.succeed([...xs].sort((a, b) => a - b)))
      assert.deepStrictEqual(yield* sorted.executeToArray([3, 1, 2]), [1, 2, 3])
    }))

  it.effect("executeReduce folds the outputs, also over large chunks", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>().map("inc", (n) => Effect.succeed(n + 1))
      const total = yield* p.executeReduce(Array.from({ length: 20_000 }, (_, i) => i), (a, n) => a + n, 0)
      assert.strictEqual(total, (20_000 * 20_001) / 2)
    }))

  it.effect("steps receive the context value from execute or from withContext", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<string, { readonly prefix: string }>()
        .map("tag", (s, { context, index, runId, step }) =>
          Effect.succeed(`${context.prefix}${s}${index}:${step}:${runId}`))
      assert.deepStrictEqual(yield* p.executeToArray(["a"], { context: { prefix: ">" }, runId: "r1" }), [">a0:tag:r1"])

      class Prefix extends Context.Tag("test/Prefix")<Prefix, string>() {}
      const tagged = Pipeline.start<string>().withContext(Prefix).map("tag", (s, { context }) =>
        Effect.succeed(context + s))
      const out = yield* tagged.executeToArray(["a", "b"]).pipe(Effect.provideService(Prefix, "#"))
      assert.deepStrictEqual(out, ["#a", "#b"])
    }))

  it.effect("map runs a Node and returns its output", () =>
    Effect.gen(function*() {
      const upper = Node.fromFunction("upper", (s: string) => s.toUpperCase())
      const p = Pipeline.start<string>({ name: "nodes" }).map("shout", upper, { concurrency: 2 })
      assert.deepStrictEqual(yield* p.executeToArray(["a", "b"]), ["A", "B"])
      const events = yield* collect(p.events(["a"], { runId: "r" }))
      const paths = events.map((e) => `${e._tag}:${e.path.join("/")}`)
      assert.deepStrictEqual(paths, [
        "RunStart:nodes",
        "StepStart:nodes/shout",
        "StepStart:nodes/shout/0/upper",
        "StepEnd:nodes/shout/0/upper",
        "StepEnd:nodes/shout",
        "RunEnd:nodes"
      ])
    }))
})

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

describe("Pipeline concurrency", () => {
  it.effect("ordered keeps input order, unordered emits in completion order", () =>
    Effect.gen(function*() {
      const latency = (n: number) => Effect.as(Effect.sleep(100 - n * 10), n)
      const ordered = Pipeline.start<number>().map("slow", latency, { concurrency: 5 })
      const unordered = Pipeline.start<number>().map("slow", latency, { concurrency: 5, ordered: false })
      assert.deepStrictEqual(yield* withTime(ordered.executeToArray([1, 2, 3, 4, 5]), 100), [1, 2, 3, 4, 5])
      assert.deepStrictEqual(yield* withTime(unordered.executeToArray([1, 2, 3, 4, 5]), 100), [5, 4, 3, 2, 1])
    }))

  it.effect("take stops upstream: at most n + concurrency + bufferSize items are started", () =>
    Effect.gen(function*() {
      let pulled = 0
      let started = 0
      const source = Stream.iterate(0, (n) => n + 1).pipe(
        Stream.rechunk(1),
        Stream.tap(() => Effect.sync(() => pulled++))
      )
      const p = Pipeline.start<number>()
        .map("work", (n) =>
          Effect.suspend(() => {
            started++
            return Effect.as(Effect.sleep(10 + (n % 4)), n)
          }), { concurrency: 4, bufferSize: 4 })
        .take("first", 5)
      assert.deepStrictEqual(yield* withTime(p.executeToArray(source), 1_000), [0, 1, 2, 3, 4])
      assert.isAtMost(started, 5 + 4 + 4)
      assert.isAtMost(pulled, 5 + 4 + 4 + 1)
      const metadata = yield* p.metadata
      assert.strictEqual(metadata.steps[1]!.outputs, 5)
    }))

  it.effect("a slow consumer bounds the items in flight", () =>
    Effect.gen(function*() {
      let started = 0
      let consumed = 0
      let worst = 0
      const p = Pipeline.start<number>().map("fast", (n) =>
        Effect.sync(() => {
          started++
          worst = Math.max(worst, started - consumed)
          return n
        }), { concurrency: 3, bufferSize: 2 })
      const run = p.execute(Array.from({ length: 50 }, (_, i) => i)).pipe(
        Stream.rechunk(1),
        Stream.mapEffect((n) => Effect.as(Effect.sleep(5), n)),
        Stream.tap(() => Effect.sync(() => consumed++)),
        Stream.runCount
      )
      assert.strictEqual(yield* withTime(run, 300), 50)
      assert.isAtMost(worst, 2 * (3 + 2))
    }))

  it.effect("interrupting the run interrupts every item in flight and runs its finalizers", () =>
    Effect.gen(function*() {
      const started = yield* Ref.make(0)
      const released = yield* Ref.make(0)
      const p = Pipeline.start<number>({ name: "int" }).map("hang", (n) =>
        Effect.acquireUseRelease(
          Ref.update(started, (k) => k + 1),
          () => Effect.as(Effect.never, n),
          () => Ref.update(released, (k) => k + 1)
        ), { concurrency: 5 })
      const fiber = yield* Effect.fork(p.executeToArray(Array.from({ length: 20 }, (_, i) => i)))
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* Ref.get(started), 5)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* Ref.get(released), 5)
      assert.strictEqual((yield* p.metadata).status, "interrupted")
    }))
})

describe("Pipeline metadata and events", () => {
  it.effect("reports counts and p50/p95/p99 of known latencies", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "latency-meta" })
        .map("sleep", (ms) => Effect.as(Effect.sleep(ms), ms))
        .filter("even", (n) => n % 2 === 0)
      const inputs = Array.from({ length: 100 }, (_, i) => i + 1)
      const out = yield* withTime(p.executeToArray(inputs), 6_000)
      assert.strictEqual(out.length, 50)
      const metadata = yield* p.metadata
      assert.strictEqual(metadata.status, "success")
      assert.strictEqual(metadata.durationMs, 5050)
      const [sleep, even] = metadata.steps
      assert.deepStrictEqual(
        [sleep!.items, sleep!.outputs, sleep!.p50, sleep!.p95, sleep!.p99, sleep!.samples],
        [100, 100, 50, 95, 99, 100]
      )
      assert.strictEqual(sleep!.durationMs, 5050)
      assert.closeTo(sleep!.throughput, 100 / 5.05, 0.01)
      assert.deepStrictEqual([even!.items, even!.outputs, even!.errors, even!.retries], [100, 50, 0, 0])
      // the same durations feed the Effect Metric summary
      const labels = [MetricLabel.make("pipeline", "latency-meta"), MetricLabel.make("step", "sleep")]
      const summary = yield* Metric.value(Metric.taggedWithLabels(Pipeline.metrics.duration, labels))
      assert.strictEqual(summary.count, 100)
      assert.strictEqual(summary.sum, 5050)
      assert.deepStrictEqual(summary.quantiles.map(([q, v]) => [q, Option.getOrUndefined(v)]), [[0.5, 50], [0.95, 95], [
        0.99,
        99
      ]])
    }))

  it.effect("samples a share of the items and keeps a bounded reservoir", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "sampled", sampleRate: 0.1, reservoirSize: 5 })
        .map("sleep", (ms) => Effect.as(Effect.sleep(ms), ms))
      yield* withTime(p.executeToArray(Array.from({ length: 100 }, (_, i) => i + 1)), 6_000)
      const [step] = (yield* p.metadata).steps
      assert.strictEqual(step!.samples, 10)
      assert.isDefined(step!.p50)
    }))

  it.effect("exposes the counts as Effect Metrics labelled by pipeline and step", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "metrics-test" })
        .map("work", (n) => n === 3 ? Effect.fail(new Fatal({ n })) : Effect.succeed(n), {
          errorStrategy: "SKIP_FAILED"
        })
      yield* p.executeToArray([1, 2, 3, 4])
      const labels = [MetricLabel.make("pipeline", "metrics-test"), MetricLabel.make("step", "work")]
      const items = yield* Metric.value(Metric.taggedWithLabels(Pipeline.metrics.items, labels))
      const outputs = yield* Metric.value(Metric.taggedWithLabels(Pipeline.metrics.outputs, labels))
      const errors = yield* Metric.value(Metric.taggedWithLabels(Pipeline.metrics.errors, labels))
      assert.deepStrictEqual([items.count, outputs.count, errors.count], [4, 3, 1])
    }))

  it.effect("metadata is idle before the first run", () =>
    Effect.gen(function*() {
      const metadata = yield* Pipeline.start<number>({ name: "idle" }).metadata
      assert.strictEqual(metadata.status, "idle")
      assert.deepStrictEqual(metadata.steps, [])
    }))

  it.effect("events streams RunStart, per-item StepStart/StepEnd/StepError and RunEnd", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "ev" })
        .map("double", (n) => Effect.succeed(n * 2))
        .map("check", (n) => n === 4 ? Effect.fail(new Fatal({ n })) : Effect.succeed(n), {
          errorStrategy: "SKIP_FAILED"
        })
        .batch("pairs", 2)
      const events = yield* collect(p.events([1, 2, 3], { runId: "run-1" }))
      const shown = events.map((e) =>
        `${e._tag}:${e.path.join("/")}${"item" in e && e.item !== undefined ? `#${e.item}` : ""}`
      )
      assert.deepStrictEqual(shown.filter((s) => s.includes("double")), [
        "StepStart:ev/double#0",
        "StepEnd:ev/double#0",
        "StepStart:ev/double#1",
        "StepEnd:ev/double#1",
        "StepStart:ev/double#2",
        "StepEnd:ev/double#2"
      ])
      assert.deepStrictEqual(shown.filter((s) => s.includes("check")), [
        "StepStart:ev/check#0",
        "StepEnd:ev/check#0",
        "StepStart:ev/check#1",
        "StepError:ev/check#1",
        "StepStart:ev/check#2",
        "StepEnd:ev/check#2"
      ])
      assert.strictEqual(shown[0], "RunStart:ev")
      assert.strictEqual(shown[shown.length - 1], "RunEnd:ev")
      assert.isTrue(events.every((e) => e.runId === "run-1"))
      const error = events.find(Event.is("StepError"))!
      assert.deepStrictEqual([error.error, error.retryable, error.item], ["Fatal", false, 1])
      const end = events.find((e): e is Event.Of<"StepEnd"> => e._tag === "StepEnd" && e.path[1] === "double")!
      assert.strictEqual(end.output, 2)
      // every event survives a JSON round trip
      for (const event of events) assert.deepStrictEqual(yield* Event.decodeJson(yield* Event.encodeJson(event)), event)
    }))

  it.effect("events ends with RunEnd(failure) and then fails with the run's error", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "evf" }).map("boom", (n) => Effect.fail(new Fatal({ n })))
      const seen: Array<Event.Event> = []
      const exit = yield* Stream.runForEach(p.events([1]), (e) => Effect.sync(() => seen.push(e))).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        assert.isTrue(Option.isSome(failure) && failure.value instanceof PipelineError)
      }
      const last = seen[seen.length - 1]!
      assert.strictEqual(last._tag, "RunEnd")
      assert.strictEqual(last._tag === "RunEnd" && last.status, "failure")
      assert.isTrue(seen.some((e) => e._tag === "StepError" && e.item === 0))
    }))

  it.effect("whole-stream steps emit StepStart and StepEnd without an item", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "whole" }).add("double-all", ({ input }) =>
        Stream.map(input, (n) => n * 2))
      const events = yield* collect(p.events([1, 2]))
      assert.deepStrictEqual(
        events.map((e) =>
          `${e._tag}:${e.path.join("/")}`
        ),
        [
          "RunStart:whole",
          "StepStart:whole/double-all",
          "StepEnd:whole/double-all",
          "RunEnd:whole"
        ]
      )
    }))
})

describe("Pipeline batch mode", () => {
  it.effect("runs steps over whole arrays, with map, filter and stream steps", () =>
    Effect.gen(function*() {
      const p = Pipeline.startBatch<number>({ name: "b" })
        .step("dedupe", (xs) => Effect.succeed([...new Set(xs)]))
        .map("square", (n, { index }) => Effect.succeed(n * n + index), { concurrency: 3 })
        .filter("small", (n) => n < 15)
        .stream("reverse", (s) => Stream.map(s, (n) => -n))
      assert.deepStrictEqual(yield* p.run([1, 2, 2, 3, 4]), [-1, -5, -11])
      assert.deepStrictEqual(p.steps.map((s) => s.id), ["dedupe", "square", "small", "reverse"])
    }))

  it.effect("wraps step failures in a PipelineError naming the step", () =>
    Effect.gen(function*() {
      const p = Pipeline.startBatch<number>({ name: "b" }).step("boom", () => Effect.fail(new Fatal({ n: 0 })))
      const error = yield* Effect.flip(p.run([1]))
      assert.deepStrictEqual([error.pipeline, error.step, error.reason], ["b", "boom", "StepFailed"])
    }))

  it.effect("adapts both ways: toStreaming and toBatch", () =>
    Effect.gen(function*() {
      const sort = Pipeline.startBatch<number>({ name: "sorter" }).step("sort", (xs) =>
        Effect.succeed([...xs].sort((a, b) => a - b)))
      const streaming = Pipeline.toStreaming(sort).take("lowest", 2)
      assert.deepStrictEqual(yield* streaming.executeToArray([5, 1, 4, 2]), [1, 2])

      const doubling = Pipeline.start<number>({ name: "doubler" }).map("double", (n) =>
        Effect.succeed(n * 2))
      const batch = Pipeline.toBatch(doubling).step("sum", (xs) => Effect.succeed([xs.reduce((a, b) => a + b, 0)]))
      assert.deepStrictEqual(yield* batch.run([1, 2, 3]), [12])
    }))
})
