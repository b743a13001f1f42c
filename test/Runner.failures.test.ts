/**
 * Run-wide failure detection and truthful records across resumes.
 */
import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import * as Chain from "../src/Chain.js"
import * as EngineError from "../src/EngineError.js"
import type * as Event from "../src/Event.js"
import * as FailFast from "../src/internal/runner/failFast.js"
import * as Runner from "../src/Runner.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import * as Writer from "../src/Writer.js"
import { chain } from "./fixtures/chains/items.js"

const items = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ sku: `S${String(i).padStart(3, "0")}`, name: `item${i}`, colour: "red" }))

const aiError = (error: EngineError.EngineError) =>
  EngineError.toAiError(error, {
    method: "streamText",
    request: { method: "POST", url: "http://localhost:1/v1/chat/completions", headers: {} },
    response: { status: error.status ?? 500, headers: {} }
  })

/** An engine answering like the Runner tests' one, or failing every call with `failure` while `failing()` holds. */
const engine = (failure: () => EngineError.EngineError | undefined) =>
  ScriptedEngine.layer({
    reply: (request) => {
      const error = failure()
      if (error !== undefined) return Effect.fail(aiError(error))
      const user = request.text.split("\n").find((line) => line.startsWith("user: "))?.slice(6) ?? ""
      return user.startsWith("tag ") ? { object: { tag: `tag:${user.slice(4)}` } } : { object: { text: user } }
    }
  })

const unauthorized = new EngineError.EngineError({
  engine: "local",
  reason: "Unauthorized",
  status: 401,
  description: "invalid api key"
})

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "sluice-fail-" }))

const readJson = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.map((text) => JSON.parse(text) as Record<string, any>)
  )

const records = (dir: string, step: string) =>
  Effect.map(Stream.runCollect(Writer.read({ dir, step })), (c) => Chunk.toArray(c) as Array<Record<string, any>>)

describe("FailFast", () => {
  it("classifies run-wide causes and stops at the threshold, any finished item resetting the count", () => {
    const refused = { step: "s", error: "HttpRequestError", message: "connect ECONNREFUSED 127.0.0.1:9" }
    assert.deepStrictEqual(FailFast.classify(refused).runWide, true)
    assert.strictEqual(FailFast.classify(refused).label, "connection refused")
    assert.strictEqual(
      FailFast.classify({ step: "s", error: "x", message: "getaddrinfo ENOTFOUND nowhere.invalid" }).label,
      "host not found (DNS)"
    )
    const auth = { step: "s", error: "HttpResponseError", message: "m", cause: aiError(unauthorized) }
    assert.strictEqual(FailFast.classify(auth).label, "the engine refused the credentials (HTTP 401)")
    const model = new EngineError.EngineError({
      engine: "e",
      reason: "BadRequest",
      status: 404,
      description: "The model `qwen9` does not exist"
    })
    assert.strictEqual(
      FailFast.classify({ step: "s", error: "x", message: "m", cause: aiError(model) }).label,
      "unknown model (HTTP 404)"
    )
    assert.strictEqual(
      FailFast.classify({ step: "input", error: "Malformed", message: "the row has no key \"sku\"" }).label,
      "no row has the key column \"sku\""
    )
    const other = FailFast.classify({ step: "s", error: "Boom", message: "item 3 broke" })
    assert.isFalse(other.runWide)
    assert.strictEqual(other.key, FailFast.classify({ step: "s", error: "Boom", message: "item 41 broke" }).key)

    const detector = FailFast.make(3)
    assert.isUndefined(detector.fail(refused))
    assert.isUndefined(detector.fail(refused))
    detector.succeed()
    assert.isUndefined(detector.fail(refused))
    assert.isUndefined(detector.fail(refused))
    assert.match(detector.fail(refused)!, /^connection refused: 3 items in a row failed at s: connect ECONNREFUSED/)
    const never = FailFast.make(0)
    for (let i = 0; i < 100; i++) assert.isUndefined(never.fail(refused))
    const flaky = FailFast.make(3)
    for (let i = 0; i < 49; i++) assert.isUndefined(flaky.fail({ step: "s", error: "Boom", message: `item ${i}` }))
    assert.match(flaky.fail({ step: "s", error: "Boom", message: "item 50" })!, /^every item failed the same way: 50/)
  })
})

