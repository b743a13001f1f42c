import { AiError } from "@effect/ai"
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Layer, Option, Schema, Stream, TestClock } from "effect"
import * as Chain from "../src/Chain.js"
import * as EngineRegistry from "../src/EngineRegistry.js"
import * as DryRun from "../src/engines/DryRun.js"
import type * as Event from "../src/Event.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import { Attr, errorOf, fixed, productEngine, products, Raw, userOf } from "./Chain.fixtures.js"

// ---------------------------------------------------------------------------
// running
// ---------------------------------------------------------------------------

describe("Chain: running", () => {
  it.effect("templates render the input, chain_input, earlier steps and joined branches", () =>
    Effect.gen(function*() {
      const results = yield* Chain.run(products, [
        { sku: "K1", text: "a kettle" },
        { sku: "H2", text: "headphones" }
      ])
      assert.deepStrictEqual(results.map((r) => r.status), ["complete", "complete"])
      const [kettle, phones] = results as [Chain.Output<unknown>, Chain.Output<unknown>]
      const title = userOf(kettle.outputs.title)
      assert.include(title, "system: Titles for K1")
      assert.include(title, "user: Bosch | fr=fr-brand-model | es=es-brand | extract=10")
      assert.include(userOf(phones.outputs.title), "user: Sony | fr=fr-brand-model")
      // joined branches are visible to pure steps as vars
      assert.deepStrictEqual(kettle.output, {
        id: "0",
        title: title,
        fr: { brand: "fr-brand", model: "fr-brand-model", price: 10 },
        es: { brand: "es-brand", model: "es-brand-model", price: 10 }
      })
      // branch step outputs are kept by step id
      assert.deepStrictEqual(kettle.outputs.to_es, { brand: "es-brand", model: "es-brand-model", price: 10 })
      const requests = yield* ScriptedEngine.requests
      assert.strictEqual(requests.length, 8)
      // the output schema goes to the engine through the structured-output channel
      assert.isTrue(requests.every((r) => r.method === "generateText" && r.format._tag === "Some"))
    }).pipe(Effect.provide(productEngine)))

  it.effect("streams RunStart, per item and step StepStart/StepEnd with the item index and [chain, step] path, RunEnd", () =>
    Effect.gen(function*() {
      const events = Chunk.toArray(yield* Stream.runCollect(Chain.stream(products, [{ sku: "K1", text: "kettle" }])))
      assert.strictEqual(events[0]!._tag, "RunStart")
      assert.strictEqual(events[events.length - 1]!._tag, "RunEnd")
      assert.strictEqual((events[events.length - 1] as Event.Of<"RunEnd">).status, "success")
      const steps = events.filter((e) => e._tag === "StepStart" || e._tag === "StepEnd")
      assert.strictEqual(steps.length, 10)
      for (const e of steps) {
        assert.strictEqual((e as Event.Of<"StepStart">).item, 0)
        assert.strictEqual(e.path[0], "products")
      }
      const ends = events.filter((e): e is Event.Of<"StepEnd"> => e._tag === "StepEnd")
      assert.deepStrictEqual(ends.map((e) => e.path[1]).filter((id) => id !== "to_fr" && id !== "to_es"), [
        "extract",
        "title",
        "entry"
      ])
      assert.deepStrictEqual(ends[0]!.output, { brand: "Bosch", model: "Bosch-model", price: 10 })
      assert.isTrue(new Set(events.map((e) => e.runId)).size === 1)
    }).pipe(Effect.provide(productEngine)))

  it.effect("branches run in parallel for each item", () =>
    Effect.gen(function*() {
      const slow = ScriptedEngine.layer({ latency: "300 millis", reply: () => fixed("b") })
      const parallel = Chain.make({
        name: "p",
        steps: [[
          Chain.branch({ name: "a", steps: [Chain.llm({ id: "a1", input: Raw, output: Attr, prompt: "{{text}}" })] }),
          Chain.branch({ name: "b", steps: [Chain.llm({ id: "b1", input: Raw, output: Attr, prompt: "{{text}}" })] })
        ]]
      })
      const fiber = yield* Stream.runCollect(Chain.stream(parallel, [{ sku: "1", text: "x" }])).pipe(
        Effect.provide(slow),
        Effect.fork
      )
      // two 300 ms branch calls finish within 300 ms of (virtual) time only if they run at the same time
      yield* TestClock.adjust("300 millis")
      const all = Chunk.toArray(yield* Fiber.join(fiber))
      const order = all.filter((e) => e._tag === "StepStart" || e._tag === "StepEnd").map((e) => e._tag)
      assert.deepStrictEqual(order, ["StepStart", "StepStart", "StepEnd", "StepEnd"])
    }))

  it.effect("an input that does not match the step's schema fails that item only", () =>
    Effect.gen(function*() {
      const results = yield* Chain.run(products, [
        { sku: "K1", text: "kettle" },
        { sku: "X", txt: "typo" },
        { sku: "H2", text: "headphones" }
      ])
      assert.deepStrictEqual(results.map((r) => r.status), ["complete", "failed", "complete"])
      const failure = results[1]!.failure!
      assert.strictEqual(failure.step, "extract")
      assert.strictEqual(failure.error, "ChainError")
      assert.include(failure.message, "InvalidInput (item 1)")
      assert.include(failure.message, `["text"]`)
    }).pipe(Effect.provide(productEngine)))

  it.effect("a step output that does not decode is a per-item StructuredOutputError; repair asks again", () =>
    Effect.gen(function*() {
      const chain = Chain.make({
        name: "c",
        steps: [Chain.llm({ id: "a", input: Raw, output: Attr, prompt: "{{text}}", repair: 1 })]
      })
      const engine = ScriptedEngine.layer({
        reply: (request) =>
          request.text.includes("bad") && !request.text.includes("does not match")
            ? { object: { brand: 1 } }
            : request.text.includes("never")
            ? { object: { nope: true } }
            : fixed("ok")
      })
      const events = Chunk.toArray(
        yield* Stream.runCollect(Chain.stream(chain, [{ sku: "1", text: "bad" }, { sku: "2", text: "never" }])).pipe(
          Effect.provide(engine)
        )
      )
      const retries = events.filter((e) => e._tag === "Retry")
      assert.strictEqual(retries.length, 2)
      const errors = events.filter((e): e is Event.Of<"StepError"> => e._tag === "StepError")
      assert.strictEqual(errors.length, 1)
      assert.strictEqual(errors[0]!.item, 1)
      assert.strictEqual(errors[0]!.error, "StructuredOutputError")
      const ends = events.filter((e): e is Event.Of<"StepEnd"> => e._tag === "StepEnd")
      assert.deepStrictEqual(ends.map((e) => e.item), [0])
    }))

  it.live("retryable engine errors are retried with Retry events; the rest fail the item", () =>
    Effect.gen(function*() {
      const chain = Chain.make({
        name: "c",
        steps: [Chain.llm({ id: "a", input: Raw, output: Attr, prompt: "{{text}}" })]
      })
      const status = (code: number) =>
        new AiError.HttpResponseError({
          module: "test",
          method: "generateText",
          reason: "StatusCode",
          request: { method: "POST", url: "u", urlParams: [], hash: Option.none(), headers: {} },
          response: { status: code, headers: {} }
        })
      const engine = ScriptedEngine.layer({ failures: { 1: status(503), 2: status(502) }, reply: () => fixed("ok") })
      const events = Chunk.toArray(
        yield* Stream.runCollect(Chain.stream(chain, [{ sku: "1", text: "x" }], { retry: 2, retryDelayMs: 1 })).pipe(
          Effect.provide(engine)
        )
      )
      assert.deepStrictEqual(events.filter((e) => e._tag === "Retry").map((e) => (e as Event.Of<"Retry">).attempt), [
        1,
        2
      ])
      assert.strictEqual(events.filter((e) => e._tag === "StepEnd").length, 1)
      const noRetry = ScriptedEngine.layer({ failures: { 1: status(400) }, reply: () => fixed("ok") })
      const results = yield* Chain.run(chain, [{ sku: "1", text: "x" }]).pipe(Effect.provide(noRetry))
      assert.strictEqual(results[0]!.status, "failed")
      assert.strictEqual(results[0]!.failure!.error, "HttpResponseError")
    }))

  it.effect("pure steps: a filter drops items, a batch step gets batches, a throwing step fails its items", () =>
    Effect.gen(function*() {
      const Num = Schema.Struct({ value: Schema.Number })
      const batches: Array<number> = []
      const chain = Chain.make({
        name: "nums",
        steps: [
          Chain.apply("even", (n: typeof Num.Type) => n.value % 2 === 0 ? n : undefined, { input: Num }),
          Chain.apply(
            "scale",
            (ns: ReadonlyArray<typeof Num.Type>) => {
              batches.push(ns.length)
              return ns.map((n) => ({ value: n.value * 10 }))
            },
            { batch: true, batchSize: 3, input: Num, output: Num }
          ),
          Chain.apply("check", (n: typeof Num.Type) => {
            if (n.value === 40) throw new Error("forty")
            return n
          })
        ]
      })
      const results = yield* Chain.run(chain, Array.from({ length: 10 }, (_, i) => ({ value: i })))
      assert.deepStrictEqual(results.map((r) => r.status), [
        "complete",
        "filtered",
        "complete",
        "filtered",
        "failed",
        "filtered",
        "complete",
        "filtered",
        "complete",
        "filtered"
      ])
      assert.deepStrictEqual(results.filter((r) => r.status === "complete").map((r) => r.output), [
        { value: 0 },
        { value: 20 },
        { value: 60 },
        { value: 80 }
      ])
      assert.deepStrictEqual(batches.reduce((a, b) => a + b, 0), 5)
      assert.isTrue(batches.every((n) => n <= 3))
      assert.strictEqual(results[4]!.failure!.step, "check")
      assert.include(results[4]!.failure!.message, "ApplyFailed")
      assert.include(results[4]!.failure!.message, "forty")
    }))

  it.effect("a batch step that returns the wrong number of results fails the batch's items", () =>
    Effect.gen(function*() {
      const chain = Chain.make({
        name: "b",
        steps: [
          Chain.apply("bad", (xs: ReadonlyArray<unknown>) => xs.length === 2 ? [99] : xs, {
            batch: true,
            batchSize: 2
          })
        ]
      })
      const results = yield* Chain.run(chain, [1, 2, 3])
      assert.deepStrictEqual(results.map((r) => r.status), ["failed", "failed", "complete"])
      assert.include(results[0]!.failure!.message, "InvalidOutput")
      assert.include(results[0]!.failure!.message, "2 inputs, got 1 results")
    }))

  it.effect("a batch step returning a shorter list of its inputs keeps those and drops the others (Chainette)", () =>
    Effect.gen(function*() {
      const Answer = Schema.Struct({ answer: Schema.String, confidence: Schema.Number })
      const filterLowConfidence = (items: ReadonlyArray<typeof Answer.Type>) =>
        items.filter((item) => item.confidence > 0.7)
      const chain = Chain.make({
        name: "qa",
        steps: [Chain.apply("filter_low_confidence", filterLowConfidence, { batch: true, batchSize: 3, input: Answer })]
      })
      const rows = [0.9, 0.2, 0.8, 0.1, 0.75].map((confidence, i) => ({ answer: `a${i}`, confidence }))
      const results = yield* Chain.run(chain, rows)
      assert.deepStrictEqual(results.map((r) => r.status), ["complete", "filtered", "complete", "filtered", "complete"])
      assert.deepStrictEqual(results[2]!.output, { answer: "a2", confidence: 0.8 })
      // inside a branch a batch step gets one item at a time: an empty list drops it
      const branched = Chain.make({
        name: "qa2",
        steps: [[
          Chain.branch({
            name: "b",
            steps: [Chain.apply("keep", filterLowConfidence, { batch: true, input: Answer })]
          }).as("kept")
        ]]
      })
      const inBranch = yield* Chain.run(branched, rows.slice(0, 2))
      assert.deepStrictEqual(inBranch.map((r) => r.outputs.keep), [{ answer: "a0", confidence: 0.9 }, undefined])
    }))

  it.effect("a step whose input schema cannot take the previous step's output fails when the chain is built", () =>
    Effect.sync(() => {
      const Q = Schema.Struct({ text: Schema.String })
      const A = Schema.Struct({ answer: Schema.String, confidence: Schema.Number })
      const T = Schema.Struct({ translated: Schema.String })
      const qa = Chain.llm({ id: "qa", input: Q, output: A, prompt: "{{text}}" })
      const agg = Chain.llm({ id: "agg", input: T, output: T, prompt: "{{translated}}" })
      const missing = errorOf(Chain.check(Chain.make({ name: "c", steps: [qa, agg] as ReadonlyArray<Chain.Step> })))
      assert.strictEqual(missing.reason, "IncompatibleInput")
      assert.strictEqual(missing.step, "agg")
      assert.include(
        missing.description,
        `field "translated" is required here, and the previous step does not output it`
      )
      const Wrong = Schema.Struct({ answer: Schema.Number })
      const kinds = Chain.llm({ id: "k", input: Wrong, output: Wrong, prompt: "{{answer}}" })
      const kind = errorOf(Chain.check(Chain.make({ name: "c", steps: [qa, kinds] as ReadonlyArray<Chain.Step> })))
      assert.include(kind.description, `field "answer": the previous step outputs string, this step expects number`)
      // a looser input (fewer fields, optional ones, a refinement of the same kind) is accepted
      const Loose = Schema.Struct({ answer: Schema.NonEmptyString, extra: Schema.optional(Schema.String) })
      const ok = Chain.make({
        name: "ok",
        steps: [qa, Chain.llm({ id: "l", input: Loose, output: T, prompt: "{{answer}}" })]
      })
      assert.isTrue(Either.isRight(Chain.check(ok)))
      // and at the type level: the same chain written as a tuple does not compile
      // @ts-expect-error: agg's input type does not accept qa's output type
      Chain.make({ name: "c", steps: [qa, agg] })
    }))

  it.effect("the pure-function join demo: branches joined under aliases", () =>
    Effect.gen(function*() {
      const { chain } = yield* Effect.promise(() => import("../examples/chains/join.js"))
      const results = yield* Chain.run(chain, [{ value: 3 }, { value: 7 }])
      assert.deepStrictEqual(results.map((r) => r.output), [
        { value: 3, inc: 4, dec: 2, product: 8 },
        { value: 7, inc: 8, dec: 6, product: 48 }
      ])
      assert.deepStrictEqual(results[0]!.outputs.inc, { value: 4 })
    }))

  it.effect("a chain compiles to a Pipeline step", () =>
    Effect.gen(function*() {
      const { chain } = yield* Effect.promise(() => import("../examples/chains/join.js"))
      const pipeline = Chain.toPipeline(chain).map("value", (r) => Effect.succeed(r.output))
      const out = yield* Stream.runCollect(pipeline.execute([{ id: "a", index: 0, data: { value: 5 } }]))
      assert.deepStrictEqual(Chunk.toArray(out), [{ value: 5, inc: 6, dec: 4, product: 24 }])
    }))

  it.effect("without a LanguageModel or a registry engine, an LLM chain fails with NoEngine", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Chain.run(products, [{ sku: "1", text: "x" }]))
      assert.strictEqual(error.reason, "NoEngine")
      assert.strictEqual(error.step, "extract")
      assert.include(error.description, `"llama3"`)
    }))

  it.scoped("engines resolve through the EngineRegistry by name, else to the LanguageModel in context", () =>
    Effect.gen(function*() {
      const registry = EngineRegistry.layer({ engines: [{ name: "llama3", backend: "dry-run" }] }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
      const resolved = yield* Chain.resolveEngines(products, { to_es: "llama3" }).pipe(
        Effect.provide(Layer.merge(registry, DryRun.layer()))
      )
      assert.deepStrictEqual(
        [...resolved.values()].map((e) => `${e.step}:${Chain.engineKey(e)}`),
        [
          "extract:registry:llama3",
          "to_fr:context",
          "to_es:registry:llama3",
          "title:context"
        ]
      )
      const results = yield* Chain.run(products, [{ sku: "1", text: "kettle" }]).pipe(
        Effect.provide(Layer.merge(registry, DryRun.layer()))
      )
      assert.strictEqual(results[0]!.status, "complete")
    }))

  it.live("engineConcurrency bounds the calls in flight per engine", () =>
    Effect.gen(function*() {
      let inFlight = 0
      let peak = 0
      const engine = ScriptedEngine.layer({
        reply: () =>
          Effect.gen(function*() {
            inFlight++
            peak = Math.max(peak, inFlight)
            yield* Effect.sleep("10 millis")
            inFlight--
            return fixed("x")
          })
      })
      const chain = Chain.make({
        name: "c",
        steps: [Chain.llm({ id: "a", input: Raw, output: Attr, engine: "slow", prompt: "{{text}}" })]
      })
      const inputs = Array.from({ length: 12 }, (_, i) => ({ sku: String(i), text: "x" }))
      yield* Chain.run(chain, inputs, { concurrency: 8, engineConcurrency: { slow: 2 } }).pipe(Effect.provide(engine))
      assert.strictEqual(peak, 2)
      peak = 0
      yield* Chain.run(chain, inputs, { concurrency: 8 }).pipe(Effect.provide(engine))
      assert.isAbove(peak, 2)
    }))

  it.effect("runs on the dry-run engine: outputs decode with their schemas", () =>
    Effect.gen(function*() {
      const results = yield* Chain.run(products, [{ sku: "1", text: "kettle" }, { sku: "2", text: "phone" }])
      assert.deepStrictEqual(results.map((r) => r.status), ["complete", "complete"])
      for (const r of results) {
        assert.isTrue(Schema.is(Attr)(r.outputs.extract))
        assert.isTrue(Schema.is(Attr)(r.outputs.to_fr))
      }
    }).pipe(Effect.provide(DryRun.layer())))
})
