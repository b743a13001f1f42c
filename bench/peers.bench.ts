/**
 * Peers: the same 20,000-row, 3-step job (structured LLM call → pure step → structured LLM call) on a zero-latency
 * mock model, at the same concurrency, by sluice's `Runner` (dry-run engine, every artefact written), the Vercel AI SDK
 * (`generateObject` with its `MockLanguageModelV3` under a promise pool) and LangChain.js (`RunnableSequence.batch`
 * with `FakeListChatModel` and a JSON output parser). Each run is a fresh child process (`peers.child.ts`) so that its
 * peak RSS is its own; wall times exclude module loading. The peers write nothing; sluice writes its run folder.
 * `npm run bench -- peers`.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Suite } from "./harness.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-peers-"))
process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }))

const ROWS = 20_000
const CONCURRENCY = 64
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits })

const input = path.join(work, "in.jsonl")
fs.writeFileSync(
  input,
  Array.from({ length: ROWS }, (_, i) =>
    JSON.stringify({
      sku: `SKU-${i}`,
      title: `Product ${i}`,
      description: `A sturdy, well made thing number ${i} for everyday use in the kitchen or the office.`
    })).join("\n") + "\n"
)

interface ChildResult {
  readonly rows: number
  readonly ms: number
  readonly maxRssMb: number
}

const results = new Map<string, Array<ChildResult>>()

/** Runs one variant in a child process; the harness's warm-up call is skipped (each run is a fresh process). */
const child = (variant: string) => {
  let calls = 0
  return () => {
    if (calls++ === 0) return
    run(variant)
  }
}

const run = (variant: string) => {
  const out = path.join(work, `out-${variant}`)
  const done = spawnSync(
    process.execPath,
    ["--import", "tsx", path.join(here, "peers.child.ts"), variant, input, out, String(CONCURRENCY)],
    { cwd: root, encoding: "utf8", maxBuffer: 1 << 20 }
  )
  fs.rmSync(out, { recursive: true, force: true })
  const line = done.stdout.trim().split("\n").pop() ?? ""
  if (done.status !== 0 || !line.startsWith("{")) {
    throw new Error(`child ${variant} failed (${done.status}): ${done.stderr.slice(-2000)}`)
  }
  const result = JSON.parse(line) as ChildResult
  if (result.rows !== ROWS) throw new Error(`child ${variant} finished ${result.rows} rows, not ${ROWS}`)
  results.set(variant, [...(results.get(variant) ?? []), result])
}

const VARIANTS = [
  { name: "sluice Runner (writes artefacts)", variant: "sluice" },
  { name: "Vercel AI SDK generateObject + pool (writes nothing)", variant: "ai-sdk" },
  { name: "LangChain.js RunnableSequence.batch (writes nothing)", variant: "langchain" }
] as const

const suite: Suite = {
  name: "Peers: the same 3-step batch job by sluice, the Vercel AI SDK and LangChain.js",
  description: `${fmt(ROWS)} rows, ${CONCURRENCY} in flight, zero-latency mock models, one child process per run ` +
    `(wall times include process start; the table below uses each job's fastest in-process run of the three, the ` +
    `machine being shared)`,
  rounds: 3,
  variants: VARIANTS.map((v, i) => ({
    name: v.name,
    run: child(v.variant),
    ...(i === 0 ? {} : { baseline: VARIANTS[0].name })
  })),
  summary: () => {
    const lines = ["", "| job | rows/s | µs/row | peak RSS MB | rows/s vs sluice |", "|---|---:|---:|---:|---:|"]
    const best = (variant: string) => {
      const runs = results.get(variant) ?? []
      return runs.reduce((a, b) => (b.ms < a.ms ? b : a), runs[0]!)
    }
    const base = best("sluice")
    for (const v of VARIANTS) {
      const r = best(v.variant)
      const rate = (r.rows / r.ms) * 1000
      lines.push(
        `| ${v.name} | ${fmt(rate)} | ${fmt((r.ms * 1000) / r.rows, 1)} | ${fmt(r.maxRssMb)} | ${
          fmt(rate / ((base.rows / base.ms) * 1000), 2)
        }× |`
      )
    }
    return lines
  }
}

export default suite