describe("Runner: run-wide failures", () => {
  it.scoped("refused credentials stop the run early: RunFailed, status failure and the cause recorded", () =>
    Effect.gen(function*() {
      const out = `${yield* tempDir}/out`
      const seen: Array<Event.Event> = []
      const error = yield* Effect.flip(Runner.run(chain, {
        input: items(200),
        output: out,
        key: "sku",
        concurrency: 4,
        onEvent: (event) => Effect.sync(() => seen.push(event))
      }))
      assert.strictEqual(error.reason, "RunFailed")
      assert.strictEqual(error.step, "describe")
      assert.match(error.description, /^the engine refused the credentials \(HTTP 401\): 10 items in a row failed/)
      const errors = yield* records(out, "errors")
      assert.isAtLeast(errors.length, 10)
      assert.isBelow(errors.length, 200)
      const graph = yield* readJson(`${out}/graph.json`)
      assert.strictEqual(graph.run.status, "failure")
      assert.match(graph.run.cause, /^the engine refused the credentials/)
      const metrics = yield* readJson(`${out}/metrics.json`)
      assert.strictEqual(metrics.status, "failure")
      const end = seen.at(-1)!
      assert.strictEqual(end._tag, "RunEnd")
      assert.strictEqual(end._tag === "RunEnd" && end.status, "failure")
      assert.match(end._tag === "RunEnd" ? end.cause ?? "" : "", /refused the credentials/)
      const inspection = yield* Runner.inspect(out)
      assert.strictEqual(inspection.status, "failure")
      assert.match(inspection.cause ?? "", /refused the credentials/)
    }).pipe(Effect.provide(Layer.merge(engine(() => unauthorized), NodeContext.layer))))

  it.scoped("a key column no row has stops the run at the threshold; stopAfterFailures configures it", () =>
    Effect.gen(function*() {
      const out = `${yield* tempDir}/out`
      const error = yield* Effect.flip(
        Runner.run(chain, { input: items(100), output: out, key: "id", stopAfterFailures: 5 })
      )
      assert.strictEqual(error.reason, "RunFailed")
      assert.strictEqual(error.step, "input")
      assert.match(error.description, /^no row has the key column "id": 5 items in a row failed at input/)
      const kept = yield* Runner.run(chain, { input: items(30), output: `${out}2`, key: "id", stopAfterFailures: 0 })
      assert.strictEqual(kept.malformed, 30)
    }).pipe(Effect.provide(Layer.merge(engine(() => undefined), NodeContext.layer))))

  it.scoped("a pure step failing every item the same way stops after 50; one failing every other item never stops", () =>
    Effect.gen(function*() {
      const out = `${yield* tempDir}/out`
      const always = Chain.make({
        name: "always",
        steps: [Chain.apply("boom", (row: { readonly n: number }): number => {
          throw new Error(`row ${row.n} broke`)
        })]
      })
      const rows = Array.from({ length: 200 }, (_, n) => ({ n }))
      const error = yield* Effect.flip(Runner.run(always, { input: rows, output: out, concurrency: 1 }))
      assert.strictEqual(error.reason, "RunFailed")
      assert.match(error.description, /^every item failed the same way: 50 items in a row failed at boom/)
      const half = Chain.make({
        name: "half",
        steps: [Chain.apply("odd", (row: { readonly n: number }): number => {
          if (row.n % 2 === 1) throw new Error(`row ${row.n} is odd`)
          return row.n
        })]
      })
      const summary = yield* Runner.run(half, { input: rows, output: `${out}2`, concurrency: 1 })
      assert.deepStrictEqual([summary.status, summary.done, summary.failed], ["success", 100, 100])
    }).pipe(Effect.provide(Layer.merge(engine(() => undefined), NodeContext.layer))))
})

