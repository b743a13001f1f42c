import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream, TestClock } from "effect"
import * as Event from "../src/Event.js"
import * as Node from "../src/Node.js"
import * as Pipeline from "../src/Pipeline.js"

/** Fails with "hang" when `effect` has not completed after `ms` real milliseconds, without waiting for it to stop. */
const within = (ms: number) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.disconnect, Effect.timeoutFail({ duration: ms, onTimeout: () => "hang" as const }))

const withTime = <A, E, R>(effect: Effect.Effect<A, E, R>, ms: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    // in small steps, so that sleeps started late (under load) are still woken
    for (let i = 0; i < 50; i++) {
      yield* Effect.yieldNow()
      yield* TestClock.adjust(ms / 50)
    }
    return yield* Fiber.join(fiber)
  })

describe("Pipeline fidelity: laziness and early stop", () => {
  it.live("stopping events() early over an endless source ends the run (no hang)", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "endless" }).map("id", (n) => Effect.succeed(n))
      const events = yield* p.events(Stream.iterate(0, (n) => n + 1), { bufferSize: 2 }).pipe(
        Stream.take(3),
        Stream.runCollect,
        within(5_000)
      )
      assert.strictEqual(Chunk.size(events), 3)
      assert.strictEqual(Chunk.unsafeGet(events, 0)._tag, "RunStart")
    }))

  it.live("stopping events() early over a slow async source ends the run (no hang)", () =>
    Effect.gen(function*() {
      async function* slow() {
        for (let i = 0;; i++) {
          await new Promise((resolve) => setTimeout(resolve, 1))
          yield i
        }
      }
      const p = Pipeline.start<number>().map("id", (n) => Effect.succeed(n))
      const count = yield* p.events(slow(), { bufferSize: 1 }).pipe(
        Stream.mapEffect((event) => Effect.as(Effect.sleep(2), event)),
        Stream.take(5),
        Stream.runCount,
        within(5_000)
      )
      assert.strictEqual(count, 5)
    }))

  it.effect("a synchronous generator is read lazily and closed when the run stops", () =>
    Effect.gen(function*() {
      let pulled = 0
      let closed = false
      function* numbers() {
        try {
          for (let i = 0;; i++) {
            pulled++
            yield i
          }
        } finally {
          closed = true
        }
      }
      const p = Pipeline.start<number>().map("id", (n) => Effect.succeed(n)).take("first", 2)
      assert.deepStrictEqual(yield* p.executeToArray(numbers()), [0, 1])
      assert.isAtMost(pulled, 3)
      assert.isTrue(closed)
    }))

  it.effect("take(3) over a generator with concurrency pulls at most take + concurrency + bufferSize", () =>
    Effect.gen(function*() {
      let pulled = 0
      function* numbers() {
        for (let i = 0; i < 100_000; i++) {
          pulled++
          yield i
        }
      }
      const p = Pipeline.start<number>()
        .map("slow", (n) => Effect.as(Effect.sleep(10), n), { concurrency: 4 })
        .take("first", 3)
      assert.deepStrictEqual(yield* withTime(p.executeToArray(numbers()), 1_000), [0, 1, 2])
      assert.isAtMost(pulled, 3 + 4 + 1)
    }))

  it.effect("a throwing generator fails the run with InputFailed", () =>
    Effect.gen(function*() {
      function* broken() {
        yield 1
        throw new Error("disk gone")
      }
      const error = yield* Effect.flip(Pipeline.start<number>().executeToArray(broken()))
      assert.strictEqual(error.reason, "InputFailed")
    }))
})

describe("Pipeline fidelity: add", () => {
  it.effect("add may return a generator, read lazily (the design's 'discover' step) and closed on take", () =>
    Effect.gen(function*() {
      let searched = 0
      let closed = false
      const p = Pipeline.start<string>()
        .add("search", function*({ input: _ }) {
          try {
            for (let i = 0; i < 1_000; i++) {
              searched++
              yield `result ${i}`
            }
          } finally {
            closed = true
          }
        })
        .take("top", 10)
        .map("rerank", (s) => Effect.succeed(s.toUpperCase()))
        .take("best", 3)
      assert.deepStrictEqual(yield* p.executeToArray(["query"]), ["RESULT 0", "RESULT 1", "RESULT 2"])
      assert.isAtMost(searched, 11)
      assert.isTrue(closed)
    }))
})

