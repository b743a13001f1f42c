import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Stream } from "effect"
import type * as Event from "../src/Event.js"
import * as Graph from "../src/Graph.js"
import * as Node from "../src/Node.js"
import { collect, Fatal, g, initial, mark, show, type State } from "./Graph.fixtures.js"

describe("Graph", () => {
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
})
