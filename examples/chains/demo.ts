/**
 * The chain demo: the product example (`products.ts`: extraction, two translation branches joined, a listing
 * title and a catalogue entry) run by the `Runner` over `data/products.jsonl` on the offline `dry-run` engine, then
 * a look at the artefacts it wrote.
 *
 *   npx tsx examples/chains/demo.ts [output folder]     (default out/demo/products; `--resume` keeps what is there)
 *
 * Run it twice with `--resume`: the second run finds every item complete and skips them all.
 */
import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import * as Chain from "sluice/Chain"
import * as DryRun from "sluice/engines/DryRun"
import * as Runner from "sluice/Runner"
import { chain } from "./products.js"

const args = process.argv.slice(2)
const resume = args.includes("--resume")
const output = args.find((arg) => !arg.startsWith("--")) ?? "out/demo/products"
const input = new URL("./data/products.jsonl", import.meta.url).pathname

const program = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  if (!resume) yield* fs.remove(output, { recursive: true }).pipe(Effect.ignore)
  yield* Console.log(`sluice chain demo: ${input} → ${output} (dry-run engine)\n`)
  yield* Console.log(Chain.toTree(chain))

  const summary = yield* Runner.run(chain, {
    input,
    output,
    key: "sku",
    concurrency: 4,
    onStart: (plan) =>
      Console.log(
        `run ${plan.runId.slice(0, 8)}: ${plan.total} items, ${plan.resumed} already complete` +
          (plan.invalidated.length > 0 ? `, re-running ${plan.invalidated.join(", ")}` : "")
      ),
    onEvent: (event) =>
      event._tag === "StepEnd" && event.path[1] === "catalogue" && event.output !== undefined
        ? Console.log(`  ✓ item ${event.item}: ${JSON.stringify(event.output).slice(0, 100)}…`)
        : event._tag === "StepError"
        ? Console.log(`  ✗ item ${event.item} at ${event.path[1]}: ${event.message}`)
        : Effect.void
  })

  yield* Console.log(
    `\n${summary.done} done, ${summary.resumed} resumed, ${summary.filtered} filtered, ${summary.failed} failed ` +
      `in ${summary.durationMs} ms`
  )
  yield* Console.log("\nper step:")
  for (const [id, s] of Object.entries(summary.steps)) {
    yield* Console.log(
      `  ${id.padEnd(10)} done ${String(s.done).padStart(3)}  errors ${s.errors}  p50 ${s.latencyMs.p50} ms  ` +
        `p95 ${s.latencyMs.p95} ms  tokens ${s.tokens.total}`
    )
  }

  const inspection = yield* Runner.inspect(output)
  yield* Console.log(`\nartefacts in ${output}:`)
  yield* Console.log("  graph.json      the chain, engines, schemas, configuration hashes, run metadata")
  yield* Console.log("  metrics.json    per-step counts, latency percentiles and tokens")
  for (const [id, s] of Object.entries(inspection.steps)) {
    yield* Console.log(`  ${`${id}/`.padEnd(15)} ${s.records} records in ${s.files} file(s)`)
  }
  yield* Console.log(
    `  ${"flattened/".padEnd(15)} ${inspection.flattened.records} rows (one per item, every step's output)`
  )
  yield* Console.log(`  ${"errors/".padEnd(15)} ${inspection.errors.total} records`)

  const first = (yield* fs.readFileString(`${output}/flattened/000.jsonl`)).split("\n")[0] ?? ""
  yield* Console.log(`\nfirst flattened row:\n  ${first.slice(0, 400)}${first.length > 400 ? "…" : ""}`)
})

program.pipe(
  Effect.provide(Layer.merge(DryRun.layer({ latency: "30 millis" }), NodeContext.layer)),
  Effect.runPromise
).catch((error) => {
  console.error(String(error))
  process.exitCode = 1
})