describe("Pipeline fidelity: state", () => {
  it.live("a whole-stream step may materialize a checkpoint before reading its input (no deadlock)", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>()
        .map("double", (n) => Effect.succeed(n * 2))
        .checkpoint("doubled")
        .add("annotate", ({ input, state }) =>
          Stream.unwrap(Effect.map(state.materialize("doubled"), (all) => {
            const total = all.reduce((a, b) => a + b, 0)
            return Stream.map(input, (n) => `${n}/${total}`)
          })))
      assert.deepStrictEqual(yield* within(5_000)(p.executeToArray([1, 2, 3])), ["2/12", "4/12", "6/12"])
    }))

  it.live("an add step's outputs are a snapshot: materialize runs it ahead, the items still flow on", () =>
    Effect.gen(function*() {
      let produced = 0
      const p = Pipeline.start<number>()
        .add("step1", ({ input }) => Stream.tap(input, () => Effect.sync(() => produced++)))
        .map("step2", (n) => Effect.succeed(n + 1))
        .add("step3", ({ input, state }) =>
          Stream.unwrap(Effect.gen(function*() {
            assert.isFalse(state.hasSnapshot("step1"))
            const step1 = yield* state.materialize("step1")
            assert.isTrue(state.hasSnapshot("step1"))
            assert.deepStrictEqual(state.accumulated.step1, [1, 2, 3])
            return Stream.map(input, (n) => `${n} of ${step1.length}`)
          })))
      assert.deepStrictEqual(yield* within(5_000)(p.executeToArray([1, 2, 3])), ["2 of 3", "3 of 3", "4 of 3"])
      assert.strictEqual(produced, 3)
    }))

  it.effect("add outputs land in state.accumulated once the step is done, typed as possibly undefined", () =>
    Effect.gen(function*() {
      const seen: Array<ReadonlyArray<string> | undefined> = []
      const p = Pipeline.start<number>()
        .add("names", ({ input }) => Stream.map(input, (n) => `n${n}`))
        .addBatch("all", (items, { state }) => {
          seen.push(state.accumulated.names)
          return Effect.succeed(items)
        })
      assert.deepStrictEqual(yield* p.executeToArray([1, 2]), ["n1", "n2"])
      assert.deepStrictEqual(seen, [["n1", "n2"]])
    }))

  it.effect("checkpoints: never keeps no add snapshot; add's checkpoint option opts in per step", () =>
    Effect.gen(function*() {
      const never = Pipeline.start<number>({ checkpoints: "never" })
        .add("a", ({ input }) => input)
        .add("b", ({ input }) => input, { checkpoint: true })
        .addBatch(
          "check",
          (items, { state }) =>
            Effect.map(state.materialize("b"), (b) => [state.hasSnapshot("a"), b.length, items.length])
        )
      assert.deepStrictEqual(yield* never.executeToArray([1, 2]), [false, 2, 2])
      const missing = Pipeline.start<number>({ checkpoints: "never" })
        .add("a", ({ input }) => input)
        .addBatch("check", (_items, { state }) => state.materialize("a"))
      const error = yield* Effect.flip(missing.executeToArray([1]))
      assert.strictEqual(error.reason, "InvalidDefinition")
      assert.strictEqual(error.step, "a")
    }))

  it.live("an earlier step's failure fails materialize and the run with that step's error", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>()
        .map("boom", (n) => n === 2 ? Effect.fail("no two" as const) : Effect.succeed(n))
        .checkpoint("all")
        .add("use", ({ input, state }) => Stream.unwrap(Effect.as(state.materialize("all"), input)))
      const error = yield* within(5_000)(Effect.flip(p.executeToArray([1, 2, 3])))
      assert.strictEqual(error.step, "boom")
    }))
})

class Timeout extends Error {
  readonly code = "ETIMEDOUT"
}