describe("Runner: truthful records across resumes", () => {
  it.scoped("after the fix, a resume finishes the rest: errors resolved, figures per invocation and in total", () =>
    Effect.gen(function*() {
      const out = `${yield* tempDir}/out`
      let broken = true
      const input = items(40)
      const first = yield* Effect.flip(
        Runner.run(chain, { input, output: out, key: "sku", concurrency: 1 }).pipe(
          Effect.provide(engine(() => broken ? unauthorized : undefined))
        )
      )
      assert.strictEqual(first.reason, "RunFailed")
      const failed = (yield* records(out, "errors")).length
      assert.isAtLeast(failed, 10)
      broken = false
      const second = yield* Runner.run(chain, { input, output: out, key: "sku", concurrency: 4 }).pipe(
        Effect.provide(engine(() => undefined))
      )
      assert.strictEqual(second.status, "success")
      assert.deepStrictEqual([second.done, second.failed], [40, 0])
      assert.deepStrictEqual(
        [second.cumulative.done, second.cumulative.failed, second.cumulative.resolved, second.cumulative.invocations],
        [40, 0, failed, 2]
      )
      assert.strictEqual(second.cumulative.steps.describe!.errors, failed)
      assert.strictEqual(second.cumulative.steps.describe!.done, 40)
      const inspection = yield* Runner.inspect(out)
      assert.strictEqual(inspection.status, "success")
      assert.isUndefined(inspection.cause)
      assert.deepStrictEqual([inspection.errors.total, inspection.errors.resolved], [0, failed])
      assert.deepStrictEqual(inspection.errors.last, [])
      const metrics = yield* readJson(`${out}/metrics.json`)
      assert.strictEqual(metrics.items.done, 40)
      assert.strictEqual(metrics.items.resolved, failed)
      assert.deepStrictEqual(metrics.invocations.map((i: any) => [i.status, i.items.done, i.items.failed]), [
        ["failure", 0, failed],
        ["success", 40, 0]
      ])
      assert.isAbove(metrics.steps.describe.tokens.total, 0)

      // a third run resumes everything: nothing recomputed, the totals unchanged, a third invocation recorded
      const third = yield* Runner.run(chain, { input, output: out, key: "sku" }).pipe(
        Effect.provide(engine(() => undefined))
      )
      assert.deepStrictEqual([third.done, third.resumed, third.cumulative.done], [0, 40, 40])
      assert.strictEqual(third.cumulative.steps.describe!.tokens.total, metrics.steps.describe.tokens.total)
      assert.strictEqual((yield* readJson(`${out}/metrics.json`)).invocations.length, 3)
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("Runner: graceful stop", () => {
  it.live("a consumer that stops early: every item whose last step ended is written, the run is interrupted", () =>
    Effect.gen(function*() {
      const out = `${yield* tempDir}/out`
      const finished = new Set<number>()
      yield* Runner.stream(chain, { input: items(200), output: out, key: "sku", concurrency: 16 }).pipe(
        Stream.tap((event) =>
          Effect.sync(() => {
            if (event._tag === "StepEnd" && event.path.at(-1) === "tag" && event.item !== undefined) {
              finished.add(event.item)
            }
          })
        ),
        Stream.takeUntil(() => finished.size >= 40),
        Stream.runDrain
      )
      const flat = yield* records(out, "flattened")
      const written = new Set(flat.map((r) => r._index as number))
      for (const index of finished) assert.isTrue(written.has(index), `item ${index} finished and was written`)
      assert.isBelow(flat.length, 200)
      assert.strictEqual(new Set(flat.map((r) => r._id)).size, flat.length)
      const inspection = yield* Runner.inspect(out)
      assert.strictEqual(inspection.status, "interrupted")
      assert.strictEqual(inspection.errors.total, 0)
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.merge(
        ScriptedEngine.layer({
          latency: "5 millis",
          reply: (request) => {
            const user = request.text.split("\n").find((line) => line.startsWith("user: "))?.slice(6) ?? ""
            return user.startsWith("tag ") ? { object: { tag: "t" } } : { object: { text: user } }
          }
        }),
        NodeContext.layer
      ))
    ))
})
