import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream, TestClock } from "effect"
import type * as Event from "../src/Event.js"
import * as Graph from "../src/Graph.js"
import { GraphError } from "../src/GraphError.js"
import {
  collect,
  g,
  increment,
  initial,
  mark,
  reasonOf,
  show,
  sleepMark,
  started,
  type State,
  unchecked
} from "./Graph.fixtures.js"

describe("Graph", () => {
  describe("routing", () => {
    it.effect("follows static `to` edges and streams each step's events at its path", () =>
      Effect.gen(function*() {
        const graph = g
          .step("greet", { to: "respond" }, mark("greet"))
          .step("respond", { to: "bye" }, mark("respond"))
          .step("bye", mark("bye"))
        const events = yield* collect(Graph.stream(graph, initial, { runId: "r1" }))
        assert.deepStrictEqual(show(events), [
          "RunStart:g",
          "StepStart:g",
          "StepStart:g/greet",
          "StepEnd:g/greet",
          "StepStart:g/respond",
          "StepEnd:g/respond",
          "StepStart:g/bye",
          "StepEnd:g/bye",
          "StepEnd:g",
          "RunEnd:g"
        ])
        for (const event of events) assert.strictEqual(event.runId, "r1")
        const final = yield* Graph.run(graph, initial)
        assert.deepStrictEqual(final.trail, ["greet", "respond", "bye"])
      }))

    it.effect("Graph.next overrides `to`, a list fans out, Graph.end stops the branch", () =>
      Effect.gen(function*() {
        const graph = g
          .step("start", { to: "skipped", routes: ["a", "b"] }, Effect.as(mark("start"), Graph.next(["a", "b"])))
          .step("skipped", mark("skipped"))
          .step("a", { to: "after_a" }, Effect.as(mark("a"), Graph.end))
          .step("after_a", mark("after_a"))
          .step("b", mark("b"))
          .entry("start")
        const events = yield* collect(Graph.stream(graph, initial))
        const final = yield* Graph.run(graph, initial)
        assert.deepStrictEqual([...final.trail].sort(), ["a", "b", "start"])
        assert.deepStrictEqual([...started(events)].sort(), ["a", "b", "start"])
      }))

    it.effect("a switch step routes on the state", () =>
      Effect.gen(function*() {
        const decide = Effect.map(
          g.state,
          (state) => state.unsafeGet().count > 0 ? Graph.next("pos") : Graph.next("neg")
        )
        const graph = g
          .step("decide", { routes: ["pos", "neg"] }, decide)
          .step("pos", mark("pos"))
          .step("neg", mark("neg"))
        assert.deepStrictEqual((yield* Graph.run(graph, { trail: [], count: 1 })).trail, ["pos"])
        assert.deepStrictEqual((yield* Graph.run(graph, { trail: [], count: 0 })).trail, ["neg"])
      }))

    it.effect("routing to an unknown step at run time fails with UnknownTarget naming both steps", () =>
      Effect.gen(function*() {
        const target: string = "nowhere"
        const graph = g.step("decide", { routes: ["ok"] }, Effect.succeed(Graph.next(target))).step("ok", Effect.void)
        const events: Array<Event.Event> = []
        const error = yield* Graph.stream(graph, initial).pipe(
          Stream.runForEach((e) => Effect.sync(() => events.push(e))),
          Effect.flip
        )
        assert.instanceOf(error, GraphError)
        assert.strictEqual(error.reason, "UnknownTarget")
        assert.deepStrictEqual(error.steps, ["decide", "nowhere"])
        const stepError = events.find((e) => e._tag === "StepError" && e.path.join("/") === "g/decide")
        assert.isDefined(stepError)
        const last = events.at(-1)
        assert.strictEqual(last?._tag === "RunEnd" ? last.status : undefined, "failure")
      }))
  })

  describe("Graph.next without `routes`", () => {
    it.effect("the tinypipe switch runs: Graph.next reaches steps no edge reaches, the first step is the entry", () =>
      Effect.gen(function*() {
        const decide = Effect.map(g.state, (state) => {
          const { count } = state.unsafeGet()
          return count === 0 ? Graph.end : count > 0 ? Graph.next("positive_handler") : Graph.next("negative_handler")
        })
        const graph = g
          .step("decide", decide)
          .step("positive_handler", mark("positive"))
          .step("negative_handler", mark("negative"))
        assert.deepStrictEqual((yield* Graph.run(graph, { trail: [], count: 5 })).trail, ["positive"])
        assert.deepStrictEqual((yield* Graph.run(graph, { trail: [], count: -3 })).trail, ["negative"])
        assert.deepStrictEqual((yield* Graph.run(graph, { trail: [], count: 0 })).trail, [])
      }))

    it.effect("a next to an unknown step is a compile error, and a typed error when forced", () =>
      Effect.gen(function*() {
        const graph = g.step("decide", Effect.succeed(Graph.next("nowhere"))).step("ok", Effect.void)
        // @ts-expect-error: "nowhere" is not a step of the graph
        const _typeError = () => Graph.run(graph, initial)
        const error = yield* Effect.flip(Graph.run(unchecked(graph), initial))
        assert.instanceOf(error, GraphError)
        assert.deepStrictEqual([error.reason, error.steps], ["UnknownTarget", ["decide", "nowhere"]])
      }))

    it.effect("steps nothing leads to (no `to`, `routes` or `Graph.next` names them) are a compile error", () =>
      Effect.gen(function*() {
        const graph = g.step("a", { to: "c" }, mark("a")).step("b", { to: "c" }, mark("b")).step("c", mark("c"))
        // @ts-expect-error: "a" and "b" both have no predecessor
        const _typeError = () => Graph.run(graph, initial)
        // @ts-expect-error: "b" has no predecessor and is not the entry
        const _entryError = () => Graph.run(graph.entry("a"), initial)
        // @ts-expect-error: "x" is not a step of the graph
        const _unknownEntry = () => g.step("a", Effect.void).entry("x")
        const routed = g.step("a", { to: "c" }, Effect.succeed(Graph.next("b"))).step("b", { to: "c" }, mark("b"))
          .step("c", mark("c"))
        assert.deepStrictEqual((yield* Graph.run(routed, initial)).trail, ["b", "c"])
      }))

    it.effect("without a step that can route dynamically, unreached steps are still reported", () =>
      Effect.gen(function*() {
        const tokens = g.step("a", Stream.make("x")).step("b", Stream.make("y"))
        assert.deepStrictEqual(yield* reasonOf(tokens), ["AmbiguousEntry", ["a", "b"]])
        assert.deepStrictEqual(yield* reasonOf(unchecked(tokens).entry("a")), ["Unreachable", ["b"]])
        const routedLater = g.step("a", Stream.make("x")).step("b", Stream.make("y")).step("c", Effect.void)
        assert.deepStrictEqual(yield* reasonOf(unchecked(routedLater).entry("a")), ["Unreachable", ["b", "c"]])
      }))

    it.effect("a barrier waits for a predecessor reached only by Graph.next", () =>
      Effect.gen(function*() {
        // join's predecessors are a and b; b is reached only when x routes to it, after a finished.
        const graph = g
          .step("start", { to: ["a", "x"] }, mark("start"))
          .step("a", { to: "join" }, sleepMark("a", 10))
          .step("x", Effect.as(sleepMark("x", 20), Graph.next("b")))
          .step("b", { to: "join" }, sleepMark("b", 10))
          .step("join", mark("join"))
        const fiber = yield* Effect.fork(Graph.run(graph, initial))
        for (let i = 0; i < 3; i++) yield* TestClock.adjust("10 millis")
        assert.deepStrictEqual((yield* Fiber.join(fiber)).trail, ["start", "a", "x", "b", "join"])
      }))

    it.effect("a barrier does not wait for a dynamic predecessor that was routed away", () =>
      Effect.gen(function*() {
        const graph = g
          .step("start", { to: ["a", "x"] }, mark("start"))
          .step("a", { to: "join" }, sleepMark("a", 10))
          .step(
            "x",
            Effect.zipRight(
              sleepMark("x", 20),
              Effect.map(g.state, (s) => s.unsafeGet().count > 0 ? Graph.next("b") : Graph.end)
            )
          )
          .step("b", { to: "join" }, mark("b"))
          .step("join", mark("join"))
        const fiber = yield* Effect.fork(Graph.run(graph, initial))
        for (let i = 0; i < 2; i++) yield* TestClock.adjust("10 millis")
        assert.deepStrictEqual((yield* Fiber.join(fiber)).trail, ["start", "a", "x", "join"])
      }))
  })

  describe("cycles", () => {
    it.effect("a step may loop back until a condition holds", () =>
      Effect.gen(function*() {
        const loop = Effect.gen(function*() {
          const state = yield* g.state
          yield* state.update((s) => ({ ...s, count: s.count + 1 }))
          return (yield* state.get).count < 5 ? Graph.next("work") : Graph.next("done")
        })
        const graph = g
          .step("start", { to: "work" }, Effect.void)
          .step("work", { routes: ["work", "done"] }, loop)
          .step("done", mark("done"))
        const final = yield* Graph.run(graph, initial)
        assert.strictEqual(final.count, 5)
        assert.deepStrictEqual(final.trail, ["done"])
      }))

    it.effect("a run that exceeds maxSteps fails with MaxStepsExceeded", () =>
      Effect.gen(function*() {
        const bounded = Graph.make<State>({ name: "g", maxSteps: 10 })
        const graph = bounded
          .step("ping", { to: "pong" }, increment)
          .step("pong", { to: "ping" }, increment)
          .entry("ping")
        const error = yield* Effect.flip(Graph.run(graph, initial))
        assert.instanceOf(error, GraphError)
        if (error instanceof GraphError) {
          assert.strictEqual(error.reason, "MaxStepsExceeded")
          assert.deepStrictEqual(error.steps, ["ping"])
          assert.include(error.message, "more than 10 step runs")
        }
      }))

    it.effect("a barrier inside a loop runs once per round", () =>
      Effect.gen(function*() {
        const again = Effect.map(g.state, (s) => s.unsafeGet().count < 3 ? Graph.next("fork") : Graph.end)
        const graph = g
          .step("start", { to: "fork" }, Effect.void)
          .step("fork", { to: ["a", "b"] }, Effect.void)
          .step("a", { to: "join" }, sleepMark("a", 5))
          .step("b", { to: "join" }, sleepMark("b", 10))
          .step("join", { routes: ["fork"] }, Effect.zipRight(increment, again))
        const fiber = yield* Effect.fork(Graph.run(graph, initial))
        for (let i = 0; i < 6; i++) yield* TestClock.adjust("5 millis")
        const final = yield* Fiber.join(fiber)
        assert.strictEqual(final.count, 3)
        assert.deepStrictEqual(final.trail, ["a", "b", "a", "b", "a", "b"])
      }))
  })
})
