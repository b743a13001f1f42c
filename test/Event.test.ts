import { assert, describe, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Event from "../src/Event.js"

const origin = { runId: "run-1", path: ["chain", "translate", "fr"], timestamp: 1_700_000_000_000 }

const samples: ReadonlyArray<Event.Event> = [
  Event.make("RunStart", origin, { name: "demo" }),
  Event.make("RunEnd", origin, { status: "failure", durationMs: 12.5 }),
  Event.make("StepStart", origin, { item: 3 }),
  Event.make("StepEnd", origin, {
    durationMs: 4,
    item: 3,
    output: { title: "x", tags: ["a"], nested: { n: 1, nil: null } },
    usage: { inputTokens: 10, outputTokens: 2, totalTokens: 12 }
  }),
  Event.make("StepEnd", origin, { durationMs: 0 }),
  Event.make("StepError", origin, { error: "EngineError", message: "429", retryable: true, item: 1 }),
  Event.make("Token", origin, { text: "héllo \u2028 \"quoted\"\n" }),
  Event.make("Reasoning", origin, { text: "thinking…" }),
  Event.make("PartialFields", origin, { value: { a: [1, 2] }, complete: ["a.0"] }),
  Event.make("ToolCall", origin, { id: "c1", name: "search", params: { q: "effect" } }),
  Event.make("ToolArgProgress", origin, { id: "c1", name: "search", delta: "{\"q\":\"ef", params: { q: "ef" } }),
  Event.make("ToolResult", origin, { id: "c1", name: "search", result: ["r"], isFailure: false }),
  Event.make("RetrievalItem", origin, { index: 0, item: { doc: "d" }, score: 0.9 }),
  Event.make("NonFatalError", origin, { error: "MalformedChunk", message: "skipped" }),
  Event.make("Heartbeat", origin, { idleMs: 5000 }),
  Event.make("Retry", origin, { attempt: 2, error: "Timeout", message: "slow", delayMs: 250 })
]

describe("Event", () => {
  it.effect("every event kind round-trips through JSON", () =>
    Effect.gen(function*() {
      const kinds = new Set(samples.map((e) => e._tag))
      assert.strictEqual(kinds.size, 15)
      for (const event of samples) {
        const json = yield* Event.encodeJson(event)
        assert.deepStrictEqual(JSON.parse(json)._tag, event._tag)
        assert.deepStrictEqual(yield* Event.decodeJson(json), event)
      }
    }))

  it.effect("decoding rejects an event with a missing or mistyped field, naming it", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.either(Event.decodeJson(`{"_tag":"Token","runId":"r","path":[],"timestamp":0}`))
      assert.isTrue(Either.isLeft(missing))
      assert.include(Either.isLeft(missing) ? missing.left.message : "", "text")
      const wrong = yield* Effect.either(
        Event.decodeJson(`{"_tag":"Heartbeat","runId":"r","path":[],"timestamp":0,"idleMs":"soon"}`)
      )
      assert.include(Either.isLeft(wrong) ? wrong.left.message : "", "idleMs")
      const unknown = yield* Effect.either(Event.decodeJson(`{"_tag":"Nope","runId":"r","path":[],"timestamp":0}`))
      assert.isTrue(Either.isLeft(unknown))
      const notJson = yield* Effect.either(Event.decodeJson(`{"_tag":`))
      assert.isTrue(Either.isLeft(notJson))
    }))

  it.effect("guards and paths", () =>
    Effect.sync(() => {
      assert.isTrue(Event.is("Token")(samples[6]!))
      assert.isFalse(Event.is("Token")(samples[0]!))
      assert.isTrue(Event.startsWith(["a", "b", "c"], ["a", "b"]))
      assert.isFalse(Event.startsWith(["a"], ["a", "b"]))
      assert.isTrue(Event.samePath(["a"], ["a"]))
      assert.isFalse(Event.samePath(["a", "b"], ["a"]))
    }))
})