describe("Pipeline fidelity: retry", () => {
  it.effect("retryable lists match an error's code as well as its tag or name", () =>
    Effect.gen(function*() {
      let calls = 0
      const p = Pipeline.start<number>().map(
        "fetch",
        (n) => Effect.suspend(() => ++calls < 3 ? Effect.fail(new Timeout("slow")) : Effect.succeed(n)),
        { retry: { maxAttempts: 3, backoff: "10 millis", retryable: ["ETIMEDOUT"] } }
      )
      assert.deepStrictEqual(yield* withTime(p.executeToArray([7]), 1_000), [7])
      assert.strictEqual(calls, 3)
    }))

  it.effect("add takes a retry policy: the step's output is run again, skipping what was passed on", () =>
    Effect.gen(function*() {
      let runs = 0
      const p = Pipeline.start<number>().add(
        "pages",
        () =>
          Stream.suspend(() => {
            runs++
            return Stream.concat(
              Stream.make(1, 2),
              runs < 2 ? Stream.fail(new Timeout("slow")) : Stream.make(3)
            )
          }),
        { retry: { maxAttempts: 2, backoff: "10 millis", retryable: ["ETIMEDOUT"] } }
      )
      assert.deepStrictEqual(yield* withTime(p.executeToArray([0]), 1_000), [1, 2, 3])
      assert.strictEqual(runs, 2)
      const metadata = yield* p.metadata
      assert.strictEqual(metadata.steps[0]!.retries, 1)
    }))
})

describe("Pipeline fidelity: flatMap and join stream", () => {
  it.effect("flatMap with concurrency streams each item's elements (an endless expansion works with take)", () =>
    Effect.gen(function*() {
      let produced = 0
      const p = Pipeline.start<number>()
        .flatMap("expand", (n) =>
          Stream.iterate(0, (i) => i + 1).pipe(
            Stream.map((i) => n * 1_000 + i),
            Stream.tap(() => Effect.sync(() => produced++))
          ), { concurrency: 4 })
        .take("first", 5)
      assert.deepStrictEqual(yield* p.executeToArray([1, 2, 3, 4, 5, 6]), [1000, 1001, 1002, 1003, 1004])
      assert.isBelow(produced, 200)
    }))

  it.effect("flatMap with concurrency keeps the input order, or interleaves when unordered", () =>
    Effect.gen(function*() {
      const expand = (n: number) => Stream.make(n, n).pipe(Stream.tap(() => Effect.sleep(10 * (4 - n))))
      const ordered = Pipeline.start<number>().flatMap("x", expand, { concurrency: 3 })
      assert.deepStrictEqual(yield* withTime(ordered.executeToArray([1, 2, 3]), 1_000), [1, 1, 2, 2, 3, 3])
      const unordered = Pipeline.start<number>().flatMap("x", expand, { concurrency: 3, ordered: false })
      const out = yield* withTime(unordered.executeToArray([1, 2, 3]), 1_000)
      assert.deepStrictEqual([...out].sort(), [1, 1, 2, 2, 3, 3])
      assert.strictEqual(out[0], 3)
    }))

  it.live("join does not wait for the other side to end: an endless right side still emits", () =>
    Effect.gen(function*() {
      const right = Stream.iterate(0, (n) => n + 1).pipe(
        Stream.tap(() => Effect.sleep(1)),
        Stream.map((n) => ({ id: n % 3, label: `r${n}` }))
      )
      const p = Pipeline.start<{ readonly id: number }>()
        .join("labels", right, { left: (l) => l.id, right: (r) => r.id })
        .take("first", 4)
      const out = yield* within(5_000)(p.executeToArray([{ id: 0 }, { id: 1 }]))
      assert.strictEqual(out.length, 4)
      for (const [l, r] of out) assert.strictEqual(l.id, r.id)
    }))
})

describe("Pipeline fidelity: metadata per run", () => {
  it.effect("two overlapping runs keep their own metadata, by run id", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<number>({ name: "shared" }).map("work", (n) => Effect.as(Effect.sleep(10), n))
      const a = yield* Effect.fork(p.executeToArray([1, 2, 3], { runId: "a" }))
      const b = yield* Effect.fork(p.executeToArray([1], { runId: "b" }))
      yield* TestClock.adjust(100)
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      const ma = yield* p.metadataOf("a")
      const mb = yield* p.metadataOf("b")
      assert.strictEqual(ma._tag === "Some" && ma.value.steps[0]!.items, 3)
      assert.strictEqual(mb._tag === "Some" && mb.value.steps[0]!.items, 1)
      assert.strictEqual((yield* p.metadataOf("c"))._tag, "None")
    }))
})

