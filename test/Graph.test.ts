import { assert, describe, it } from "@effect/vitest"
import { Chunk, Context, Data, Deferred, Effect, Exit, Fiber, Option, Schedule, Stream, TestClock } from "effect"
import * as Event from "../src/Event.js"
import * as Graph from "../src/Graph.js"
import { GraphError } from "../src/GraphError.js"
import * as Node from "../src/Node.js"
import { NodeError } from "../src/NodeError.js"

class Transient extends Data.TaggedError("Transient")<{ readonly attempt: number }> {
  get isRetryable() {
    return true
  }
}
class Fatal extends Data.TaggedError("Fatal")<{}> {
  get isRetryable() {
    return false
  }
}

class Audit extends Context.Tag("test/Audit")<Audit, { readonly record: (step: string) => Effect.Effect<void> }>() {}

interface State {
  readonly trail: ReadonlyArray<string>
  readonly count: number
}
const initial: State = { trail: [], count: 0 }

const collect = <E, R>(stream: Stream.Stream<Event.Event, E, R>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const show = (events: ReadonlyArray<Event.Event>) => events.map((e) => `${e._tag}:${e.path.join("/")}`)

/** Drops the compile-time step-id check, to test the run-time one. */
const unchecked = <S, C, N extends string, T extends string, E, R>(graph: Graph.Graph<S, C, N, T, E, R>) =>
  graph as unknown as Graph.Graph<S, C, string, string, E, R>

/** The step ids of the StepStart events of a run, in order. */
const started = (events: ReadonlyArray<Event.Event>) =>
  events.filter((e) => e._tag === "StepStart" && e.path.length === 2).map((e) => e.path[1]!)

const g = Graph.make<State>({ name: "g", reducers: { trail: (a, b) => [...a, ...b] } })
const mark = (name: string) => Effect.flatMap(g.state, (state) => state.patch({ trail: [name] }))
const sleepMark = (name: string, ms: number) => Effect.zipRight(Effect.sleep(ms), mark(name))
const increment = Effect.flatMap(g.state, (state) => state.update((s) => ({ ...s, count: s.count + 1 })))

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

  describe("fan-out and barrier", () => {
    it.effect("the join runs exactly once, after every branch finished", () =>
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

    it.effect("a join waits for predecessors still reachable from running work", () =>
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

    it.effect("a 100-way fan-out joins once and keeps every branch's update (per-field reducer)", () =>
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
        const graph = plain
          .step("start", { to: ["a", "b"] }, Effect.void)
          .step("a", Effect.flatMap(plain.state, (s) => s.patch({ trail: ["a"] })))
          .step("b", Effect.zipRight(Effect.yieldNow(), Effect.flatMap(plain.state, (s) => s.patch({ trail: ["b"] }))))
          .step("c", Effect.void)
          .entry("start")
        const ok = yield* Effect.either(Graph.validate(graph))
        assert.isTrue(ok._tag === "Left") // "c" is unreachable
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

    it.effect("a join inside a loop runs once per round", () =>
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

  describe("validation", () => {
    const reasonOf = (graph: Graph.Graph.Any) =>
      Effect.map(Effect.flip(Graph.validate(graph)), (e) => [e.reason, e.steps] as const)

    it.effect("a graph without steps has no entry", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* reasonOf(g), ["NoEntry", []])
      }))

    it.effect("a graph where every step has a predecessor has no entry", () =>
      Effect.gen(function*() {
        const graph = g.step("a", { to: "b" }, Effect.void).step("b", { to: "a" }, Effect.void)
        assert.deepStrictEqual(yield* reasonOf(graph), ["NoEntry", []])
        const fixed = graph.entry("a")
        assert.strictEqual(yield* Graph.validate(fixed), fixed)
      }))

    it.effect("several roots are ambiguous unless an entry is chosen", () =>
      Effect.gen(function*() {
        const graph = g.step("a", { to: "c" }, Effect.void).step("b", { to: "c" }, Effect.void).step("c", Effect.void)
        assert.deepStrictEqual(yield* reasonOf(graph), ["AmbiguousEntry", ["a", "b"]])
        assert.deepStrictEqual(yield* reasonOf(graph.entry("a")), ["Unreachable", ["b"]])
      }))

    it.effect("an unknown target is a compile error and a typed error naming the steps", () =>
      Effect.gen(function*() {
        const graph = g.step("greet", { to: "respnd" }, Effect.void).step("respond", Effect.void)
        // @ts-expect-error: "respnd" is not a step of the graph
        const _typeError = () => Graph.run(graph, initial)
        const error = yield* Effect.flip(Graph.run(unchecked(graph), initial))
        assert.instanceOf(error, GraphError)
        assert.deepStrictEqual([error.reason, error.steps], ["UnknownTarget", ["greet", "respnd"]])
        const entry = g.step("a", Effect.void).entry("b")
        // @ts-expect-error: "b" is not a step of the graph
        const _entryError = () => Graph.validate(entry)
        assert.deepStrictEqual(yield* reasonOf(entry), ["UnknownTarget", ["b"]])
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

    it.effect("a step reached only by an undeclared dynamic route is unreachable", () =>
      Effect.gen(function*() {
        const graph = g.step("a", Effect.succeed(Graph.next("b"))).step("b", Effect.void)
        assert.deepStrictEqual(yield* reasonOf(graph), ["AmbiguousEntry", ["a", "b"]])
        assert.include((yield* Effect.flip(Graph.validate(graph))).message, "routes")
        assert.deepStrictEqual(yield* reasonOf(graph.entry("a")), ["Unreachable", ["b"]])
        assert.include((yield* Effect.flip(Graph.validate(graph.entry("a")))).message, "routes")
        const declared = g.step("a", { routes: ["b"] }, Effect.succeed(Graph.next("b"))).step("b", mark("b"))
        assert.deepStrictEqual((yield* Graph.run(declared, initial)).trail, ["b"])
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

  describe("lifecycle hooks", () => {
    interface Db {
      readonly rows: Map<string, string>
    }
    const withDb = (log: Array<string>) => {
      const base = Graph.make<State, Db>({ name: "db" })
      return base
        .onStartup(Effect.sync(() => {
          log.push("startup")
          return { rows: new Map([["user:1", "ada"]]) }
        }))
        .onShutdown((db, exit) =>
          Effect.sync(() =>
            log.push(`shutdown ${db.rows.size} ${exit._tag}${Exit.isInterrupted(exit) ? " interrupted" : ""}`)
          )
        )
        .onShutdown(() => Effect.sync(() => log.push("shutdown first")))
    }

    it.effect("steps read the startup value; shutdown hooks run in reverse order on success", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const base = withDb(log)
        const fetch = Effect.gen(function*() {
          const db = yield* base.context
          const state = yield* base.state
          log.push("fetch")
          yield* state.patch({ trail: [db.rows.get("user:1")!] })
        })
        const final = yield* Graph.run(base.step("fetch", fetch), initial)
        assert.deepStrictEqual(final.trail, ["ada"])
        assert.deepStrictEqual(log, ["startup", "fetch", "shutdown first", "shutdown 1 Success"])
      }))

    it.effect("shutdown runs on failure", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const graph = withDb(log).step("boom", Effect.fail(new Fatal()))
        yield* Effect.flip(Graph.run(graph, initial))
        assert.deepStrictEqual(log, ["startup", "shutdown first", "shutdown 1 Failure"])
      }))

    it.effect("shutdown runs on interruption, also when the consumer stops early", () =>
      Effect.gen(function*() {
        const log: Array<string> = []
        const running = yield* Deferred.make<void>()
        const graph = withDb(log).step("hang", Effect.zipRight(Deferred.succeed(running, undefined), Effect.never))
        const fiber = yield* Effect.fork(Graph.run(graph, initial))
        yield* Deferred.await(running)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(log, ["startup", "shutdown first", "shutdown 1 Failure interrupted"])

        log.length = 0
        const events = yield* collect(Graph.stream(graph, initial).pipe(Stream.take(3)))
        assert.deepStrictEqual(show(events), ["RunStart:db", "StepStart:db", "StepStart:db/hang"])
        assert.deepStrictEqual(log, ["startup", "shutdown first", "shutdown 1 Failure interrupted"])
      }))

    it.effect("a failing startup fails the run before any step", () =>
      Effect.gen(function*() {
        const base = Graph.make<State, string>({ name: "g" })
        const graph = base.onStartup(Effect.fail(new Fatal())).step("a", mark("a"))
        const events: Array<Event.Event> = []
        const error = yield* Graph.stream(graph, initial).pipe(
          Stream.runForEach((e) => Effect.sync(() => events.push(e))),
          Effect.flip
        )
        assert.instanceOf(error, Fatal)
        assert.deepStrictEqual(show(events), ["RunStart:g", "StepStart:g", "StepError:g", "RunEnd:g"])
      }))

    it.effect("reading the context of a graph without onStartup is a clear defect", () =>
      Effect.gen(function*() {
        const base = Graph.make<State, string>({ name: "nohook" })
        const exit = yield* Effect.exit(Graph.run(base.step("a", Effect.asVoid(base.context)), initial))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assert.include(String(exit.cause), "has no onStartup hook")
      }))
  })

  describe("nesting", () => {
    it.effect("a graph over the same state is a step: its steps' paths nest under the step", () =>
      Effect.gen(function*() {
        const inner = Graph.make<State>({ name: "inner", reducers: { trail: (a, b) => [...a, ...b] } })
          .step("search", { to: "rank" }, mark("search"))
          .step("rank", Stream.make("ranked"))
        const outer = g.step("plan", { to: "research" }, mark("plan")).step("research", { to: "answer" }, inner).step(
          "answer",
          mark("answer")
        )
        const events = yield* collect(Graph.stream(outer, initial))
        assert.deepStrictEqual(show(events), [
          "RunStart:g",
          "StepStart:g",
          "StepStart:g/plan",
          "StepEnd:g/plan",
          "StepStart:g/research",
          "StepStart:g/research/search",
          "StepEnd:g/research/search",
          "StepStart:g/research/rank",
          "Token:g/research/rank",
          "StepEnd:g/research/rank",
          "StepEnd:g/research",
          "StepStart:g/answer",
          "StepEnd:g/answer",
          "StepEnd:g",
          "RunEnd:g"
        ])
        const final = yield* Graph.run(outer, initial)
        assert.deepStrictEqual(final.trail, ["plan", "search", "answer"])
      }))

    it.effect("Graph.node runs a sluice Node on the state; a graph's own Node nests its steps", () =>
      Effect.gen(function*() {
        interface Inner {
          readonly text: string
        }
        const shout = Graph.make<Inner>({ name: "shout" })
        const innerGraph = shout.step(
          "upper",
          Effect.flatMap(shout.state, (s) => s.update(({ text }) => ({ text: text.toUpperCase() })))
        )
        const spell = Node.fromStream("spell", (word: string) => Stream.fromIterable(word.split("")))
        const graph = g
          .step(
            "spell",
            { to: "shout" },
            Graph.node(spell, { input: () => "hi", output: (text, s: State) => ({ ...s, trail: [...s.trail, text] }) })
          )
          .step(
            "shout",
            Graph.node(Graph.toNode(innerGraph), {
              input: (s: State) => ({ text: s.trail.join(",") }),
              output: (out, s) => ({ ...s, trail: [...s.trail, out.text] })
            })
          )
        const events = yield* collect(Graph.stream(graph, initial))
        const paths = new Set(show(events))
        for (
          const expected of [
            "Token:g/spell/spell",
            "StepEnd:g/spell/spell",
            "StepStart:g/shout/shout",
            "StepStart:g/shout/shout/upper",
            "StepEnd:g/shout/shout"
          ]
        ) assert.isTrue(paths.has(expected), expected)
        const spellEnd = events.find((e) => e._tag === "StepEnd" && e.path.join("/") === "g/spell")
        assert.strictEqual(spellEnd?._tag === "StepEnd" ? spellEnd.output : undefined, "hi")
        assert.deepStrictEqual((yield* Graph.run(graph, initial)).trail, ["hi", "HI"])
        assert.deepStrictEqual(yield* Node.run(Graph.toNode(innerGraph), { text: "abc" }), { text: "ABC" })
      }))
  })

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

    it.effect("Graph.steps describes the declared steps", () =>
      Effect.gen(function*() {
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
      }))
  })
})
