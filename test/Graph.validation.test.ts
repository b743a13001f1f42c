import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import * as Graph from "../src/Graph.js"
import { GraphError } from "../src/GraphError.js"
import { g, initial, reasonOf, type State, unchecked } from "./Graph.fixtures.js"

describe("Graph", () => {
  describe("validation", () => {
    it.effect("a graph without steps has no entry", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* reasonOf(g), ["NoEntry", []])
        assert.isTrue(Exit.isSuccess(yield* Effect.exit(Graph.validate(g.step("NoEntry", Effect.void)))))
      }))

    it.effect("a graph where every step has a predecessor has no entry", () =>
      Effect.gen(function*() {
        const graph = g.step("a", { to: "b" }, Effect.void).step("b", { to: "a" }, Effect.void)
        assert.deepStrictEqual(yield* reasonOf(graph), ["NoEntry", []])
        const fixed = graph.entry("a")
        assert.strictEqual(yield* Graph.validate(fixed), fixed)
      }))

    it.effect("several steps without a predecessor: the first declared is the entry when some step can route with next", () =>
      Effect.gen(function*() {
        const graph = g.step("a", { to: "c" }, Effect.void).step("b", { to: "c" }, Effect.void).step("c", Effect.void)
        assert.isTrue(Exit.isSuccess(yield* Effect.exit(Graph.validate(unchecked(graph)))))
        const tokens = g.step("a", { to: "c" }, Stream.make("x")).step("b", { to: "c" }, Stream.make("y"))
          .step("c", Stream.make("z"))
        assert.deepStrictEqual(yield* reasonOf(tokens), ["AmbiguousEntry", ["a", "b"]])
        const later = g.step("c", Effect.void).step("a", { to: "c" }, Effect.void).step("b", { to: "c" }, Effect.void)
        assert.deepStrictEqual(yield* reasonOf(later), ["AmbiguousEntry", ["a", "b"]])
        const chosen = unchecked(later).entry("a")
        assert.strictEqual(yield* Graph.validate(chosen), chosen)
      }))

    it.effect("an unknown target is a compile error and a typed error naming the steps", () =>
      Effect.gen(function*() {
        const graph = g.step("greet", { to: "respnd" }, Effect.void).step("respond", Effect.void)
        // @ts-expect-error: "respnd" is not a step of the graph
        const _typeError = () => Graph.run(graph, initial)
        const error = yield* Effect.flip(Graph.run(unchecked(graph), initial))
        assert.instanceOf(error, GraphError)
        assert.deepStrictEqual([error.reason, error.steps], ["UnknownTarget", ["greet", "respnd"]])
        // @ts-expect-error: "b" is not a step of the graph
        const _entryError = () => g.step("a", Effect.void).entry("b")
        assert.deepStrictEqual(yield* reasonOf(unchecked(g.step("a", Effect.void)).entry("b")), ["UnknownTarget", [
          "b"
        ]])
        const routed = g.step("a", Effect.succeed(Graph.next("nope")))
        // @ts-expect-error: "nope" is not a step of the graph
        const _nextError = () => Graph.validate(routed)
      }))

    it.effect("a duplicate step id is a compile error and a typed error", () =>
      Effect.gen(function*() {
        // @ts-expect-error: "a" is already a step
        const _typeError = () => g.step("a", Effect.void).step("a", Effect.void)
        const id: string = "a"
        const graph = g.step(id, Effect.void).step(id, Effect.void)
        assert.deepStrictEqual(yield* reasonOf(graph), ["DuplicateStep", ["a"]])
      }))

    it.effect("invalid options are typed errors", () =>
      Effect.gen(function*() {
        const zero = Graph.make<State>({ name: "g", concurrency: 0 }).step("a", Effect.void)
        const error = yield* Effect.flip(Graph.validate(zero))
        assert.strictEqual(error.reason, "InvalidOption")
        assert.include(error.message, "concurrency")
        const fraction = Graph.make<State>({ name: "g", maxSteps: 1.5 }).step("a", Effect.void)
        assert.strictEqual((yield* Effect.flip(Graph.validate(fraction))).reason, "InvalidOption")
      }))

    it.effect("an invalid nested graph makes its parent invalid", () =>
      Effect.gen(function*() {
        const inner = Graph.make<State>({ name: "inner" })
        const outer = g.step("sub", inner)
        const error = yield* Effect.flip(Graph.validate(outer))
        assert.deepStrictEqual([error.graph, error.reason], ["inner", "NoEntry"])
      }))
  })
})
