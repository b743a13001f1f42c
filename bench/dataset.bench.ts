/**
 * Datasets in, rolling outputs out: a generated JSONL file read by `Dataset.stream` and written by `Writer.sink`
 * (100,000 rows per file), against a hand-written Node floor (readline + `JSON.parse` + `JSON.stringify` into
 * write streams with backpressure) doing the same copy.
 *
 * 1. Throughput, in this process, 1e5 rows, variants alternating.
 * 2. Constant memory: each run in a fresh child process (`dataset.child.ts`) so that its peak RSS is its own; the
 *    summary compares the peak RSS at 1e6 rows with that at 1e5 (target: within 15%) and prints the rows/s the
 *    child measured around its pipeline (module loading excluded). The same 1e6 rows through `Runner.run` (the
 *    3-step chain of `chain.child.ts` on dry-run, every artefact written) are compared with the sluice copy as
 *    the floor (target: peak RSS ≤ 1.2×).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { floor, MAX_ROWS, sluice } from "./dataset.child.js"
import { median, type Suite } from "./harness.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-dataset-"))
process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }))

const SMALL = 100_000
const LARGE = 1_000_000

const generated = new Map<number, string>()

/** A JSONL file of `rows` product records (about 190 bytes a line), written once. */
const input = (rows: number): string => {
  const existing = generated.get(rows)
  if (existing !== undefined) return existing
  const file = path.join(work, `in-${rows}.jsonl`)
  const fd = fs.openSync(file, "w")
  let batch: Array<string> = []
  for (let i = 0; i < rows; i++) {
    batch.push(JSON.stringify({
      sku: `SKU-${i}`,
      title: `Product ${i}`,
      description: `A sturdy, well made thing number ${i} for everyday use in the kitchen or the office.`,
      price: Math.round(i * 37) / 100,
      tags: ["home", i % 2 === 0 ? "even" : "odd"]
    }))
    if (batch.length === 10_000) {
      fs.writeSync(fd, batch.join("\n") + "\n")
      batch = []
    }
  }
  if (batch.length > 0) fs.writeSync(fd, batch.join("\n") + "\n")
  fs.closeSync(fd)
  generated.set(rows, file)
  return file
}

let runs = 0
const output = () => {
  const dir = path.join(work, `out-${runs++}`)
  return dir
}

const inProcess = async (run: (file: string, out: string) => Promise<unknown>) => {
  const out = output()
  await run(input(SMALL), out)
  fs.rmSync(out, { recursive: true, force: true })
}

const throughput: Suite = {
  name: "Dataset → Writer throughput (in process)",
  description: `${SMALL.toLocaleString()} JSONL rows (${
    Math.round(fs.statSync(input(SMALL)).size / 1e6)
  } MB) copied into rolling JSONL files of ${MAX_ROWS.toLocaleString()} rows`,
  units: { count: SMALL, label: "row" },
  variants: [
    { name: "readline + JSON + write streams (floor)", run: () => inProcess(floor) },
    {
      name: "Dataset.stream → Writer.sink",
      baseline: "readline + JSON + write streams (floor)",
      run: () => inProcess(sluice)
    }
  ]
}

interface ChildResult {
  readonly rows: number
  readonly ms: number
  readonly maxRssMb: number
}

const results = new Map<string, Array<ChildResult>>()

const child =
  (name: string, mode: "sluice" | "floor" | "runner", rows: number, flags: ReadonlyArray<string> = []) => () => {
    const file = input(rows)
    const out = output()
    const args = mode === "runner"
      ? [path.join(here, "chain.child.ts"), file, out, "64"]
      : [path.join(here, "dataset.child.ts"), mode, file, out]
    const done = spawnSync(process.execPath, [...flags, "--import", "tsx", ...args], {
      cwd: root,
      encoding: "utf8",
      maxBuffer: 1 << 20
    })
    fs.rmSync(out, { recursive: true, force: true })
    const line = done.stdout.trim().split("\n").pop() ?? ""
    if (done.status !== 0 || !line.startsWith("{")) {
      throw new Error(`child ${mode} ${rows} failed (${done.status}): ${done.stderr.slice(-2000)}`)
    }
    const result = JSON.parse(line) as ChildResult
    if (result.rows !== rows) throw new Error(`child ${mode} copied ${result.rows} rows, not ${rows}`)
    results.set(name, [...(results.get(name) ?? []), result])
  }

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits })

/** V8 grows its heap lazily (the floor does the same): with the old space capped, peak RSS is the working set. */
const CAPPED = ["--max-old-space-size=160"]

const memory: Suite = {
  name: "Dataset → Writer constant memory (one child process per run)",
  description:
    `the same copy at ${SMALL.toLocaleString()} and ${LARGE.toLocaleString()} rows; wall times include process start (tsx); ` +
    `"heap capped" runs with ${CAPPED.join(" ")}`,
  rounds: 1,
  variants: [
    { name: "sluice 1e5", run: child("sluice 1e5", "sluice", SMALL) },
    { name: "sluice 1e6", run: child("sluice 1e6", "sluice", LARGE) },
    { name: "floor 1e5", run: child("floor 1e5", "floor", SMALL) },
    { name: "floor 1e6", run: child("floor 1e6", "floor", LARGE) },
    { name: "sluice 1e5, heap capped", run: child("sluice 1e5, heap capped", "sluice", SMALL, CAPPED) },
    { name: "sluice 1e6, heap capped", run: child("sluice 1e6, heap capped", "sluice", LARGE, CAPPED) },
    { name: "Runner 1e6", run: child("Runner 1e6", "runner", LARGE) }
  ],
  summary: () => {
    const lines = [
      "",
      "| run | rows | pipeline ms | rows/s | peak RSS MB |",
      "|---|---:|---:|---:|---:|"
    ]
    const peak = new Map<string, number>()
    for (const [name, all] of results) {
      const ms = median(all.map((r) => r.ms))
      const rss = median(all.map((r) => r.maxRssMb))
      peak.set(name, rss)
      lines.push(
        `| ${name} | ${fmt(all[0]!.rows)} | ${fmt(ms)} | ${fmt((all[0]!.rows / ms) * 1000)} | ${fmt(rss, 1)} |`
      )
    }
    const pairs = [
      ["sluice", "sluice 1e5", "sluice 1e6"],
      ["floor", "floor 1e5", "floor 1e6"],
      ["sluice, heap capped", "sluice 1e5, heap capped", "sluice 1e6, heap capped"]
    ] as const
    for (const [who, small, large] of pairs) {
      const ratio = (peak.get(large) ?? NaN) / (peak.get(small) ?? NaN)
      if (Number.isNaN(ratio)) continue
      lines.push(
        `${who}: peak RSS at 1e6 = ${fmt(ratio, 3)}× peak RSS at 1e5 (target ≤ 1.15): ${
          ratio <= 1.15 ? "OK" : "MISSED"
        }`
      )
    }
    const runner = (peak.get("Runner 1e6") ?? NaN) / (peak.get("sluice 1e6") ?? NaN)
    if (!Number.isNaN(runner)) {
      lines.push(
        `Runner (3-step chain, artefacts) at 1e6: peak RSS = ${fmt(runner, 2)}× the Dataset → Writer copy ` +
          `(target ≤ 1.2): ${runner <= 1.2 ? "OK" : "MISSED"}`
      )
    }
    return lines
  }
}

export default [throughput, memory]
