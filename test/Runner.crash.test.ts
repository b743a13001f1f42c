import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { spawn } from "node:child_process"
import * as DryRun from "../src/engines/DryRun.js"
import * as Runner from "../src/Runner.js"
import * as Writer from "../src/Writer.js"
import { chain } from "./fixtures/chains/items.js"

const ROWS = 300

/** Runs the crash fixture in a child process and kills it with SIGKILL once `after` items have finished. */
const runAndKill = (input: string, output: string, after: number) =>
  Effect.async<{ readonly seen: number; readonly finished: boolean }>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/chains/crash-run.ts", input, output], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let seen = 0
    let finished = false
    let buffer = ""
    let stderr = ""
    child.stdout.on("data", (data: Buffer) => {
      buffer += data.toString()
      const lines = buffer.split("\n")
      buffer = lines.pop() ?? ""
      for (const line of lines) {
        if (line === "finished") finished = true
        else if (line.startsWith("done ")) seen = Number(line.slice(5))
      }
      if (seen >= after && child.exitCode === null) child.kill("SIGKILL")
    })
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()))
    child.on("exit", (code, signal) => {
      if (signal !== "SIGKILL" && code !== 0) {
        resume(Effect.dieMessage(`the child failed (${code}): ${stderr.slice(-2000)}`))
      } else {
        resume(Effect.succeed({ seen, finished }))
      }
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const ids = (dir: string, step: string) =>
  Effect.map(
    Stream.runCollect(Writer.read({ dir, step })),
    (chunk) => Chunk.toArray(chunk).map((r) => String((r as { _id: unknown })._id)).sort()
  )

describe("Runner: crash and resume", () => {
  it.live("a run killed with SIGKILL mid-run resumes and writes every row exactly once", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-crash-" })
      const input = `${dir}/in.jsonl`
      const rows = Array.from({ length: ROWS }, (_, i) => ({
        sku: `S${String(i).padStart(4, "0")}`,
        name: `item ${i}`,
        colour: i % 2 === 0 ? "red" : "blue"
      }))
      yield* fs.writeFileString(input, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")
      const output = `${dir}/out`

      const killed = yield* runAndKill(input, output, 80)
      assert.isFalse(killed.finished, "the child was killed before the end")
      assert.isAtLeast(killed.seen, 80)
      const before = yield* ids(output, "flattened")
      assert.isBelow(before.length, ROWS)
      assert.strictEqual(new Set(before).size, before.length, "no duplicate before resuming")

      const summary = yield* Runner.run(chain, { input, output, key: "sku", concurrency: 16, rollRows: 50 }).pipe(
        Effect.provide(DryRun.layer())
      )
      assert.strictEqual(summary.resumed, before.length)
      assert.strictEqual(summary.done + summary.resumed, ROWS)
      assert.strictEqual(summary.failed, 0)

      const expected = rows.map((r) => r.sku)
      for (const step of ["describe", "upper", "tag", "flattened"]) {
        assert.deepStrictEqual(yield* ids(output, step), expected, `${step}: every row exactly once`)
      }
      const files = yield* fs.readDirectory(`${output}/flattened`)
      assert.isTrue(files.every((name) => name.endsWith(".jsonl")), "no temporary file left")
      const metrics = JSON.parse(yield* fs.readFileString(`${output}/metrics.json`))
      assert.strictEqual(metrics.status, "success")
      assert.strictEqual(metrics.invocations.at(-1).items.resumed, before.length)
      assert.strictEqual(metrics.items.done, ROWS)
      assert.strictEqual(metrics.invocations[0].status, "killed", "the killed invocation is recorded as such")
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(NodeContext.layer, DryRun.layer()))), 60_000)
})
