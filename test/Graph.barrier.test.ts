import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Stream, TestClock } from "effect"
import type * as Event from "../src/Event.js"
import * as Graph from "../src/Graph.js"
import { Fatal, g, increment, initial, mark, sleepMark, type State } from "./Graph.fixtures.js"

describe("Graph", () => {
  describe("fan-out and barrier", () => {
    it.effect("the barrier step runs exactly once, after every branch finished", () =>
      Effect.gen(function*() {
        const graph = g
          .step("start", { to: ["a", "b", "c"] }, mark("start"))
          .step("a", { to: "join" }, sleepMark("a", 30))
          .step("b", { to: "join" }, sleepMark("b", 10))
          .step("c", { to: "join" }, sleepMark("c", 20))
          .step("join", mark("join"))
        const fiber = yield* Effect.fork(Graph.run(graph, initial))
        yield* TestClock.adjust("10 millis")
        yield* TestClock.adjust("10 millis")
        yield* TestClock.adjust("10 millis")
        const final = yield* Fiber.join(fiber)
        assert.deepStrictEqual(final.trail, ["start", "b", "c", "a", "join"])
      }))

    it.effect("branches run concurrently: the fan-out takes the time of the slowest branch", () =>
      Effect.gen(function*() {
        const graph = g
          .step("start", { to: ["a", "b"] }, Effect.void)
          .step("a", { to: "join" }, sleepMark("a", 1000))
          .step("b", { to: "join" }, sleepMark("b", 1000))
          .step("join", mark("join"))
        const fiber = yield* Effect.fork(Graph.run(graph, initial))
        yield* TestClock.adjust("1 second")
        const exit = yield* Fiber.await(fiber).pipe(Effect.timeoutOption("1 millis"), Effect.fork)
        yield* TestClock.adjust("1 millis")
        const result = yield* Fiber.join(exit)
        assert.isTrue(Option.isSome(result) && Exit.isSuccess(result.value))
      }))

    it.effect("a branch routed away is not waited for", () =>
      Effect.gen(function*() {
        const graph = g
          .step("start", { to: ["a", "b"] }, Effect.void)
          .step("a", { to: "join" }, Effect.as(mark("a"), Graph.end))
          .step("b", { to: "join" }, sleepMark("b", 10))
          .step("join", mark("join"))
        const fiber = yield* Effect.fork(Graph.run(graph, initial))
        yield* TestClock.adjust("10 millis")
        assert.deepStrictEqual((yield* Fiber.join(fiber)).trail, ["a", "b", "join"])
      }))

    it.effect("a barrier waits for predecessors still reachable from running work", () =>
      Effect.gen(function*() {
        // d has predecessors b, c and e; e runs after c, so d must wait for e too.
        const graph = g
          .step("a", { to: ["b", "c"] }, mark("a"))
          .step("b", { to: "d" }, mark("b"))
          .step("c", { to: ["d", "e"] }, sleepMark("c", 10))
          .step("e", { to: "d" }, sleepMark("e", 10))
          .step("d", mark("d"))
        const fiber = yield* Effect.fork(Graph.run(graph, initial))
        yield* TestClock.adjust("10 millis")
        yield* TestClock.adjust("10 millis")
        assert.deepStrictEqual((yield* Fiber.join(fiber)).trail, ["a", "b", "c", "e", "d"])
      }))

    it.effect("`routes` makes a barrier wait for a next to a step an edge also reaches", () =>
      Effect.gen(function*() {
        // b reaches the barrier; the edge gate -> b is not taken this run, x routes to b later.
        const build = (routes: ReadonlyArray<"b">) =>
          g
            .step("start", { to: ["gate", "x", "c"] }, Effect.void)
            .step("gate", { to: "b" }, Effect.succeed(Graph.end))
            .step("x", { routes }, Effect.as(sleepMark("x", 20), Graph.next("b")))
            .step("b", { to: "barrier" }, mark("b"))
            .step("c", { to: "barrier" }, mark("c"))
            .step("barrier", mark("barrier"))
        const runOn = (graph: ReturnType<typeof build>) =>
          Effect.gen(function*() {
            const fiber = yield* Effect.fork(Graph.run(graph, initial))
            yield* TestClock.adjust("20 millis")
            return (yield* Fiber.join(fiber)).trail
          })
        assert.deepStrictEqual(yield* runOn(build(["b"])), ["c", "x", "b", "barrier"])
        assert.deepStrictEqual(yield* runOn(build([])), ["c", "barrier", "x", "b", "barrier"])
      }))

    it.effect("at most `concurrency` steps run at once", () =>
      Effect.gen(function*() {
        let running = 0
        let peak = 0
        const work = Effect.acquireUseRelease(
          Effect.sync(() => {
            running++
            peak = Math.max(peak, running)
          }),
          () => Effect.sleep("10 millis"),
          () => Effect.sync(() => running--)
        )
        const names = Array.from({ length: 10 }, (_, i) => `w${i}`)
        let graph: Graph.Graph<State, void, string, string> = Graph.make<State>({ name: "g", concurrency: 3 })
          .step("start", { to: names }, Effect.void)
        for (const name of names) graph = graph.step(name, { to: "join" }, work)
        const full = graph.step("join", increment)
        const fiber = yield* Effect.fork(Graph.run(full, initial))
        for (let i = 0; i < 4; i++) yield* TestClock.adjust("10 millis")
        const final = yield* Fiber.join(fiber)
        assert.strictEqual(peak, 3)
        assert.strictEqual(final.count, 1)
      }))

    it.effect("a 100-way fan-out meets at its barrier once and keeps every branch's update (per-field reducer)", () =>
      Effect.gen(function*() {
        const names = Array.from({ length: 100 }, (_, i) => `b${i}`)
        let graph: Graph.Graph<State, void, string, string> = Graph.make<State>({
          name: "g",
          concurrency: 100,
          reducers: { trail: (a, b) => [...a, ...b] }
        }).step("start", { to: names }, Effect.void)
        for (const name of names) {
          graph = graph.step(
            name,
            { to: "join" },
            Effect.flatMap(Graph.state<State>(), (s) => s.patch({ trail: [name] }))
          )
        }
        const full = graph.step("join", increment)
        const final = yield* Graph.run(full, initial)
        assert.strictEqual(final.count, 1)
        assert.deepStrictEqual([...final.trail].sort(), [...names].sort())
      }))

    it.effect("without a reducer, patch is last write wins per field; update sees earlier writes", () =>
      Effect.gen(function*() {
        const plain = Graph.make<State>({ name: "g" })
        const graph2 = plain
          .step("start", { to: ["a", "b"] }, Effect.void)
          .step("a", Effect.flatMap(plain.state, (s) => s.patch({ trail: ["a"] })))
          .step("b", Effect.zipRight(Effect.yieldNow(), Effect.flatMap(plain.state, (s) => s.patch({ trail: ["b"] }))))
        assert.deepStrictEqual((yield* Graph.run(graph2, initial)).trail, ["b"])
        const graph3 = plain
          .step("start", { to: ["a", "b"] }, Effect.void)
          .step("a", Effect.flatMap(plain.state, (s) => s.update((st) => ({ ...st, count: st.count + 1 }))))
          .step("b", Effect.flatMap(plain.state, (s) => s.update((st) => ({ ...st, count: st.count + 10 }))))
        assert.strictEqual((yield* Graph.run(graph3, initial)).count, 11)
      }))

    it.effect("a failing branch fails the run and interrupts its siblings", () =>
      Effect.gen(function*() {
        const interrupted = yield* Deferred.make<void>()
        const graph = g
          .step("start", { to: ["slow", "bad"] }, Effect.void)
          .step("slow", Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, undefined)))
          .step("bad", Effect.fail(new Fatal()))
        const events: Array<Event.Event> = []
        const error = yield* Graph.stream(graph, initial).pipe(
          Stream.runForEach((e) => Effect.sync(() => events.push(e))),
          Effect.flip
        )
        assert.instanceOf(error, Fatal)
        yield* Deferred.await(interrupted)
        const errors = events.filter((e) => e._tag === "StepError").map((e) => e.path.join("/"))
        assert.deepStrictEqual(errors, ["g/bad", "g"])
        assert.isUndefined(events.find((e) => e._tag === "StepEnd" && e.path.join("/") === "g/slow"))
      }))
  })
})
