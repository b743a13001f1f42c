import { AiError, LanguageModel } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Layer, Option, Stream } from "effect"
import * as Chain from "../src/Chain.js"
import type * as Event from "../src/Event.js"
import * as Engine from "../src/internal/languageModel.js"
import { Attr, Raw } from "./Chain.fixtures.js"

const unavailable = new AiError.HttpResponseError({
  module: "test",
  method: "generateText",
  reason: "StatusCode",
  request: { method: "POST", url: "u", urlParams: [], hash: Option.none(), headers: {} },
  response: { status: 503, headers: {} }
})

/** An engine whose lower-level reply answers at once: its first `failures` calls fail with a 503. */
const answering = (failures: number, calls: { count: number }) =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Engine.make(
      { generateText: () => Effect.die("not called"), streamText: () => Stream.die("not called") },
      () =>
        calls.count++ < failures
          ? Exit.fail(unavailable)
          : Exit.succeed({
            text: JSON.stringify({ brand: "Rivet", model: "R-1", price: 10 }),
            finishReason: "stop",
            usage: { inputTokens: 3, outputTokens: 5, totalTokens: 8 }
          })
    )
  )

const chain = Chain.make({
  name: "c",
  steps: [
    Chain.llm({ id: "a", input: Raw, output: Attr, prompt: "{{text}}" }),
    Chain.apply("b", (attr: typeof Attr.Type) => ({ ...attr, price: attr.price * 2 }))
  ]
})

const eventsOf = (failures: number, retry: number) => {
  const calls = { count: 0 }
  return Stream.runCollect(Chain.stream(chain, [{ sku: "1", text: "x" }], { retry, retryDelayMs: 1 })).pipe(
    Effect.provide(answering(failures, calls)),
    Effect.map((events) => ({ events: Chunk.toArray(events), calls: calls.count }))
  )
}

describe("Chain over an engine that answers at once", () => {
  it.effect("steps run in order with their events, the usage recorded", () =>
    Effect.gen(function*() {
      const { calls, events } = yield* eventsOf(0, 2)
      assert.strictEqual(calls, 1)
      const steps = events.filter((e) => e._tag === "StepStart" || e._tag === "StepEnd")
      assert.deepStrictEqual(steps.map((e) => `${e._tag} ${e.path.at(-1)}`), [
        "StepStart a",
        "StepEnd a",
        "StepStart b",
        "StepEnd b"
      ])
      const end = steps[1] as Event.Of<"StepEnd">
      assert.deepStrictEqual(end.usage, { inputTokens: 3, outputTokens: 5, totalTokens: 8 })
      assert.deepStrictEqual((steps[3] as Event.Of<"StepEnd">).output, { brand: "Rivet", model: "R-1", price: 20 })
    }))

  it.live("a failed first try is retried by the step's policy", () =>
    Effect.gen(function*() {
      const { calls, events } = yield* eventsOf(2, 2)
      assert.strictEqual(calls, 3)
      assert.deepStrictEqual(events.filter((e) => e._tag === "Retry").map((e) => (e as Event.Of<"Retry">).attempt), [
        1,
        2
      ])
      assert.strictEqual(events.filter((e) => e._tag === "StepEnd").length, 2)
    }))

  it.live("an item whose tries all fail fails with the number of tries", () =>
    Effect.gen(function*() {
      const calls = { count: 0 }
      const results = yield* Chain.run(chain, [{ sku: "1", text: "x" }], { retry: 1, retryDelayMs: 1 }).pipe(
        Effect.provide(answering(5, calls))
      )
      assert.strictEqual(calls.count, 2)
      assert.strictEqual(results[0]!.status, "failed")
      assert.strictEqual(results[0]!.failure!.error, "HttpResponseError")
    }))
})
