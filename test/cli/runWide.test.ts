/**
 * Run-wide failures on the CLI: a run whose engine is unreachable stops early with its cause, and resumes after the
 * fix with every row exactly once and no error left open.
 */
import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import * as ScriptedServer from "../../src/testing/ScriptedServer.js"
import { sluice } from "./spawn.js"

const chain = "test/fixtures/cli/label.ts:chain"

/** A port nothing listens on: bound, then closed. */
const closedPort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 9
    server.close(() => resume(Effect.succeed(port)))
  })
})

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 0,
  model: "scripted",
  choices: [{ index: 0, delta, finish_reason: finish }]
})

const engines = (endpoint: string) =>
  `default: local\nengines:\n  - name: local\n    backend: vllm\n    model: m\n    endpoint: ${endpoint}\n`

const lines = (text: string) => text.split("\n").filter((line) => line !== "")

describe("sluice run: run-wide failures", () => {
  it.live(
    "an engine at a closed port stops the run early with its cause; after the fix a re-run finishes every row once",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const dir = yield* fs.makeTempDirectoryScoped({ prefix: "sluice-runwide-" })
        const input = `${dir}/products.jsonl`
        const out = `${dir}/out`
        const file = `${dir}/engines.yml`
        yield* fs.writeFileString(
          input,
          Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: `p${i}`, title: `product ${i}` })).join("\n")
        )
        yield* fs.writeFileString(file, engines(`http://127.0.0.1:${yield* closedPort}/v1`))

        const failed = yield* sluice("run", chain, "-i", input, "-o", out, "--engines", file, "--key", "id")
        assert.strictEqual(failed.code, 3, failed.stderr)
        const cause = lines(failed.stderr).at(-1)!
        assert.match(cause, /^sluice: label: RunFailed - connection refused: 10 items in a row failed at label: /)
        assert.match(cause, /ECONNREFUSED/)
        assert.isBelow(failed.ms, 30_000)
        const errors = lines(yield* fs.readFileString(`${out}/errors/000.jsonl`))
        assert.isBelow(errors.length, 300, "the run stopped early")
        const graph = JSON.parse(yield* fs.readFileString(`${out}/graph.json`))
        assert.strictEqual(graph.run.status, "failure")
        assert.match(graph.run.cause, /^connection refused: /)

        const inspected = yield* sluice("inspect", out)
        assert.strictEqual(inspected.code, 0, inspected.stderr)
        assert.match(lines(inspected.stdout)[0]!, /: failed: connection refused: 10 items in a row failed at label: /)

        const server = yield* ScriptedServer.make({
          reply: ScriptedServer.sse([chunk({ role: "assistant", content: "{\"label\":\"ok\"}" }), chunk({}, "stop")])
        })
        yield* fs.writeFileString(file, engines(`${server.url}/v1`))
        const fixed = yield* sluice("run", chain, "-i", input, "-o", out, "--engines", file, "--key", "id")
        assert.strictEqual(fixed.code, 0, fixed.stderr)
        const rows = (yield* fs.readDirectory(`${out}/flattened`)).filter((name) => name.endsWith(".jsonl"))
        const ids: Array<string> = []
        for (const name of rows) {
          for (const line of lines(yield* fs.readFileString(`${out}/flattened/${name}`))) ids.push(JSON.parse(line)._id)
        }
        assert.strictEqual(ids.length, 300)
        assert.strictEqual(new Set(ids).size, 300)
        assert.strictEqual((yield* server.requests).length, 300)

        const after = yield* sluice("inspect", out)
        const report = lines(after.stdout)
        assert.match(report[0]!, /: success$/)
        assert.match(report.join("\n"), /300 finished \(flattened\), 0 errors, \d+ resolved/)
        assert.notMatch(report.join("\n"), /last errors/)
        const metrics = JSON.parse(yield* fs.readFileString(`${out}/metrics.json`))
        assert.strictEqual(metrics.items.done, 300)
        assert.strictEqual(metrics.items.failed, 0)
        assert.strictEqual(metrics.invocations.length, 2)
        assert.strictEqual(metrics.invocations[0].status, "failure")
        assert.strictEqual(metrics.invocations[1].items.done, 300)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)),
    120_000
  )
})
