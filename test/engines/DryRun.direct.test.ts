import { Prompt } from "@effect/ai"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Option, Schema, TestClock } from "effect"
import * as DryRun from "../../src/engines/DryRun.js"
import * as Engine from "../../src/internal/languageModel.js"
import { textPrompt } from "../../src/internal/prompt.js"
import * as Structured from "../../src/internal/structured.js"

const Category = Schema.Struct({ category: Schema.Literal("home", "office"), confidence: Schema.Number })
const format = { objectName: "category", schema: Category }

describe("DryRun: the lower-level reply", () => {
  it.effect("answers what generateText answers, text and structured", () =>
    Effect.gen(function*() {
      const model = yield* DryRun.make({ seed: 3 })
      const prompt = Prompt.make("Classify a desk lamp")
      const text = yield* Engine.generateText(model, { prompt, format: Option.none(), sampling: undefined })
      const viaService = yield* model.generateText({ prompt })
      assert.strictEqual(text.text, viaService.text)
      assert.strictEqual(text.finishReason, viaService.finishReason)
      assert.deepStrictEqual(text.usage, {
        inputTokens: viaService.usage.inputTokens,
        outputTokens: viaService.usage.outputTokens,
        totalTokens: viaService.usage.totalTokens
      })
      const object = yield* Engine.generateText(model, { prompt, format: Option.some(format), sampling: undefined })
      const viaObject = yield* model.generateObject({ prompt, schema: Category, objectName: "category" })
      assert.deepStrictEqual(JSON.parse(object.text), viaObject.value)
    }))

  it.effect("is a complete effect without latency, so a structured call over it never suspends", () =>
    Effect.gen(function*() {
      const model = yield* DryRun.make()
      const call = Structured.generate(model, {
        schema: Category,
        format,
        prompt: Prompt.make("Classify a chair"),
        guided: "auto",
        repairs: 0,
        onRepair: () => Effect.void
      })
      assert.isTrue(Exit.isExit(call) && Exit.isSuccess(call))
      const value = yield* call
      assert.isTrue(Either.isRight(Schema.decodeUnknownEither(Category)(value.value)))
      assert.isDefined(value.usage)
    }))

  it.effect("waits for the latency on the Clock", () =>
    Effect.gen(function*() {
      const model = yield* DryRun.make({ latency: "2 seconds" })
      const call = Engine.generateText(model, { prompt: Prompt.make("hi"), format: Option.none(), sampling: undefined })
      const fiber = yield* Effect.fork(call)
      yield* TestClock.adjust("1999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.include((yield* Fiber.join(fiber)).text, "[dry-run]")
    }))

  it.effect("fails the same share of calls as generateText (one call counter)", () =>
    Effect.gen(function*() {
      const run = (direct: boolean) =>
        Effect.gen(function*() {
          const model = yield* DryRun.make({ failureRate: 0.3 })
          return yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (i) =>
            direct
              ? Effect.either(
                Engine.generateText(model, { prompt: Prompt.make(`p${i}`), format: Option.none(), sampling: undefined })
              )
              : Effect.either(model.generateText({ prompt: `p${i}` })))
        })
      const direct = (yield* run(true)).map(Either.isLeft)
      const service = (yield* run(false)).map(Either.isLeft)
      assert.deepStrictEqual(direct, service)
      assert.isAbove(direct.filter(Boolean).length, 10)
    }))
})

describe("textPrompt", () => {
  it("builds what Prompt.make builds from the same messages", () => {
    assert.deepStrictEqual(textPrompt("Classify a lamp"), Prompt.make("Classify a lamp"))
    assert.deepStrictEqual(
      textPrompt("Classify a lamp", "Be brief."),
      Prompt.make([{ role: "system", content: "Be brief." }, { role: "user", content: "Classify a lamp" }])
    )
    assert.isTrue(Prompt.isPrompt(textPrompt("x")))
  })
})
