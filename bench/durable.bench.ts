/**
 * Durable runs: orchestration overhead and recovery.
 *
 * 1. The same 20,000-row chain (a pure step, then an LLM step whose engine answers after 50 ms) at the same total
 *    concurrency (256), in-process (`Runner.run`) vs durable on SQLite in this process vs durable on two
 *    PostgreSQL runner processes (`bench/durable.child.ts`) with this process as the submitting client. Chunks of
 *    2,500 rows, 8 in flight (32 items each). Target: durable ≥ 95% of the in-process throughput. Also prints the
 *    rows one run leaves in PostgreSQL (engine messages and replies, staged inputs, records).
 * 2. Recovery: a PostgreSQL run over the two runners, one SIGKILLed mid-run: the time from the kill to the
 *    survivor's first row of a chunk the killed runner was running.
 *
 * PostgreSQL: the server at 127.0.0.1:5432 (trust auth), in a database of its own dropped at the end; without one,
 * the PostgreSQL figures are skipped with a message.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Durable from "../src/Durable.js"
import * as Runner from "../src/Runner.js"
import { chain, LATENCY, minimal } from "./durable.child.js"
import type { Suite } from "./harness.js"

const ROWS = 20_000
const CONCURRENCY = 256
const CHUNKS_IN_FLIGHT = 8
const CHUNK = Math.ceil(ROWS / CHUNKS_IN_FLIGHT)

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const work = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-durable-"))
const children: Array<ChildProcess> = []
const cleanups: Array<() => Promise<void>> = []
process.on("exit", () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL")
  fs.rmSync(work, { recursive: true, force: true })
})

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits })

const rows = Array.from({ length: ROWS }, (_, i) => ({
  sku: `SKU-${i}`,
  title: `Product ${i}`,
  description: `A sturdy thing number ${i}`
}))

interface PgClient {
  connect(): Promise<void>
  query(text: string): Promise<{ readonly rows: ReadonlyArray<Record<string, unknown>> }>
  end(): Promise<void>
}
const pg = createRequire(import.meta.url)("pg") as {
  readonly Client: new(config: { readonly connectionString: string }) => PgClient
}
const sql = async (url: string, text: string) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text)).rows
  } finally {
    await client.end()
  }
}

const base = "postgres://postgres@127.0.0.1:5432"
const database = `sluice_bench_${process.pid}`
const url = `${base}/${database}`
const hasPostgres = await sql(`${base}/postgres`, `CREATE DATABASE ${database}`).then(() => true, (e) => {
  console.log(`durable bench: no PostgreSQL at 127.0.0.1:5432 (${String(e)}): PostgreSQL figures skipped`)
  return false
})
if (hasPostgres) {
  cleanups.push(() => sql(`${base}/postgres`, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).then(() => {}))
}

const startRunner = (port: number, log?: string) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/durable.child.ts", url, String(port)], {
      cwd: root,
      env: log === undefined ? process.env : { ...process.env, SLUICE_BENCH_LOG: log },
      stdio: ["ignore", "pipe", "inherit"]
    })
    children.push(child)
    child.stdout!.on("data", (data: Buffer) => data.toString().includes("serving") && resolve(child))
    child.once("exit", (code) => reject(new Error(`a runner exited (${code})`)))
  })

let runs = 0
const out = () => path.join(work, `out-${runs++}`)
const check = (summary: Runner.Summary) => {
  if (summary.done !== ROWS) throw new Error(`the run completed ${summary.done} rows, not ${ROWS}`)
}
const durableOptions = (output: string) => ({
  input: rows,
  output,
  concurrency: CONCURRENCY,
  chunkSize: CHUNK,
  chunksInFlight: CHUNKS_IN_FLIGHT,
  runId: path.basename(output)
})

const inProcess = async () => {
  const output = out()
  check(
    await Runner.run(chain, { input: rows, output, concurrency: CONCURRENCY }).pipe(
      Effect.provide(Layer.merge(minimal, NodeContext.layer)),
      Effect.runPromise
    )
  )
  fs.rmSync(output, { recursive: true, force: true })
}

const sqlite = async () => {
  const output = out()
  check(
    await Durable.run(chain, durableOptions(output)).pipe(
      Effect.provide(Layer.mergeAll(Durable.layerSqlite({ filename: `${output}.db` }), minimal, NodeContext.layer)),
      Effect.runPromise
    )
  )
  fs.rmSync(output, { recursive: true, force: true })
  fs.rmSync(`${output}.db`, { force: true })
}

const postgres = async () => {
  const output = out()
  check(
    await Durable.run(chain, durableOptions(output)).pipe(
      Effect.provide(Layer.mergeAll(Durable.layerPostgres({ url }), minimal, NodeContext.layer)),
      Effect.runPromise
    )
  )
  fs.rmSync(output, { recursive: true, force: true })
}

const tableRows = async () => {
  const counts: Record<string, number> = {}
  for (const table of ["cluster_messages", "cluster_replies", "sluice_inputs", "sluice_records", "sluice_runs"]) {
    const result = await sql(url, `SELECT COUNT(*) AS n FROM ${table}`).catch(() => [{ n: 0 }])
    counts[table] = Number(result[0]?.n ?? 0)
  }
  return counts
}

const inProcessName = "Runner, in-process (floor)"
const sqliteName = "Durable, SQLite (this process)"
const postgresName = "Durable, PostgreSQL (2 runner processes)"

let perRun: Record<string, number> | undefined
let recovery: string | undefined

if (hasPostgres) {
  const port = 36000 + Math.floor(Math.random() * 20000)
  await Promise.all([startRunner(port), startRunner(port + 1)])
  // rows one run leaves in PostgreSQL
  const before = await tableRows()
  await postgres()
  const after = await tableRows()
  perRun = Object.fromEntries(Object.keys(after).map((t) => [t, after[t]! - before[t]!]))
  for (const child of children.splice(0)) child.kill("SIGTERM")
  // recovery: two fresh runners writing a log of the rows they compute
  const log = path.join(work, "recovery.log")
  const [a] = await Promise.all([startRunner(port + 2, log), startRunner(port + 3, log)])
  const output = out()
  const run = Durable.run(chain, { ...durableOptions(output), input: rows.slice(0, 10_000) }).pipe(
    Effect.provide(Layer.mergeAll(Durable.layerPostgres({ url }), minimal, NodeContext.layer)),
    Effect.runPromise
  )
  const lines = () =>
    (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "").split("\n").filter((l) => l !== "").map((l) => {
      const [pid, sku, ms] = l.split(" ")
      return { pid: Number(pid), row: Number(sku!.slice(4)), ms: Number(ms) }
    })
  while (lines().filter((l) => l.pid === a!.pid).length < 1000) await new Promise((r) => setTimeout(r, 50))
  const killedAt = Date.now()
  a!.kill("SIGKILL")
  const chunkSize = CHUNK
  const killedChunks = new Set(lines().filter((l) => l.pid === a!.pid).map((l) => Math.floor(l.row / chunkSize)))
  await run
  const resumed = lines().filter((l) =>
    l.pid !== a!.pid && l.ms > killedAt && killedChunks.has(Math.floor(l.row / chunkSize))
  )
  const first = Math.min(...resumed.map((l) => l.ms))
  recovery = resumed.length === 0
    ? "recovery: no row of the killed runner's chunks ran on the survivor (they had finished)"
    : `recovery: ${fmt(first - killedAt)} ms from SIGKILL to the survivor's first row of the killed runner's chunks ` +
      `(shard lock expiration 10 s, refresh 2 s)`
  fs.rmSync(output, { recursive: true, force: true })
  await Promise.all([startRunner(port + 4), startRunner(port + 5)])
}

const ideal = (ROWS * LATENCY) / CONCURRENCY

const suite: Suite = {
  name: `Durable: ${fmt(ROWS)} rows × ${LATENCY} ms engine at concurrency ${CONCURRENCY}`,
  description: `ideal ${fmt(ideal)} ms; chunks of ${fmt(CHUNK)} rows, ${CHUNKS_IN_FLIGHT} in flight; ` +
    `durable runs stage the input, write every output to the store and export the run folder`,
  units: { count: ROWS, label: "row" },
  rounds: 1,
  variants: [
    { name: inProcessName, run: inProcess },
    { name: sqliteName, baseline: inProcessName, run: sqlite },
    ...(hasPostgres ? [{ name: postgresName, baseline: inProcessName, run: postgres }] : [])
  ],
  summary: (medians) => {
    const floor = medians.get(inProcessName)!
    const lines = [sqliteName, ...(hasPostgres ? [postgresName] : [])].map((name) => {
      const ratio = floor / medians.get(name)!
      return `${name}: ${fmt(ratio * 100, 1)}% of the in-process throughput (target ≥ 95%): ${
        ratio >= 0.95 ? "OK" : "MISSED"
      }`
    })
    if (perRun !== undefined) {
      lines.push(
        `rows one ${fmt(ROWS)}-row run leaves in PostgreSQL: ${
          Object.entries(perRun).map(([t, n]) => `${t} ${fmt(n)}`).join(", ")
        }`
      )
    }
    if (recovery !== undefined) lines.push(recovery)
    return ["", ...lines]
  },
  cleanup: async () => {
    for (const child of children.splice(0)) child.kill("SIGTERM")
    await Promise.all(cleanups.splice(0).map((f) => f()))
  }
}

export default suite
