/**
 * One measured run for the memory suite of `pipeline.bench.ts`, in a fresh process so that its peak RSS is its own:
 * `node --import tsx bench/pipeline-memory.ts <items> <concurrency>`.
 * Streams `items` numbers through `map → batch(50) → unbatch` and prints one JSON line: `{ items, ms, maxRssMb }`
 * (`ms` is the pipeline alone, module loading excluded).
 */
import { Effect, Stream } from "effect"
import * as Pipeline from "../src/Pipeline.js"

const items = Number(process.argv[2] ?? 100_000)
const concurrency = Number(process.argv[3] ?? 1)

const pipeline = Pipeline.start<number>({ name: "memory" })
  .map("square", (n) => Effect.succeed({ n, square: n * n }), { concurrency })
  .batch("batches", 50)
  .unbatch("items")

const start = performance.now()
const count = await Effect.runPromise(Stream.runCount(pipeline.execute(Stream.range(1, items))))
const ms = performance.now() - start
if (count !== items) throw new Error(`expected ${items} items, got ${count}`)
console.log(JSON.stringify({ items: count, ms, maxRssMb: process.resourceUsage().maxRSS / 1024 }))
