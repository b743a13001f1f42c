/**
 * Chains over datasets with the `Runner` (artefacts included: per-step rolling files, flattened rows, metrics).
 *
 * 1. Constant memory: 1e5 and 1e6 generated JSONL rows through a 3-step chain (LLM → pure → LLM) on the `dry-run`
 *    engine with no latency, each run in a fresh child process (`chain.child.ts`) so that its peak RSS is its own.
 *    The summary prints rows/s and checks peak RSS at 1e6 against 1e5 (target: within 15%). One run per size (a
 *    1e6 run takes minutes: every row makes two engine calls through `@effect/ai`'s `LanguageModel`).
 *    `BENCH_CHAIN_CAPPED=1` adds the same runs with the old space capped (the working set without V8's lazy growth).
 * 2. Latency-bound: 20,000 rows through a one-step LLM chain whose engine answers after 50 ms, 256 items in flight,
 *    against a hand-written promise pool (256 workers, each awaiting a 50 ms timer per item) in the same process,
 *    alternating rounds; target: ≥ 90% of the pool's throughput. Two engines: a minimal `LanguageModel` service (a
 *    50 ms sleep and a fixed reply: the runner's own cost) and `dry-run` with 50 ms latency (the whole stack:
 *    `@effect/ai`'s `LanguageModel` wrapper and dry-run's value generation on every call).
 */
import { LanguageModel } from "@effect/ai"
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer, Stream } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Chain from "../src/Chain.js"
import * as DryRun from "../src/engines/DryRun.js"
import * as Runner from "../src/Runner.js"
import { Category, Product } from "./chain.child.js"
import type { Suite } from "./harness.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-chain-"))
process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }))

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits })

// =============================================================================
// 1. constant memory
// =============================================================================

const SMALL = 100_000
const LARGE = 1_000_000

const inputs = new Map<number, string>()

/** A JSONL file of `rows` product records, written once. */
const input = (rows: number): string => {
  const existing = inputs.get(rows)
  if (existing !== undefined) return existing
  const file = path.join(work, `in-${rows}.jsonl`)
  const fd = fs.openSync(file, "w")
  let batch: Array<string> = []
  for (let i = 0; i < rows; i++) {
    batch.push(JSON.stringify({
      sku: `SKU-${i}`,
      title: `Product ${i}`,
      description: `A sturdy, well made thing number ${i} for everyday use in the kitchen or the office.`
    }))
    if (batch.length === 10_000) {
      fs.writeSync(fd, batch.join("\n") + "\n")
      batch = []
    }
  }
  if (batch.length > 0) fs.writeSync(fd, batch.join("\n") + "\n")
  fs.closeSync(fd)
  inputs.set(rows, file)
  return file
}

interface ChildResult {
  readonly rows: number
  readonly failed: number
  readonly ms: number
  readonly maxRssMb: number
}

const results = new Map<string, ChildResult>()

/** Runs one size in a child process; the harness's warm-up call is skipped (a run takes minutes). */
const child = (name: string, rows: number, flags: ReadonlyArray<string> = []) => {
  let calls = 0
  return () => {
    if (calls++ === 0) return
    const file = input(rows)
    const out = path.join(work, `out-${name.replace(/\W+/g, "-")}`)
    const done = spawnSync(
      process.execPath,
      [...flags, "--import", "tsx", path.join(here, "chain.child.ts"), file, out, "64"],
      { cwd: root, encoding: "utf8", maxBuffer: 1 << 20 }
    )
    fs.rmSync(out, { recursive: true, force: true })
    const line = done.stdout.trim().split("\n").pop() ?? ""
    if (done.status !== 0 || !line.startsWith("{")) {
      throw new Error(`child ${name} failed (${done.status}): ${done.stderr.slice(-2000)}`)
    }
    const result = JSON.parse(line) as ChildResult
    if (result.rows + result.failed !== rows) throw new Error(`child ${name} ran ${result.rows} rows, not ${rows}`)
    results.set(name, result)
  }
}

const CAPPED = ["--max-old-space-size=192"]
const capped = process.env.BENCH_CHAIN_CAPPED === "1"

