/**
 * The one retry rule, across Chain, Graph, Pipeline, Agent and Llm nodes: an engine answering 400 or 401 is tried
 * once; one answering 429 with `retry-after: 2` is tried again no sooner than 2 seconds later (TestClock), after a
 * `Retry` event.
 */
import { AiError, LanguageModel } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Option, Schedule, Schema, Stream, TestClock } from "effect"
import * as Agent from "../src/Agent.js"
import type * as AgentEvent from "../src/AgentEvent.js"
import * as Chain from "../src/Chain.js"
import * as EngineError from "../src/EngineError.js"
import type * as Event from "../src/Event.js"
import * as Graph from "../src/Graph.js"
import * as Llm from "../src/Llm.js"
import * as Node from "../src/Node.js"
import * as Pipeline from "../src/Pipeline.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"

const status = (code: number, headers: Record<string, string> = {}) =>
  new AiError.HttpResponseError({
    module: "test",
    method: "streamText",
    reason: "StatusCode",
    request: {
      method: "POST",
      url: "http://localhost/v1/chat/completions",
      urlParams: [],
      hash: Option.none(),
      headers
    },
    response: { status: code, headers }
  })

/** An engine failing its first call with `error`, then answering "ok" (or `{ answer: "ok" }` when structured). */
const engine = (error: AiError.AiError) =>
  ScriptedEngine.layer({
    failures: { 1: error },
    reply: (request) => Option.isSome(request.format) ? { object: { answer: "ok" } } : "ok"
  })

const calls = Effect.map(ScriptedEngine.requests, (requests) => requests.length)

/** Forks `program`, checks the second call has not happened at 1.999 s and has at 2 s, and returns its result. */
const afterRetryAfter = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(program)
    yield* TestClock.adjust("1999 millis")
    assert.strictEqual(yield* calls, 1)
    yield* TestClock.adjust("1 millis")
    const result = yield* Fiber.join(fiber)
    assert.strictEqual(yield* calls, 2)
    return result
  })

const Question = Schema.Struct({ id: Schema.String, text: Schema.String })
const Answer = Schema.Struct({ answer: Schema.String })
const chain = Chain.make({
  name: "qa",
  steps: [Chain.llm({ id: "answer", input: Question, output: Answer, prompt: "{{text}}" })]
})
const questions = [{ id: "1", text: "why?" }]

const ask = Llm.text({ name: "ask", prompt: (s: string) => s })

interface State {
  readonly answer: string
}

const graph = Graph.make<State>({ name: "g" })

const llmGraph = graph.step(
  "ask",
  Graph.node(ask, { input: () => "why?", output: (answer: string) => ({ answer }) })
)

/** A graph step calling the model itself, with a generous retry schedule of its own. */
const effectGraph = graph.step(
  "ask",
  { retry: Schedule.recurs(5) },
  Effect.flatMap(
    LanguageModel.generateText({ prompt: "why?" }),
    (response) => Effect.flatMap(graph.state, (state) => state.patch({ answer: response.text }))
  )
)

/** The failure an item of a chain run recorded (with its tries and whether it was retryable). */
const failureOf = (events: ReadonlyArray<Event.Event>) => events.flatMap((e) => e._tag === "StepError" ? [e] : [])

const retries = <T extends { readonly _tag: string }>(events: ReadonlyArray<T>) =>
  events.filter((event) => event._tag === "Retry")

