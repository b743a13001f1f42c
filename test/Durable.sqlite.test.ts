import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { spawn } from "node:child_process"
import * as Runner from "../src/Runner.js"
import * as Writer from "../src/Writer.js"

const ROWS = 2000

/** Runs the durable fixture in a child process; with `killAfter`, SIGKILLs it once that many rows have finished. */
const runChild = (args: ReadonlyArray<string>, killAfter: number | undefined) =>
  Effect.async<{ readonly seen: number; readonly finished: boolean; readonly resumed: number }>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/chains/durable-run.ts", ...args], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let seen = 0
    let finished = false
    let resumed = 0
    let buffer = ""
    let stderr = ""
    child.stdout.on("data", (data: Buffer) => {
      buffer += data.toString()
      const lines = buffer.split("\n")
      buffer = lines.pop() ?? ""
      for (const line of lines) {
        if (line === "finished") finished = true
        else if (line.startsWith("resumed ")) resumed = Number(line.slice(8))
        else if (line.startsWith("done ")) seen = Number(line.slice(5))
      }
      if (killAfter !== undefined && seen >= killAfter && child.exitCode === null) child.kill("SIGKILL")
    })
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()))
    child.on("exit", (code, signal) => {
      if (signal !== "SIGKILL" && code !== 0) {
        resume(Effect.dieMessage(`the child failed (${code}): ${stderr.slice(-2000)}`))
      } else {
        resume(Effect.succeed({ seen, finished, resumed }))
      }
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const ids = (dir: string, step: string) =>
  Effect.map(
    Stream.runCollect(Writer.read({ dir, step })),
    (chunk) => Chunk.toArray(chunk).map((r) => String((r as { _id: unknown })._id))
  )

describe("Durable on SQLite", () => {
  it.scopedLive(
    "a durable run SIGKILLed mid-run finishes when started again, every row exactly once",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-durable-sqlite-" })
        const input = `${dir}/in.jsonl`
        const rows = Array.from({ length: ROWS }, (_, i) => ({
          sku: `S${String(i).padStart(5, "0")}`,
          name: `item ${i}`,
          colour: i % 2 === 0 ? "red" : "blue"
        }))
        yield* fs.writeFileString(input, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")
        const args = [`${dir}/runs.db`, input, `${dir}/out`]

        const killed = yield* runChild(args, 300)
        assert.isFalse(killed.finished, "the child was killed before the end")
        assert.isAtLeast(killed.seen, 300)
        assert.isBelow(killed.seen, ROWS)

        const resumed = yield* runChild(args, undefined)
        assert.isTrue(resumed.finished)
        assert.isAtLeast(resumed.resumed, 300, "the rows finished before the kill are not run again")

        const expected = rows.map((r) => r.sku)
        for (const step of ["describe", "upper", "tag", "flattened"]) {
          const got = yield* ids(`${dir}/out`, step)
          assert.strictEqual(got.length, ROWS, `${step}: ${ROWS} records`)
          assert.deepStrictEqual(got, expected, `${step}: every row exactly once, in input order`)
        }
        const inspection = yield* Runner.inspect(`${dir}/out`)
        assert.strictEqual(inspection.status, "success")
        assert.strictEqual(inspection.errors.total, 0)
      }).pipe(Effect.provide(NodeContext.layer)),
    { timeout: 240_000 }
  )
})
