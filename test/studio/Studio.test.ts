/**
 * Studio's API over run folders, by plain fetch: the run list, a run's detail and Mermaid, rows by id through the
 * offset index (on a 1e6-row flattened file), the live SSE view, and path safety (encoded `..`, absolute paths,
 * symbolic links out of the root).
 */
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import { createServer } from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as Studio from "../../src/studio/launch.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-studio-"))
const outside = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-outside-"))
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true })
  fs.rmSync(outside, { recursive: true, force: true })
})
const ROWS = 1_000_000

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
}

/** A finished run folder as the Runner writes it, with one step, a flattened view and one error. */
const makeRun = (dir: string, rows: number) => {
  write(
    path.join(dir, "graph.json"),
    JSON.stringify({
      name: "tagger",
      steps: [{ kind: "llm", id: "tag", name: "tag", engine: "dry-run" }, {
        kind: "apply",
        id: "upper",
        name: "upper"
      }],
      run: { runId: "r-1", status: "success" }
    })
  )
  write(
    path.join(dir, "metrics.json"),
    JSON.stringify({
      runId: "r-1",
      chain: "tagger",
      status: "success",
      durationMs: 2000,
      items: { total: rows + 1, done: rows, filtered: 0, failed: 1 },
      steps: {
        tag: { done: rows, errors: 1, retries: 0, latencyMs: { p50: 3, p95: 9, p99: 12 }, tokens: { total: 42 } },
        upper: { done: rows, errors: 0, retries: 0, latencyMs: { p50: 0, p95: 1, p99: 1 }, tokens: { total: 0 } }
      }
    })
  )
  const flattened: Array<string> = []
  const tags: Array<string> = []
  for (let i = 0; i < rows; i++) {
    flattened.push(`{"_id":"row-${i}","_index":${i},"_status":"complete","chain_input.text":"t${i}","tag.tag":"x"}`)
    if (i < 1000 || i === rows - 1) tags.push(`{"_id":"row-${i}","tag":"tag-${i}"}`)
  }
  write(path.join(dir, "flattened", "000.jsonl"), flattened.join("\n") + "\n")
  write(path.join(dir, "tag", "000.jsonl"), tags.join("\n") + "\n")
  write(path.join(dir, "upper", "000.jsonl"), `{"_id":"row-1","_value":"T1"}\n`)
  write(
    path.join(dir, "errors", "000.jsonl"),
    `{"_id":"bad-1","index":${rows},"step":"tag","error":"EngineError","message":"boom","retryable":false,` +
      `"attempt":1,"tries":1,"input":{"text":"kaboom"}}\n`
  )
}

makeRun(path.join(root, "big"), ROWS)
makeRun(path.join(root, "small"), 3)
// symbolic links out of the root: a whole run folder, and a step folder inside a run
makeRun(path.join(outside, "secret-run"), 2)
fs.symlinkSync(path.join(outside, "secret-run"), path.join(root, "linked-run"))
fs.mkdirSync(path.join(outside, "secret-step"))
fs.writeFileSync(path.join(outside, "secret-step", "000.jsonl"), `{"_id":"row-1","secret":"leaked"}\n`)
fs.rmSync(path.join(root, "small", "upper"), { recursive: true })
fs.symlinkSync(path.join(outside, "secret-step"), path.join(root, "small", "upper"))
fs.writeFileSync(path.join(outside, "passwd"), "root:x:0:0\n")

const studio = Studio.layer({ dir: root, pollMs: 100 }).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

const url = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address as HttpServer.TcpAddress
  return `http://${address.hostname}:${address.port}`
})

const get = (path: string) =>
  Effect.flatMap(url, (base) =>
    Effect.promise(async () => {
      const response = await fetch(`${base}${path}`)
      return { status: response.status, body: await response.text() }
    }))