describe("Pipeline fidelity: batch mode", () => {
  it.effect("keeps every step's output in accumulated state, with error strategies, retry and metadata", () =>
    Effect.gen(function*() {
      let calls = 0
      const p = Pipeline.startBatch<number>({ name: "batch" })
        .step("unique", (xs) => Effect.succeed([...new Set(xs)]))
        .map("checked", (n) => n === 3 ? Effect.fail(new Timeout("bad")) : Effect.succeed(n * 10), {
          errorStrategy: "COLLECT_ERRORS",
          concurrency: 2
        })
        .step("flaky", (xs, { state }) =>
          Effect.suspend(() =>
            ++calls < 2
              ? Effect.fail(new Timeout("slow"))
              : Effect.succeed(xs.map((x) => `${x}/${state.accumulated.unique.length}`))
          ), { retry: { maxAttempts: 2, backoff: "10 millis", retryable: ["ETIMEDOUT"] } })
      const out = yield* withTime(p.run([1, 2, 2, 3], { runId: "r1" }), 1_000)
      assert.deepStrictEqual(out, ["10/3", "20/3"])
      const metadata = yield* p.metadata
      assert.strictEqual(metadata.runId, "r1")
      assert.strictEqual(metadata.status, "success")
      assert.deepStrictEqual(metadata.steps.map((s) => [s.step, s.items, s.outputs, s.errors, s.retries]), [
        ["unique", 4, 3, 0, 0],
        ["checked", 3, 2, 1, 0],
        ["flaky", 2, 2, 0, 1]
      ])
      assert.strictEqual(metadata.errorCount, 1)
      assert.strictEqual((yield* p.metadataOf("r1"))._tag, "Some")
    }))

  it.effect("FAIL_FAST (the default) fails the batch run with the item's error", () =>
    Effect.gen(function*() {
      const p = Pipeline.startBatch<number>().map("boom", (n) => n > 1 ? Effect.fail("no" as const) : Effect.succeed(n))
      const error = yield* Effect.flip(p.run([1, 2]))
      assert.deepStrictEqual([error.step, error.reason, error.item], ["boom", "ItemFailed", 1])
    }))
})

describe("Event vocabulary details (pydantic-flow)", () => {
  it.effect("StepStart carries an input preview; Heartbeat a message; NonFatalError a recoverable flag", () =>
    Effect.gen(function*() {
      const p = Pipeline.start<{ readonly text: string }>({ name: "p" }).map(
        "len",
        (x) => Effect.succeed(x.text.length)
      )
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(p.events([{ text: "hello" }])))
      const start = events.find((e) => e._tag === "StepStart")
      assert.strictEqual(start?._tag === "StepStart" && start.input, "{\"text\":\"hello\"}")
      assert.strictEqual(Event.preview("a".repeat(300), 10), "aaaaaaaaa…")

      const slow = Node.make<number, number>(
        "slow",
        (n) => Stream.fromEffect(Effect.as(Effect.sleep(250), Node.output(n)))
      ).pipe(Node.heartbeat("100 millis"))
      const fiber = yield* Effect.fork(Stream.runCollect(Node.stream(slow, 1)))
      for (let i = 0; i < 10; i++) yield* TestClock.adjust(30)
      const beats = Chunk.toReadonlyArray(yield* Fiber.join(fiber)).filter((e) => e._tag === "Heartbeat")
      assert.isAbove(beats.length, 0)
      assert.include(beats[0]!._tag === "Heartbeat" ? beats[0]!.message : "", "no output for")

      const nonFatal = Event.make("NonFatalError", { runId: "r", path: [], timestamp: 0 }, {
        error: "ModelError",
        message: "x",
        recoverable: true
      })
      assert.isTrue(nonFatal.recoverable)
    }))
})
