/**
 * `sluice run --split` and `--csv`, in process: a Hugging Face folder with two splits, CSV copies of the outputs.
 */
import * as Command from "@effect/cli/Command"
import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as Run from "../../src/cli/Run.js"
import * as Dataset from "../../src/Dataset.js"

const chain = "test/fixtures/cli/chain.ts:chain"

const run = (...args: ReadonlyArray<string>) =>
  Command.run(Run.command, { name: "sluice", version: "0.0.0" })(["node", "sluice", ...args])

const products = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => JSON.stringify({ id: `sku-${from + i}`, title: `Item ${i}`, price: i }))
    .join("\n") + "\n"

const csvRows = (path: string) =>
  Stream.runCollect(Dataset.stream(path)).pipe(
    Effect.map((items) => Chunk.toReadonlyArray(items).filter(Dataset.isRow).map((row) => row.data))
  )

describe("sluice run: --split and --csv", () => {
  it.live(
    "reads the named split of a Hugging Face folder and writes CSV copies next to the JSONL outputs",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-cli-formats-" })
        yield* fs.makeDirectory(`${dir}/hf`)
        yield* fs.writeFileString(`${dir}/hf/train.jsonl`, products(0, 4))
        yield* fs.writeFileString(`${dir}/hf/test.jsonl`, products(100, 2))

        yield* run(chain, "-i", `${dir}/hf`, "-o", `${dir}/test`, "--split", "test", "--key", "id", "--csv", "--quiet")
        const flattened = yield* csvRows(`${dir}/test/flattened/000.csv`)
        assert.deepStrictEqual(flattened.map((row) => row._id).sort(), ["sku-100", "sku-101"])
        assert.isTrue(yield* fs.exists(`${dir}/test/extract/000.csv`))
        assert.include(yield* fs.readFileString(`${dir}/test/extract/000.csv`), "\r\n")
        const recorded = JSON.parse(yield* fs.readFileString(`${dir}/test/graph.json`)).run.options
        assert.strictEqual(recorded.split, "test")
        assert.strictEqual(recorded.csv, true)

        yield* run(chain, "-i", `${dir}/hf`, "-o", `${dir}/train`, "--quiet")
        assert.strictEqual((yield* fs.readFileString(`${dir}/train/flattened/000.jsonl`)).trim().split("\n").length, 4)
        assert.isFalse(yield* fs.exists(`${dir}/train/flattened/000.csv`))
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)),
    120_000
  )
})