layer(studio, { timeout: 60_000, excludeTestServices: true })("Studio API", (it) => {
  describe("runs and rows", () => {
    it.effect("lists runs with status, progress, rows per second and errors; binds 127.0.0.1", () =>
      Effect.gen(function*() {
        const server = yield* HttpServer.HttpServer
        assert.strictEqual((server.address as HttpServer.TcpAddress).hostname, "127.0.0.1")
        const { body } = yield* get("/api/runs")
        const runs = JSON.parse(body).runs as Array<any>
        assert.deepStrictEqual(runs.map((run) => run.id), ["big", "small"])
        const big = runs[0]
        assert.strictEqual(big.status, "success")
        assert.strictEqual(big.items.finished, ROWS + 1)
        assert.strictEqual(big.rowsPerSecond, (ROWS + 1) / 2)
        assert.strictEqual(big.errors, 1)
      }))

    it.effect("a run's detail: metrics, Mermaid, last errors with their inputs", () =>
      Effect.gen(function*() {
        const detail = JSON.parse((yield* get("/api/run?id=small")).body)
        assert.include(detail.mermaid, "s_tag[\"tag · dry-run\"]")
        assert.include(detail.mermaid, "start --> s_tag")
        assert.deepStrictEqual(detail.steps, ["tag", "upper"])
        assert.deepStrictEqual(detail.lastErrors[0].input, { text: "kaboom" })
      }))

    it.effect("a row by id on 1e6 rows: input, each step's output, the error's cause; fast after the index", () =>
      Effect.gen(function*() {
        const first = JSON.parse((yield* get(`/api/run/row?id=big&row=row-${ROWS - 1}`)).body)
        assert.deepStrictEqual(first.input, { text: `t${ROWS - 1}` })
        assert.deepStrictEqual(first.outputs.tag, { tag: `tag-${ROWS - 1}` })
        const start = performance.now()
        for (const i of [5, 500_000, 999_998]) {
          const row = JSON.parse((yield* get(`/api/run/row?id=big&row=row-${i}`)).body)
          assert.strictEqual(row.index, i)
        }
        assert.isBelow(performance.now() - start, 1500)
        const failed = JSON.parse((yield* get("/api/run/row?id=big&row=bad-1")).body)
        assert.strictEqual(failed.status, "failed")
        assert.deepStrictEqual(failed.input, { text: "kaboom" })
        assert.strictEqual(failed.errors[0].message, "boom")
        assert.strictEqual((yield* get("/api/run/row?id=big&row=nope")).status, 404)
      }))

    it.effect("the live view streams snapshots and ends after the final state", () =>
      Effect.gen(function*() {
        const { body, status } = yield* get("/api/run/live?id=small")
        assert.strictEqual(status, 200)
        const snapshot = JSON.parse(body.split("\n").find((line) => line.startsWith("data: "))!.slice(6))
        assert.strictEqual(snapshot.status, "success")
        assert.property(snapshot, "rates")
      }))
  })

  describe("path safety", () => {
    it.effect("no URL reaches a file outside the run folders", () =>
      Effect.gen(function*() {
        const attempts = [
          "/assets/..%2F..%2F..%2Fpackage.json",
          "/assets/%2e%2e%2f%2e%2e%2fserver.ts",
          "/assets/..%5c..%5cpackage.json",
          `/assets/${encodeURIComponent(path.join(outside, "passwd"))}`,
          "/api/run?id=..%2F..%2F..%2Fetc",
          `/api/run?id=${encodeURIComponent(outside)}`,
          `/api/run?id=${encodeURIComponent("/etc")}`,
          "/api/run?id=linked-run",
          "/api/run/row?id=linked-run&row=row-1",
          "/..%2F..%2Fetc%2Fpasswd",
          "/api/run/row?id=small%2F..%2F..&row=row-1"
        ]
        for (const attempt of attempts) {
          const { body, status } = yield* get(attempt)
          assert.strictEqual(status, 404, attempt)
          assert.notInclude(body, "root:x", attempt)
          assert.notInclude(body, "\"version\"", attempt)
        }
        const runs = JSON.parse((yield* get("/api/runs")).body).runs as Array<any>
        assert.notInclude(runs.map((run) => run.id), "linked-run")
        // a step folder that links out of the root is not read
        const row = JSON.parse((yield* get("/api/run/row?id=small&row=row-1")).body)
        assert.notProperty(row.outputs, "upper")
        assert.notInclude(JSON.stringify(row), "leaked")
      }))
  })
})
