/**
 * One measured run for `dataset.bench.ts`, in a fresh process so that its peak RSS is its own:
 * `node --import tsx bench/dataset.child.ts <sluice|floor> <input.jsonl> <output dir>`.
 * Copies every row of the input into rolling JSONL files (100,000 rows per file) and prints one JSON line:
 * `{ rows, ms, maxRssMb }`. Also exports the two copies, which the benchmark runs in its own process.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import * as Dataset from "../src/Dataset.js"
import * as Writer from "../src/Writer.js"

export const MAX_ROWS = 100_000

/** The floor: node streams, readline, JSON.parse / JSON.stringify, one write per 1,000 lines with backpressure. */
export const floor = async (input: string, out: string): Promise<number> => {
  fs.mkdirSync(`${out}/copy`, { recursive: true })
  const lines = readline.createInterface({ input: fs.createReadStream(input), crlfDelay: Infinity })
  let rows = 0
  let inFile = 0
  let file = 0
  let stream = fs.createWriteStream(`${out}/copy/000.jsonl`)
  let batch: Array<string> = []
  const flush = async () => {
    if (batch.length === 0) return
    const ok = stream.write(batch.join(""))
    batch = []
    if (!ok) await new Promise<void>((resolve) => stream.once("drain", () => resolve()))
  }
  const close = () => new Promise<void>((resolve) => stream.end(() => resolve()))
  for await (const line of lines) {
    if (line.length === 0) continue
    const data = JSON.parse(line) as Record<string, unknown>
    if (inFile === MAX_ROWS) {
      await flush()
      await close()
      stream = fs.createWriteStream(`${out}/copy/${String(++file).padStart(3, "0")}.jsonl`)
      inFile = 0
    }
    batch.push(JSON.stringify({ id: String(rows++), ...data }) + "\n")
    inFile++
    if (batch.length === 1000) await flush()
  }
  await flush()
  await close()
  return rows
}

/** sluice: `Dataset.stream` → rows as records keyed by id → `Writer.sink`. */
export const sluice = (input: string, out: string): Promise<number> => {
  let rows = 0
  return Dataset.stream(input).pipe(
    Stream.filter(Dataset.isRow),
    Stream.mapChunks((chunk) => {
      rows += chunk.length
      return chunk
    }),
    Stream.map((row) => ({ id: row.id, ...row.data })),
    Stream.run(Writer.sink({ dir: out, step: "copy", maxRows: MAX_ROWS })),
    Effect.zipRight(Effect.sync(() => rows)),
    Effect.provide(NodeContext.layer),
    Effect.runPromise
  )
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode, input, out] = process.argv.slice(2) as [string, string, string]
  const start = performance.now()
  const rows = mode === "floor" ? await floor(input, out) : await sluice(input, out)
  const ms = performance.now() - start
  process.stdout.write(`${JSON.stringify({ rows, ms, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`)
}
