/**
 * One measured run for `chain.bench.ts`, in a fresh process so that its peak RSS is its own:
 * `node --import tsx bench/chain.child.ts <input.jsonl> <output dir> [concurrency]`.
 * Runs the benchmark chain (see {@link chain}) over the input with `Runner.run` on the dry-run engine (no latency)
 * and prints one JSON line: `{ rows, ms, maxRssMb }` (`ms` is the run alone, module loading excluded).
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { fileURLToPath } from "node:url"
import * as Chain from "../src/Chain.js"
import * as DryRun from "../src/engines/DryRun.js"
import * as Runner from "../src/Runner.js"

export const Product = Schema.Struct({ sku: Schema.String, title: Schema.String, description: Schema.String })
export const Category = Schema.Struct({
  category: Schema.Literal("home", "office", "garden"),
  confidence: Schema.Number.pipe(Schema.finite())
})
export const Flag = Schema.Struct({ flag: Schema.Boolean })

/** The benchmark chain: an LLM step, a pure step, an LLM step. */
export const chain = Chain.make({
  name: "bench",
  steps: [
    Chain.llm({
      id: "classify",
      input: Product,
      output: Category,
      prompt: "Classify {{title}}: {{description}}"
    }),
    Chain.apply("upper", (c: typeof Category.Type) => ({ ...c, label: c.category.toUpperCase() })),
    Chain.llm({
      id: "review",
      input: Category,
      output: Flag,
      prompt: "Is {{category}} right for {{chain_input.title}}?"
    })
  ]
})

export const runChain = (input: string, output: string, concurrency: number, latencyMs = 0) =>
  Runner.run(chain, { input, output, key: "sku", concurrency, count: false }).pipe(
    Effect.provide(Layer.merge(DryRun.layer(latencyMs > 0 ? { latency: latencyMs } : {}), NodeContext.layer)),
    Effect.runPromise
  )

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [input, output, c] = process.argv.slice(2) as [string, string, string | undefined]
  const start = performance.now()
  const summary = await runChain(input, output, Number(c ?? 16))
  const ms = performance.now() - start
  process.stdout.write(
    `${
      JSON.stringify({
        rows: summary.done,
        failed: summary.failed,
        ms,
        maxRssMb: process.resourceUsage().maxRSS / 1024
      })
    }\n`
  )
}