const memory: Suite = {
  name: "Runner constant memory: 3-step chain (LLM → pure → LLM) on dry-run, one child process per run",
  description: `${fmt(SMALL)} and ${fmt(LARGE)} JSONL rows, 64 items in flight, every artefact written; ` +
    `wall times include process start${capped ? `; "heap capped" runs with ${CAPPED.join(" ")}` : ""}`,
  rounds: 1,
  variants: [
    { name: "Runner 1e5", run: child("Runner 1e5", SMALL) },
    { name: "Runner 1e6", run: child("Runner 1e6", LARGE) },
    ...(capped
      ? [
        { name: "Runner 1e5, heap capped", run: child("Runner 1e5, heap capped", SMALL, CAPPED) },
        { name: "Runner 1e6, heap capped", run: child("Runner 1e6, heap capped", LARGE, CAPPED) }
      ]
      : [])
  ],
  summary: () => {
    const lines = ["", "| run | rows | run ms | rows/s | µs/row | peak RSS MB |", "|---|---:|---:|---:|---:|---:|"]
    for (const [name, r] of results) {
      lines.push(
        `| ${name} | ${fmt(r.rows)} | ${fmt(r.ms)} | ${fmt((r.rows / r.ms) * 1000)} | ${
          fmt((r.ms * 1000) / r.rows, 1)
        } | ${fmt(r.maxRssMb, 1)} |`
      )
    }
    for (const suffix of ["", ", heap capped"]) {
      const small = results.get(`Runner 1e5${suffix}`)
      const large = results.get(`Runner 1e6${suffix}`)
      if (small === undefined || large === undefined) continue
      const ratio = large.maxRssMb / small.maxRssMb
      lines.push(
        `Runner${suffix}: peak RSS at 1e6 = ${fmt(ratio, 3)}× peak RSS at 1e5 (target ≤ 1.15): ${
          ratio <= 1.15 ? "OK" : "MISSED"
        }`
      )
    }
    return lines
  }
}

// =============================================================================
// 2. latency-bound
// =============================================================================

const ROWS = 20_000
const LATENCY = 50
const CONCURRENCY = 256

const rows = Array.from({ length: ROWS }, (_, i) => ({
  sku: `SKU-${i}`,
  title: `Product ${i}`,
  description: `A sturdy thing number ${i}`
}))

const latencyChain = Chain.make({
  name: "latency",
  steps: [
    Chain.llm({ id: "classify", input: Product, output: Category, prompt: "Classify {{title}}: {{description}}" })
  ]
})

const promisePool = async (): Promise<number> => {
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < ROWS) {
      next++
      await new Promise<void>((resolve) => setTimeout(resolve, LATENCY))
      done++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return done
}

const reply = () =>
  new LanguageModel.GenerateTextResponse([
    { type: "text", text: `{"category":"home","confidence":0.5}` },
    { type: "finish", reason: "stop", usage: { inputTokens: 12, outputTokens: 9, totalTokens: 21 } }
  ] as any)

/** A minimal engine: a `LanguageModel` service whose `generateText` sleeps 50 ms and returns a fixed reply. */
const minimal = Layer.succeed(
  LanguageModel.LanguageModel,
  {
    generateText: () => Effect.as(Effect.sleep(LATENCY), reply()),
    generateObject: () => Effect.dieMessage("not used"),
    streamText: () => Stream.dieMessage("not used")
  } as unknown as LanguageModel.Service
)

let latencyRuns = 0

const runLatency = (engine: Layer.Layer<LanguageModel.LanguageModel>) => async () => {
  const out = path.join(work, `latency-${latencyRuns++}`)
  const summary = await Runner.run(latencyChain, { input: rows, output: out, concurrency: CONCURRENCY }).pipe(
    Effect.provide(Layer.merge(engine, NodeContext.layer)),
    Effect.runPromise
  )
  fs.rmSync(out, { recursive: true, force: true })
  if (summary.done !== ROWS) throw new Error(`the run completed ${summary.done} rows, not ${ROWS}`)
}

const pool = "promise pool (floor)"
const ideal = (ROWS * LATENCY) / CONCURRENCY

const latency: Suite = {
  name: `Runner latency-bound: ${fmt(ROWS)} rows × ${LATENCY} ms engine latency at concurrency ${CONCURRENCY}`,
  description: `ideal ${fmt(ideal)} ms; each Runner run writes its artefacts (step files, flattened, metrics)`,
  units: { count: ROWS, label: "row" },
  rounds: 3,
  variants: [
    { name: pool, run: promisePool },
    { name: "Runner, minimal LanguageModel", baseline: pool, run: runLatency(minimal) },
    { name: "Runner, dry-run engine", baseline: pool, run: runLatency(DryRun.layer({ latency: LATENCY })) }
  ],
  summary: (medians) => {
    const floor = medians.get(pool)!
    return [
      "",
      ...["Runner, minimal LanguageModel", "Runner, dry-run engine"].map((name) => {
        const ratio = floor / medians.get(name)!
        return `${name}: ${fmt(ratio * 100, 1)}% of the pool's throughput, ${
          fmt((ideal / medians.get(name)!) * 100, 1)
        }% of ideal (target ≥ 90% of the pool): ${ratio >= 0.9 ? "OK" : "MISSED"}`
      })
    ]
  }
}

export default [latency, memory]
