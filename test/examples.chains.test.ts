/**
 * The Chainette examples in sluice form (examples/chains/), run by the `Runner` on the offline `dry-run` engine:
 * every item done, each step's records present and valid for its output schema.
 */
import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as QuickStart from "../examples/chains/quickstart.js"
import * as Translate from "../examples/chains/translate.js"
import type * as Chain from "../src/Chain.js"
import * as DryRun from "../src/engines/DryRun.js"
import * as Runner from "../src/Runner.js"

const data = (file: string) => new URL(`../examples/chains/data/${file}`, import.meta.url).pathname

const records = (dir: string, step: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const files = (yield* fs.readDirectory(`${dir}/${step}`)).filter((f) => f.endsWith(".jsonl")).sort()
    const texts = yield* Effect.forEach(files, (file) => fs.readFileString(`${dir}/${step}/${file}`))
    return texts.flatMap((text) => text.split("\n").filter((line) => line !== "")).map((line) =>
      JSON.parse(line) as Record<string, unknown>
    )
  })

const run = (chain: Chain.Chain, input: string, key: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const output = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-examples-" })
    const summary = yield* Runner.run(chain, { input, output, key })
    return { output, summary }
  })

const valid = (schema: Schema.Schema<any, any>, rows: ReadonlyArray<Record<string, unknown>>) => {
  for (const { _id, ...value } of rows) {
    assert.isTrue(
      Schema.decodeUnknownEither(schema)(value)._tag === "Right",
      `${String(_id)}: ${JSON.stringify(value)}`
    )
  }
}

const layer = Layer.merge(DryRun.layer(), NodeContext.layer)

describe("examples/chains", () => {
  it.scoped(
    "quickstart: every question answered with a valid Answer; the filtered chain keeps the confident ones",
    () =>
      Effect.gen(function*() {
        const qa = yield* run(QuickStart.chain, data("questions.jsonl"), "id")
        assert.strictEqual(qa.summary.done, 4)
        assert.strictEqual(qa.summary.failed, 0)
        const answers = yield* records(qa.output, "qa")
        assert.deepStrictEqual(answers.map((r) => r._id).sort(), ["q1", "q2", "q3", "q4"])
        valid(QuickStart.Answer, answers)

        const confident = yield* run(QuickStart.confident, data("questions.jsonl"), "id")
        assert.strictEqual(confident.summary.failed, 0)
        assert.strictEqual(confident.summary.done + confident.summary.filtered, 4)
        const kept = yield* records(confident.output, "filter_low_confidence")
        valid(QuickStart.Answer, kept)
        for (const row of kept) assert.isAbove(row.confidence as number, 0.7)
        assert.strictEqual(kept.length, confident.summary.done)
      }).pipe(Effect.provide(layer)),
    120_000
  )

  it.scoped("translate: two branches joined as fr and es, then a step reading both", () =>
    Effect.gen(function*() {
      const { output, summary } = yield* run(Translate.chain, data("articles.jsonl"), "id")
      assert.strictEqual(summary.failed, 0)
      assert.isAbove(summary.done, 0)
      for (const step of ["translate_french", "translate_spanish"]) {
        const rows = yield* records(output, step)
        assert.strictEqual(rows.length, summary.done)
        valid(Translate.Translation, rows)
      }
      const summaries = yield* records(output, "agg")
      assert.strictEqual(summaries.length, summary.done)
      valid(Translate.Summary, summaries)
      const flattened = yield* records(output, "flattened")
      assert.strictEqual(flattened.length, summary.done)
      assert.containsAllKeys(flattened[0]!, [
        "translate_french.translated",
        "translate_spanish.translated",
        "agg.summary"
      ])
    }).pipe(Effect.provide(layer)), 120_000)
})