describe("one retry rule", () => {
  for (const code of [400, 401]) {
    describe(`an engine answering ${code} is tried once`, () => {
      it.effect("Chain", () =>
        Effect.gen(function*() {
          const events = Chunk.toArray(yield* Stream.runCollect(Chain.stream(chain, questions)))
          assert.strictEqual(retries(events).length, 0)
          assert.isFalse(failureOf(events)[0]!.retryable)
          assert.strictEqual(yield* calls, 1)
        }).pipe(Effect.provide(engine(status(code)))))

      it.effect("Graph (an Llm node, and a step with its own retry schedule)", () =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Graph.run(llmGraph, { answer: "" }))
          assert.isTrue(Exit.isFailure(exit))
          assert.strictEqual(yield* calls, 1)
        }).pipe(
          Effect.provide(engine(status(code))),
          Effect.zipRight(
            Effect.gen(function*() {
              const events = Chunk.toArray(
                yield* Stream.runCollect(Stream.either(Graph.stream(effectGraph, { answer: "" })))
              )
              assert.strictEqual(yield* calls, 1)
              const errors = events.flatMap((e) => e._tag === "Right" && e.right._tag === "StepError" ? [e.right] : [])
              assert.isFalse(errors[0]!.retryable)
            }).pipe(Effect.provide(engine(status(code))))
          )
        ))

      it.effect("Pipeline (an Llm node, and a map with its own retry policy)", () =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Pipeline.start<string>().map("ask", ask).executeToArray(["why?"]))
          assert.isTrue(Exit.isFailure(exit))
          assert.strictEqual(yield* calls, 1)
        }).pipe(
          Effect.provide(engine(status(code))),
          Effect.zipRight(
            Effect.gen(function*() {
              const out = yield* Stream.runCollect(
                Pipeline.start<string>()
                  .map("ask", (prompt) => LanguageModel.generateText({ prompt }), {
                    retry: { maxAttempts: 5 },
                    errorStrategy: "SPLIT_ERRORS"
                  })
                  .executeEither(["why?"])
              )
              assert.strictEqual(yield* calls, 1)
              const errors = Chunk.toArray(out).flatMap((e) => e._tag === "Left" ? [e.left] : [])
              assert.strictEqual(errors[0]!.attempts, 1)
              assert.isFalse(errors[0]!.retryable)
            }).pipe(Effect.provide(engine(status(code))))
          )
        ))

      it.scoped("Agent", () =>
        Effect.gen(function*() {
          const agent = yield* Agent.make({})
          const events = yield* Stream.runCollect(Stream.either(Agent.prompt(agent, "why?")))
          assert.strictEqual(yield* calls, 1)
          const end = Chunk.toArray(events).flatMap((e) =>
            e._tag === "Right" && e.right._tag === "AgentEnd" ? [e.right] : []
          )
          assert.strictEqual(end[0]!.reason, "error")
          assert.isFalse(end[0]!.error!.retryable)
        }).pipe(Effect.provide(engine(status(code)))))
    })
  }

  describe("an engine answering 429 with retry-after: 2 is tried again after 2 s, after a Retry event", () => {
    const limited = engine(status(429, { "retry-after": "2" }))

    it.effect("Chain", () =>
      Effect.gen(function*() {
        const events = yield* afterRetryAfter(Stream.runCollect(Chain.stream(chain, questions)))
        const retry = retries(Chunk.toArray(events)) as Array<Event.Of<"Retry">>
        assert.deepStrictEqual(retry.map((e) => [e.attempt, e.delayMs]), [[1, 2000]])
        assert.isTrue(Chunk.toArray(events).some((e) => e._tag === "StepEnd"))
      }).pipe(Effect.provide(limited)))

    it.effect("Graph", () =>
      Effect.gen(function*() {
        const events = Chunk.toArray(yield* afterRetryAfter(Stream.runCollect(Graph.stream(llmGraph, { answer: "" }))))
        assert.deepStrictEqual((retries(events) as Array<Event.Of<"Retry">>).map((e) => e.delayMs), [2000])
        assert.strictEqual(yield* Node.collectText(Stream.fromIterable(events)), "ok")
      }).pipe(Effect.provide(limited)))

    it.effect("Graph step with its own schedule: the server's retry-after wins over a shorter delay", () =>
      Effect.gen(function*() {
        const state = yield* afterRetryAfter(Graph.run(effectGraph, { answer: "" }))
        assert.strictEqual(state.answer, "ok")
      }).pipe(Effect.provide(limited)))

    it.effect("Pipeline", () =>
      Effect.gen(function*() {
        const out = yield* afterRetryAfter(
          Pipeline.start<string>()
            .map("ask", (prompt) => LanguageModel.generateText({ prompt }), { retry: EngineError.retrySchedule() })
            .executeToArray(["why?"])
        )
        assert.deepStrictEqual(out.map((r) => r.text), ["ok"])
      }).pipe(Effect.provide(limited)))

    it.scoped("Agent", () =>
      Effect.gen(function*() {
        const agent = yield* Agent.make({})
        const events = Chunk.toArray(yield* afterRetryAfter(Stream.runCollect(Agent.prompt(agent, "why?"))))
        const retry = retries(events) as Array<AgentEvent.AgentEvent & { readonly _tag: "Retry" }>
        assert.deepStrictEqual(retry.map((e) => [e.attempt, e.delayMs]), [[1, 2000]])
        assert.strictEqual(events.at(-1)!._tag, "AgentEnd")
      }).pipe(Effect.provide(limited)))
  })

  describe("switched off", () => {
    it.effect("per Chain step, per engine, per run", () =>
      Effect.gen(function*() {
        const off = Chain.make({
          name: "qa",
          steps: [Chain.llm({ id: "answer", input: Question, output: Answer, prompt: "{{text}}", retry: 0 })]
        })
        const runs = [
          Chain.stream(off, questions),
          Chain.stream(chain, questions, { retry: 0 }),
          Chain.stream(chain, questions, { engines: { answer: "local" }, engineRetry: { local: 0 } })
        ]
        for (const run of runs) {
          const events = Chunk.toArray(yield* Stream.runCollect(run).pipe(Effect.provide(engine(status(503)))))
          assert.strictEqual(retries(events).length, 0)
          assert.isTrue(failureOf(events)[0]!.retryable)
        }
      }))

    it.effect("per Llm node and per Agent", () =>
      Effect.gen(function*() {
        const once = Llm.text({ name: "ask", prompt: (s: string) => s, retry: 0 })
        const exit = yield* Effect.exit(Node.run(once, "why?"))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(yield* calls, 1)
      }).pipe(Effect.provide(engine(status(503)))))
  })

  it("unknown failures are not retryable unless the policy says so", () => {
    assert.isFalse(EngineError.isRetryable(new Error("boom")))
    assert.isFalse(EngineError.isRetryable(new AiError.UnknownError({ module: "m", method: "x" })))
    assert.isTrue(EngineError.isRetryable(status(503)))
    assert.isFalse(EngineError.isRetryable(status(404)))
  })

  it.effect("a user policy retries unknown failures when it says so", () =>
    Effect.gen(function*() {
      let n = 0
      const flaky = Node.fromEffect("flaky", () =>
        Effect.suspend(() => ++n < 3 ? Effect.fail(new Error("boom")) : Effect.succeed(n)))
      const retried = flaky.pipe(Node.retry({
        schedule: Schedule.recurs(5),
        while: () =>
          true
      }))
      assert.strictEqual(yield* Node.run(retried, undefined), 3)
      n = 0
      const exit = yield* Effect.exit(Node.run(flaky.pipe(Node.retry(Schedule.recurs(5))), undefined))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(n, 1)
    }))
})
