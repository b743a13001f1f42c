import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Option, Schedule, Stream, TestClock } from "effect"
import * as Event from "../src/Event.js"
import * as Graph from "../src/Graph.js"
import * as Node from "../src/Node.js"
import { collect, g, initial, mark, type State } from "./Graph.fixtures.js"

describe("Graph", () => {
  describe("events", () => {
    it.effect("stream and run agree; every event serialises; the graph's StepEnd holds the final state", () =>
      Effect.gen(function*() {
        const graph = g
          .step("start", { to: ["a", "b"] }, mark("start"))
          .step("a", { to: "say" }, mark("a"))
          .step("b", { to: "say" }, mark("b"))
          .step("say", Stream.make("one ", "two"))
        const events = yield* collect(Graph.stream(graph, initial, { runId: "run-7", parent: ["app"] }))
        const final = yield* Graph.run(graph, initial)
        const graphEnd = [...events].reverse().find((e) => e._tag === "StepEnd")
        assert.deepStrictEqual(graphEnd?.path, ["app", "g"])
        assert.deepStrictEqual(graphEnd?._tag === "StepEnd" ? graphEnd.output : undefined, final)
        assert.deepStrictEqual(events[0], {
          _tag: "RunStart",
          runId: "run-7",
          path: ["app", "g"],
          timestamp: 0,
          name: "g"
        })
        const last = events.at(-1)
        assert.deepStrictEqual(last?._tag === "RunEnd" ? [last.status, last.path] : [], ["success", ["app", "g"]])
        assert.strictEqual(yield* Node.collectText(Graph.stream(graph, initial)), "one two")
        for (const event of events) {
          assert.deepStrictEqual(yield* Event.decodeJson(yield* Event.encodeJson(event)), event)
        }
      }))

    it.scoped("a slow consumer slows the steps down (bounded buffer)", () =>
      Effect.gen(function*() {
        let ran = 0
        const small = Graph.make<State>({ name: "g", bufferSize: 4 })
        const names = Array.from({ length: 50 }, (_, i) => `s${i}`)
        let graph: Graph.Graph<State, void, string, string> = small
        names.forEach((name, i) => {
          const body = Effect.sync(() => void ran++)
          graph = i < names.length - 1 ? graph.step(name, { to: names[i + 1]! }, body) : graph.step(name, body)
        })
        const pull = yield* Stream.toPull(Graph.stream(graph, initial))
        let seen: ReadonlyArray<Event.Event> = []
        while (!seen.some((e) => e._tag === "StepStart" && e.path.length === 2)) {
          seen = Chunk.toReadonlyArray(yield* pull)
        }
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        assert.isAtMost(ran, 8)
        let events = 0
        while (events >= 0) {
          const chunk = yield* Effect.option(pull)
          if (Option.isNone(chunk)) break
          events += Chunk.size(chunk.value)
        }
        assert.strictEqual(ran, 50)
      }))

    it.effect("a defect in a step is reported as a StepError and fails the run", () =>
      Effect.gen(function*() {
        const graph = g.step("a", { to: "b" }, Effect.void).step("b", Effect.dieMessage("bug in b"))
        const events: Array<Event.Event> = []
        const exit = yield* Graph.stream(graph, initial).pipe(
          Stream.runForEach((e) => Effect.sync(() => events.push(e))),
          Effect.exit
        )
        assert.isTrue(Exit.isFailure(exit))
        const errors = events.filter((e) => e._tag === "StepError")
        assert.deepStrictEqual(errors.map((e) => [e.path.join("/"), e.error, e.retryable]), [
          ["g/b", "Defect", false],
          ["g", "Defect", false]
        ])
        assert.include(errors[0]?._tag === "StepError" ? errors[0].message : "", "bug in b")
      }))

    it.effect("StepEnd carries the duration read from the clock", () =>
      Effect.gen(function*() {
        const graph = g.step("wait", Effect.sleep("250 millis"))
        const fiber = yield* Effect.fork(collect(Graph.stream(graph, initial)))
        yield* TestClock.adjust("250 millis")
        const events = yield* Fiber.join(fiber)
        const end = events.find((e) => e._tag === "StepEnd" && e.path.join("/") === "g/wait")
        assert.strictEqual(end?._tag === "StepEnd" ? end.durationMs : -1, 250)
      }))

    it("Graph.steps describes the declared steps", () => {
      const graph = g
        .step("a", { to: ["b"], routes: ["c"], retry: Schedule.recurs(1), timeout: "1 second" }, Effect.void)
        .step("b", Stream.make("x"))
        .step("c", Effect.void)
      const described = Graph.steps(graph).map((s) => [s.id, s.kind, s.to, s.routes, s.retry])
      assert.deepStrictEqual(described, [
        ["a", "effect", ["b"], ["c"], true],
        ["b", "stream", [], [], false],
        ["c", "effect", [], [], false]
      ])
    })
  })
})
