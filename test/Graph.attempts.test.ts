import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule, Stream, TestClock } from "effect"
import * as Graph from "../src/Graph.js"
import * as Node from "../src/Node.js"
import { NodeError } from "../src/NodeError.js"
import { Audit, collect, Fatal, g, initial, mark, show, type State, Transient } from "./Graph.fixtures.js"

describe("Graph", () => {
  describe("retry and timeout", () => {
    it.effect("retries a step on TestClock and emits a Retry event before every new attempt", () =>
      Effect.gen(function*() {
        let calls = 0
        const flaky = Effect.suspend(() => ++calls < 3 ? Effect.fail(new Transient({ attempt: calls })) : mark("ok"))
        const graph = g.step("flaky", { retry: Schedule.spaced("1 second") }, flaky)
        const fiber = yield* Effect.fork(collect(Graph.stream(graph, initial)))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(calls, 2)
        yield* TestClock.adjust("1 second")
        const events = yield* Fiber.join(fiber)
        assert.strictEqual(calls, 3)
        const retries = events.filter((e) => e._tag === "Retry")
        assert.deepStrictEqual(retries.map((e) => [e.attempt, e.delayMs, e.error, e.path.join("/")]), [
          [1, 1000, "Transient", "g/flaky"],
          [2, 1000, "Transient", "g/flaky"]
        ])
        assert.deepStrictEqual(show(events).filter((s) => s.endsWith("g/flaky")), [
          "StepStart:g/flaky",
          "Retry:g/flaky",
          "Retry:g/flaky",
          "StepEnd:g/flaky"
        ])
      }))

    it.effect("does not retry errors that are not retryable, and stops when the schedule is done", () =>
      Effect.gen(function*() {
        let calls = 0
        const fatal = g.step(
          "s",
          { retry: Schedule.recurs(5) },
          Effect.suspend(() => (calls++, Effect.fail(new Fatal())))
        )
        assert.instanceOf(yield* Effect.flip(Graph.run(fatal, initial)), Fatal)
        assert.strictEqual(calls, 1)
        calls = 0
        const exhausted = g.step(
          "s",
          { retry: { schedule: Schedule.recurs(2), while: (e) => e.attempt < 10 } },
          Effect.suspend(() => Effect.fail(new Transient({ attempt: ++calls })))
        )
        const error = yield* Effect.flip(Graph.run(exhausted, initial))
        assert.instanceOf(error, Transient)
        assert.strictEqual(error.attempt, 3)
      }))

    it.effect("a retried token step's discarded attempt is dropped by Node.collectText", () =>
      Effect.gen(function*() {
        let calls = 0
        const tokens = Stream.suspend(() =>
          ++calls === 1
            ? Stream.concat(Stream.make("bro", "ken"), Stream.fail(new Transient({ attempt: 1 })))
            : Stream.make("Hello", " world")
        )
        const graph = g.step("say", { retry: Schedule.recurs(1) }, tokens)
        const text = yield* Node.collectText(Graph.stream(graph, initial))
        assert.strictEqual(text, "Hello world")
      }))

    it.effect("a step that takes too long fails with a Timeout NodeError; with retry each attempt is limited", () =>
      Effect.gen(function*() {
        const slow = g.step("slow", { timeout: "1 second" }, Effect.sleep("5 seconds"))
        const fiber = yield* Effect.fork(Effect.flip(Graph.run(slow, initial)))
        yield* TestClock.adjust("1 second")
        const error = yield* Fiber.join(fiber)
        assert.instanceOf(error, NodeError)
        if (error instanceof NodeError) assert.deepStrictEqual([error.node, error.reason], ["slow", "Timeout"])

        let calls = 0
        const eventual = g.step(
          "eventual",
          { timeout: "1 second", retry: Schedule.recurs(2) },
          Effect.suspend(() => ++calls < 3 ? Effect.sleep("5 seconds") : mark("done"))
        )
        const fiber2 = yield* Effect.fork(Graph.run(eventual, initial))
        yield* TestClock.adjust("1 second")
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual((yield* Fiber.join(fiber2)).trail, ["done"])
        assert.strictEqual(calls, 3)
      }))
  })

  describe("middleware", () => {
    it.effect("wraps every attempt; the first registered is the outermost", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const record = (name: string) =>
          Graph.middleware((step, info) =>
            Effect.sync(() => log.push(`${name}>${info.step}#${info.attempt}`)).pipe(
              Effect.zipRight(step),
              Effect.tapErrorCause(() => Effect.sync(() => log.push(`${name}!${info.step}`))),
              Effect.tap(() => Effect.sync(() => log.push(`${name}<${info.step}`)))
            )
          )
        let calls = 0
        const graph = g
          .step("a", { to: "b" }, Effect.sync(() => void log.push("body a")))
          .step(
            "b",
            { retry: Schedule.recurs(1) },
            Effect.suspend(() => {
              log.push("body b")
              return ++calls === 1 ? Effect.fail(new Transient({ attempt: 1 })) : Effect.void
            })
          )
          .use(record("outer"))
          .use(record("inner"))
        yield* Graph.run(graph, initial)
        assert.deepStrictEqual(log, [
          "outer>a#1",
          "inner>a#1",
          "body a",
          "inner<a",
          "outer<a",
          "outer>b#1",
          "inner>b#1",
          "body b",
          "inner!b",
          "outer!b",
          "outer>b#2",
          "inner>b#2",
          "body b",
          "inner<b",
          "outer<b"
        ])
      }))

    it.effect("may use services (provided by Layers) and add errors, which the graph's types record", () =>
      Effect.gen(function*() {
        const seen: Array<string> = []
        const graph = g
          .step("a", { to: "b" }, Effect.void)
          .step("b", Effect.void)
          .use((step, info) => Effect.zipRight(Effect.flatMap(Audit, (audit) => audit.record(info.step)), step))
          .use((step, info) => info.step === "b" ? Effect.fail(new Fatal()) : step)
        const checked: Graph.Graph<State, void, "a" | "b", "b", Fatal, Audit> = graph
        const error = yield* Graph.run(checked, initial).pipe(
          Effect.provideService(Audit, { record: (step) => Effect.sync(() => void seen.push(step)) }),
          Effect.flip
        )
        assert.instanceOf(error, Fatal)
        assert.deepStrictEqual(seen, ["a", "b"])
      }))

    it.effect("sees timeouts as errors of the attempt", () =>
      Effect.gen(function*() {
        const seen: Array<string> = []
        const graph = g
          .step("slow", { timeout: "10 millis" }, Effect.never)
          .use((step) => Effect.tapError(step, (e) => Effect.sync(() => seen.push(Node.errorTag(e)))))
        const fiber = yield* Effect.fork(Effect.flip(Graph.run(graph, initial)))
        yield* TestClock.adjust("10 millis")
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(seen, ["NodeError"])
      }))
  })
})
