import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Layer, Stream } from "effect"
import * as Durable from "../src/Durable.js"
import { DurableError } from "../src/DurableError.js"
import * as DryRun from "../src/engines/DryRun.js"
import * as Runner from "../src/Runner.js"
import * as Writer from "../src/Writer.js"
import { chain } from "./fixtures/chains/items.js"

const rows = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    sku: `S${String(i).padStart(4, "0")}`,
    name: `item ${i}`,
    colour: i % 2 === 0 ? "red" : "blue"
  }))

const ids = (dir: string, step: string) =>
  Effect.map(
    Stream.runCollect(Writer.read({ dir, step })),
    (chunk) => Chunk.toArray(chunk).map((r) => String((r as { _id: unknown })._id))
  )

const env = Layer.mergeAll(Durable.layerMemory, DryRun.layer(), NodeContext.layer)

describe("Durable (in-memory workflow engine)", () => {
  it.scoped("runs a chain in chunks and exports a run folder Runner.inspect reads, each row once", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-durable-" })
      const input = rows(250)
      const summary = yield* Durable.run(chain, {
        input,
        key: "sku",
        output: `${dir}/out`,
        concurrency: 16,
        chunkSize: 40,
        chunksInFlight: 3
      })
      assert.strictEqual(summary.status, "success")
      assert.strictEqual(summary.total, 250)
      assert.strictEqual(summary.done, 250)
      assert.strictEqual(summary.failed, 0)
      assert.strictEqual(summary.steps.describe!.done, 250)
      const expected = input.map((r) => r.sku)
      for (const step of ["describe", "upper", "tag", "flattened"]) {
        assert.deepStrictEqual(yield* ids(`${dir}/out`, step), expected, step)
      }
      const inspection = yield* Runner.inspect(`${dir}/out`)
      assert.strictEqual(inspection.flattened.records, 250)
      assert.strictEqual(inspection.status, "success")
      assert.strictEqual(inspection.steps.tag!.records, 250)
    }).pipe(Effect.provide(env)))

  it.scopedLive("kill stops a run from the store (DurableError Killed); submitting it again resumes it, each row once", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-durable-" })
      const input = rows(200)
      const started = yield* Deferred.make<void>()
      let finished = 0
      const options: Durable.Options = {
        input,
        key: "sku",
        output: `${dir}/out`,
        runId: "kill-test",
        concurrency: 4,
        chunkSize: 50,
        chunksInFlight: 2,
        progressIntervalMs: 50,
        onEvent: (event) =>
          event._tag === "StepEnd" && event.path[1] === "tag" && ++finished >= 20
            ? Deferred.succeed(started, undefined)
            : Effect.void
      }
      const fiber = yield* Effect.fork(Durable.run(chain, options))
      yield* Deferred.await(started)
      yield* Durable.kill("kill-test")
      const killed = yield* Effect.flip(Fiber.join(fiber))
      assert.instanceOf(killed, DurableError)
      assert.strictEqual((killed as DurableError).reason, "Killed")
      const status = yield* Durable.status("kill-test")
      assert.strictEqual(status.status, "killed")
      assert.isBelow(status.flattened, 200)

      const summary = yield* Durable.run(chain, { ...options, onEvent: undefined })
      assert.strictEqual(summary.status, "success")
      assert.isAtLeast(summary.resumed, 20)
      assert.strictEqual(summary.done + summary.resumed, 200)
      for (const step of ["describe", "upper", "tag", "flattened"]) {
        assert.deepStrictEqual(yield* ids(`${dir}/out`, step), input.map((r) => r.sku), step)
      }
      const after = yield* Durable.status("kill-test")
      assert.strictEqual(after.status, "complete")
      assert.strictEqual(after.attempt, 2)
    }).pipe(
      Effect.provide(Layer.mergeAll(Durable.layerMemory, DryRun.layer({ latency: "10 millis" }), NodeContext.layer))
    ))

  it.effect("status and kill of an unknown run fail with UnknownRun", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Durable.status("no-such-run"))
      assert.strictEqual(error.reason, "UnknownRun")
      const killError = yield* Effect.flip(Durable.kill("no-such-run"))
      assert.strictEqual(killError.reason, "UnknownRun")
    }).pipe(Effect.provide(env)))

  it.scoped("malformed rows become error records; a run resubmitted after it completed is not run again", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-durable-" })
      const input = [...rows(30), { name: "no sku", colour: "red" }]
      const options: Durable.Options = { input, key: "sku", output: `${dir}/out`, chunkSize: 10 }
      const first = yield* Durable.run(chain, options)
      assert.strictEqual(first.done, 30)
      assert.strictEqual(first.malformed, 1)
      assert.strictEqual(first.failed, 1)
      const inspection = yield* Runner.inspect(`${dir}/out`)
      assert.strictEqual(inspection.errors.total, 1)
      assert.strictEqual(inspection.errors.byStep.input, 1)
      const again = yield* Durable.run(chain, options)
      assert.strictEqual(again.resumed, 30)
      assert.strictEqual(again.done, 0)
      assert.deepStrictEqual(
        yield* ids(`${dir}/out`, "flattened"),
        input.slice(0, 30).map((r) => (r as { sku: string }).sku)
      )
    }).pipe(Effect.provide(env)))
})
