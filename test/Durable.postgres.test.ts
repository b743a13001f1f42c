import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import * as Runner from "../src/Runner.js"
import * as Writer from "../src/Writer.js"
import * as Postgres from "./durable/postgres.js"

const ROWS = 1200
const CHAIN = "test/fixtures/chains/counted.ts:chain"

/** Spawns the sluice CLI; the process is SIGKILLed when the scope closes if it is still running. */
const sluice = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, ["bin/sluice.js", ...args], {
        cwd: process.cwd(),
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const output = { stdout: "", stderr: "" }
      child.stdout!.on("data", (data: Buffer) => (output.stdout += data.toString()))
      child.stderr!.on("data", (data: Buffer) => (output.stderr += data.toString()))
      return { child, output }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

const exited = (child: ChildProcess) =>
  Effect.async<{ readonly code: number | null; readonly signal: string | null }>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      return resume(Effect.succeed({ code: child.exitCode, signal: child.signalCode }))
    }
    child.once("exit", (code, signal) => resume(Effect.succeed({ code, signal })))
  })

const poll = (check: () => boolean, what: string, timeoutMs: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* Effect.sleep("100 millis")
    }
  })

const counted = (log: string) =>
  existsSync(log)
    ? readFileSync(log, "utf8").split("\n").filter((l) => l !== "").map((l) => {
      const [pid, sku] = l.split(" ") as [string, string]
      return { pid: Number(pid), sku }
    })
    : []

const ids = (dir: string, step: string) =>
  Effect.map(
    Stream.runCollect(Writer.read({ dir, step })),
    (chunk) => Chunk.toArray(chunk).map((r) => String((r as { _id: unknown })._id))
  )

describe("Durable on PostgreSQL", () => {
  it.scopedLive(
    "two runners, one SIGKILLed mid-run: the survivor finishes, every row once, finished rows not recomputed",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-durable-pg-" })
        const url = yield* Postgres.database
        const input = `${dir}/in.jsonl`
        const rows = Array.from({ length: ROWS }, (_, i) => ({
          sku: `S${String(i).padStart(5, "0")}`,
          name: `item ${i}`,
          colour: i % 2 === 0 ? "red" : "blue"
        }))
        yield* fs.writeFileString(input, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")
        const log = `${dir}/calls.log`
        const env = { SLUICE_COUNT_LOG: log }
        const port = 35000 + Math.floor(Math.random() * 20000)
        // LLM calls of 100 ms make the run last several seconds, long enough for both runners to hold shards (a
        // run over an instant engine can finish on the first runner before the second has any)
        const engines = `${dir}/engines.yml`
        yield* fs.writeFileString(engines, "engines:\n  - name: slow\n    backend: dry-run\n    latency: 100 millis\n")
        const runner = (p: number) =>
          sluice(["runner", "--store", url, "--chain", CHAIN, "--port", String(p), "--engines", engines], env)
        const a = yield* runner(port)
        const b = yield* runner(port + 1)
        // both runners serve before the run is submitted, so that each gets shards (startup is slow under load)
        yield* poll(
          () => a.output.stderr.includes("serving") && b.output.stderr.includes("serving"),
          "the runners",
          150_000
        )

        const client = yield* sluice([
          "run",
          CHAIN,
          "-i",
          input,
          "-o",
          `${dir}/out`,
          "--key",
          "sku",
          "-c",
          "32",
          "--chunk-size",
          "100",
          "--store",
          url,
          "-q"
        ], {})
        const pidA = a.child.pid!
        yield* poll(() => counted(log).filter((c) => c.pid === pidA).length >= 150, "runner A to compute rows", 150_000)
        a.child.kill("SIGKILL")
        yield* exited(a.child)
        const finishedAtKill = new Set(
          (yield* Postgres.query(url, "SELECT row_id FROM sluice_records WHERE kind = 'flattened'")).map((r) =>
            String(r.row_id)
          )
        )
        const byA = new Set(counted(log).filter((c) => c.pid === pidA).map((c) => c.sku))

        const end = yield* exited(client.child)
        assert.strictEqual(end.code, 0, `the client failed: ${client.output.stderr.slice(-2000)}`)

        const expected = rows.map((r) => r.sku)
        for (const step of ["count", "describe", "upper", "tag", "flattened"]) {
          assert.deepStrictEqual(yield* ids(`${dir}/out`, step), expected, `${step}: every row exactly once`)
        }
        const inspection = yield* Runner.inspect(`${dir}/out`)
        assert.strictEqual(inspection.status, "success")
        assert.strictEqual(inspection.flattened.records, ROWS)

        const calls = counted(log)
        const pidB = b.child.pid!
        const times = new Map<string, number>()
        for (const c of calls) times.set(c.sku, (times.get(c.sku) ?? 0) + 1)
        assert.strictEqual(times.size, ROWS, "every row computed")
        for (const sku of finishedAtKill) {
          assert.strictEqual(times.get(sku), 1, `${sku} was finished at the kill and must not be computed again`)
        }
        for (const [sku, n] of times) {
          if (n > 1) assert.isTrue(byA.has(sku) && !finishedAtKill.has(sku), `${sku} recomputed ${n} times`)
        }
        assert.isAbove(finishedAtKill.size, 0)
        assert.isAbove(calls.filter((c) => c.pid === pidB).length, 0, "the survivor took over")
        assert.isBelow(calls.length, ROWS + 400, "only the killed runner's unfinished rows ran again")
      }).pipe(Effect.provide(NodeContext.layer)),
    { timeout: 300_000 }
  )
})
