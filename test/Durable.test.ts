import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import * as Durable from "../src/Durable.js"
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
})
