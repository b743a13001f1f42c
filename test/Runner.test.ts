import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, type Duration, Effect, Layer, Stream } from "effect"
import { parquetWriteBuffer } from "hyparquet-writer"
import * as Chain from "../src/Chain.js"
import type { ChainError } from "../src/ChainError.js"
import * as EngineRegistry from "../src/EngineRegistry.js"
import * as DryRun from "../src/engines/DryRun.js"
import type * as Event from "../src/Event.js"
import * as Runner from "../src/Runner.js"
import * as ScriptedEngine from "../src/testing/ScriptedEngine.js"
import * as Writer from "../src/Writer.js"
import { chain, describe as describeStep, tagStep, upper } from "./fixtures/chains/items.js"

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/** Answers `describe` with the user prompt as text, `tag` with `tag:<user prompt>`. */
const engine = (latency: Duration.DurationInput = 0) =>
  ScriptedEngine.layer({
    latency,
    reply: (request): ScriptedEngine.Reply => {
      const user = request.text.split("\n").find((line) => line.startsWith("user: "))?.slice(6) ?? ""
      return user.startsWith("tag ") ? { object: { tag: `tag:${user.slice(4)}` } } : { object: { text: user } }
    }
  })

const env = (latency?: Duration.DurationInput) => Layer.merge(engine(latency), NodeContext.layer)

const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "sluice-runner-" }))

const write = (path: string, text: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(path, text))

const readText = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path))

const readJson = (path: string) => Effect.map(readText(path), (text) => JSON.parse(text) as Record<string, any>)

const exists = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(path))

const list = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readDirectory(path)).pipe(Effect.map((names) => names.sort()))

const records = (dir: string, step: string) =>
  Effect.map(
    Stream.runCollect(Writer.read({ dir, step })),
    (chunk) => Chunk.toArray(chunk) as Array<Record<string, any>>
  )

const ids = (rows: ReadonlyArray<Record<string, any>>) => rows.map((r) => String(r._id)).sort()

const items = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ sku: `S${String(i).padStart(3, "0")}`, name: `item${i}`, colour: "red" }))

const jsonl = (rows: ReadonlyArray<unknown>) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n"

const events = (stream: Stream.Stream<Event.Event, unknown, any>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toArray)

// ---------------------------------------------------------------------------
// inputs
// ---------------------------------------------------------------------------

describe("Runner: inputs", () => {
  const expectItems = (out: string, n: number) =>
    Effect.gen(function*() {
      const flat = yield* records(out, "flattened")
      assert.deepStrictEqual(ids(flat), items(n).map((i) => i.sku))
      const first = flat.find((r) => r._id === "S000")!
      assert.strictEqual(first["chain_input.name"], "item0")
      assert.strictEqual(first["describe.text"], "item0 is red")
      assert.strictEqual(first["upper.text"], "ITEM0 IS RED")
      assert.strictEqual(first["tag.tag"], "tag:ITEM0 IS RED of S000")
      assert.strictEqual(first._status, "complete")
    })

  it.scoped("reads every input format: JSONL, JSON arrays, CSV, TSV, Parquet and Hugging Face folders", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const rows = items(5)
      yield* write(`${dir}/in.jsonl`, jsonl(rows))
      yield* write(`${dir}/in.json`, JSON.stringify(rows, null, 2))
      yield* write(`${dir}/in.csv`, "sku,name,colour\n" + rows.map((r) => `${r.sku},${r.name},${r.colour}`).join("\n"))
      yield* write(
        `${dir}/in.tsv`,
        "sku\tname\tcolour\n" + rows.map((r) => `${r.sku}\t${r.name}\t${r.colour}`).join("\n")
      )
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFile(
        `${dir}/in.parquet`,
        new Uint8Array(parquetWriteBuffer({
          columnData: [
            { name: "sku", data: rows.map((r) => r.sku), type: "STRING" },
            { name: "name", data: rows.map((r) => r.name), type: "STRING" },
            { name: "colour", data: rows.map((r) => r.colour), type: "STRING" }
          ]
        }))
      )
      // a Hugging Face datasets folder (a Hub snapshot: data/<split>-*.parquet)
      yield* fs.makeDirectory(`${dir}/hub/data`, { recursive: true })
      yield* fs.copyFile(`${dir}/in.parquet`, `${dir}/hub/data/train-00000-of-00001.parquet`)
      const hub = yield* Runner.run(chain, { input: `${dir}/hub`, output: `${dir}/out-hub`, key: "sku" })
      assert.strictEqual(hub.done, 5)
      yield* expectItems(`${dir}/out-hub`, 5)
      for (const ext of ["jsonl", "json", "csv", "tsv", "parquet"]) {
        const out = `${dir}/out-${ext}`
        const summary = yield* Runner.run(chain, { input: `${dir}/in.${ext}`, output: out, key: "sku" })
        assert.strictEqual(summary.done, 5, ext)
        assert.strictEqual(summary.total, 5, ext)
        assert.strictEqual(summary.failed, 0, ext)
        yield* expectItems(out, 5)
      }
    }).pipe(Effect.provide(env())))

  it.scoped("reads records given in code, with columns and limit on files", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const summary = yield* Runner.run(chain, { input: items(4), output: `${dir}/code`, key: "sku" })
      assert.strictEqual(summary.done, 4)
      yield* expectItems(`${dir}/code`, 4)
      yield* write(
        `${dir}/wide.csv`,
        "sku,name,colour,secret\n" + items(6).map((r) => `${r.sku},${r.name},${r.colour},x`).join("\n")
      )
      const limited = yield* Runner.run(chain, {
        input: `${dir}/wide.csv`,
        output: `${dir}/wide`,
        key: "sku",
        columns: ["sku", "name", "colour"],
        limit: 3
      })
      assert.strictEqual(limited.done, 3)
      assert.strictEqual(limited.total, 3)
      const flat = yield* records(`${dir}/wide`, "flattened")
      assert.deepStrictEqual(ids(flat), ["S000", "S001", "S002"])
      assert.isFalse(Object.keys(flat[0]!).includes("chain_input.secret"))
      // without a key, ids are row indexes
      const byIndex = yield* Runner.run(chain, { input: items(2), output: `${dir}/index` })
      assert.strictEqual(byIndex.done, 2)
      assert.deepStrictEqual(ids(yield* records(`${dir}/index`, "flattened")), ["0", "1"])
    }).pipe(Effect.provide(env())))
})

// ---------------------------------------------------------------------------
// artefacts
// ---------------------------------------------------------------------------

describe("Runner: artefacts", () => {
  it.scoped("writes graph.json, per-step outputs, flattened rows, errors and metrics.json", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = [...items(3).map((r) => JSON.stringify(r)), "{broken", JSON.stringify({ sku: "BAD", name: "x" })]
      yield* write(`${dir}/in.jsonl`, input.join("\n") + "\n")
      const out = `${dir}/out`
      const summary = yield* Runner.run(chain, { input: `${dir}/in.jsonl`, output: out, key: "sku" })
      assert.deepStrictEqual(
        [summary.done, summary.failed, summary.malformed, summary.resumed, summary.total],
        [3, 2, 1, 0, 5]
      )
      assert.strictEqual(summary.status, "success")
      assert.deepStrictEqual(yield* list(out), [
        "describe",
        "errors",
        "flattened",
        "graph.json",
        "metrics.json",
        "tag",
        "upper"
      ])

      const graph = yield* readJson(`${out}/graph.json`)
      assert.strictEqual(graph.name, "items")
      assert.deepStrictEqual(Object.keys(graph.hashes), ["describe", "upper", "tag"])
      assert.deepStrictEqual(graph.steps.map((s: any) => s.kind), ["llm", "apply", "llm"])
      assert.strictEqual(graph.steps[0].prompt, "{{name}} is {{colour}}")
      assert.deepStrictEqual(graph.steps[0].input.required, ["sku", "name", "colour"])
      assert.strictEqual(graph.steps[0].hash, Chain.toGraphJson(chain).hashes.describe)
      assert.strictEqual(graph.run.runId, summary.runId)
      assert.strictEqual(graph.run.status, "success")
      assert.deepStrictEqual(graph.run.engines, { describe: "context", tag: "context" })
      assert.strictEqual(graph.run.options.key, "sku")
      assert.strictEqual(graph.run.options.csv, false)

      const describeRecords = yield* records(out, "describe")
      assert.deepStrictEqual(ids(describeRecords), ["S000", "S001", "S002"])
      assert.deepStrictEqual(describeRecords.find((r) => r._id === "S001"), { _id: "S001", text: "item1 is red" })

      const errors = yield* records(out, "errors")
      assert.strictEqual(errors.length, 2)
      const malformed = errors.find((e) => e.step === "input")!
      assert.strictEqual(malformed.error, "Malformed")
      assert.strictEqual(malformed.line, 4)
      assert.strictEqual(malformed.input, "{broken")
      assert.strictEqual(malformed.attempt, 1)
      const invalid = errors.find((e) => e.step === "describe")!
      assert.strictEqual(invalid._id, "BAD")
      assert.strictEqual(invalid.index, 4)
      assert.strictEqual(invalid.error, "ChainError")
      assert.include(invalid.message, "InvalidInput")
      assert.include(invalid.message, `["colour"]`)
      assert.deepStrictEqual(invalid.input, { sku: "BAD", name: "x" })

      const metrics = yield* readJson(`${out}/metrics.json`)
      assert.strictEqual(metrics.status, "success")
      assert.deepStrictEqual(metrics.items, { total: 5, done: 3, filtered: 0, failed: 2, resolved: 0, malformed: 1 })
      assert.deepStrictEqual(metrics.invocations[0].items, {
        done: 3,
        filtered: 0,
        resumed: 0,
        failed: 2,
        malformed: 1
      })
      assert.strictEqual(metrics.steps.describe.done, 3)
      assert.strictEqual(metrics.steps.describe.errors, 1)
      assert.strictEqual(metrics.steps.upper.done, 3)
      assert.hasAllKeys(metrics.steps.tag.latencyMs, ["p50", "p95", "p99", "mean", "max"])
      assert.deepStrictEqual(Object.keys(metrics.steps.tag.tokens), ["input", "output", "total"])
    }).pipe(Effect.provide(env())))

  it.scoped("streams RunStart, NonFatalError for malformed rows, per-item step events, RunEnd", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(`${dir}/in.jsonl`, [JSON.stringify(items(1)[0]), "nope"].join("\n") + "\n")
      const all = yield* events(Runner.stream(chain, { input: `${dir}/in.jsonl`, output: `${dir}/out`, key: "sku" }))
      assert.strictEqual(all[0]!._tag, "RunStart")
      assert.strictEqual(all[all.length - 1]!._tag, "RunEnd")
      const nonFatal = all.filter((e): e is Event.Of<"NonFatalError"> => e._tag === "NonFatalError")
      assert.strictEqual(nonFatal.length, 1)
      assert.include(nonFatal[0]!.message, "in.jsonl:2")
      const steps = all.filter((e): e is Event.Of<"StepEnd"> => e._tag === "StepEnd")
      assert.deepStrictEqual(steps.map((e) => [e.path.join("/"), e.item]), [
        ["items/describe", 0],
        ["items/upper", 0],
        ["items/tag", 0]
      ])
    }).pipe(Effect.provide(env())))

  it.scoped("rolls step files every rollRows records, with Parquet copies", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const summary = yield* Runner.run(chain, {
        input: items(10),
        output: `${dir}/out`,
        key: "sku",
        rollRows: 3,
        parquet: true,
        concurrency: 2
      })
      assert.strictEqual(summary.done, 10)
      for (const step of ["describe", "upper", "tag", "flattened"]) {
        const names = yield* list(`${dir}/out/${step}`)
        assert.deepStrictEqual(names.filter((n) => n.endsWith(".jsonl")), [
          "000.jsonl",
          "001.jsonl",
          "002.jsonl",
          "003.jsonl"
        ])
        assert.deepStrictEqual(names.filter((n) => n.endsWith(".parquet")), [
          "000.parquet",
          "001.parquet",
          "002.parquet",
          "003.parquet"
        ])
        assert.strictEqual((yield* records(`${dir}/out`, step)).length, 10)
      }
    }).pipe(Effect.provide(env())))
})

// ---------------------------------------------------------------------------
// bad input
// ---------------------------------------------------------------------------

describe("Runner: bad input", () => {
  it.scoped("strict mode stops at the first malformed row, naming its line", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* write(`${dir}/in.jsonl`, [JSON.stringify(items(1)[0]), "{oops"].join("\n") + "\n")
      const error = yield* Effect.flip(
        Runner.run(chain, { input: `${dir}/in.jsonl`, output: `${dir}/out`, strict: true })
      )
      assert.strictEqual(error._tag, "RunnerError")
      assert.strictEqual(error.reason, "Input")
      assert.include(error.message, "in.jsonl:2")
      const metrics = yield* readJson(`${dir}/out/metrics.json`)
      assert.strictEqual(metrics.status, "failure")
    }).pipe(Effect.provide(env())))

  it.scoped("a missing input file or an unknown column is an Input error naming it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const missing = yield* Effect.flip(Runner.run(chain, { input: `${dir}/nope.jsonl`, output: `${dir}/out` }))
      assert.strictEqual(missing.reason, "Input")
      assert.include(missing.message, "nope.jsonl")
      yield* write(`${dir}/in.csv`, "sku,name,colour\na,b,c\n")
      const column = yield* Effect.flip(
        Runner.run(chain, { input: `${dir}/in.csv`, output: `${dir}/out2`, columns: ["sku", "size"] })
      )
      assert.strictEqual(column.reason, "Input")
      assert.include(column.message, "size")
    }).pipe(Effect.provide(env())))

  it.scoped("an invalid chain fails with the ChainError (in a RunnerError) before reading the input", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const bad = Chain.make({ name: "bad", steps: [describeStep, tagStep("{{nope}}")] })
      const error = yield* Effect.flip(Runner.run(bad, { input: `${dir}/missing.jsonl`, output: `${dir}/out` }))
      assert.strictEqual(error.reason, "Chain")
      assert.strictEqual((error.cause as ChainError).reason, "UnknownField")
      assert.strictEqual(error.step, "tag")
      assert.include(error.message, "{{nope}}")
      assert.isFalse(yield* exists(`${dir}/out`))
    }).pipe(Effect.provide(env())))

  it.scoped("without an engine, the ChainError NoEngine names the step", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const error = yield* Effect.flip(Runner.run(chain, { input: items(1), output: `${dir}/out` }))
      assert.strictEqual(error.reason, "Chain")
      assert.strictEqual((error.cause as ChainError).reason, "NoEngine")
      assert.strictEqual(error.step, "describe")
    }).pipe(Effect.provide(NodeContext.layer)))
})

// ---------------------------------------------------------------------------
// resume
// ---------------------------------------------------------------------------

describe("Runner: resume", () => {
  it.scoped("running again into the same folder skips complete items", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const out = `${dir}/out`
      yield* Runner.run(chain, { input: items(6), output: out, key: "sku" })
      let plan: Runner.Plan | undefined
      const again = yield* events(Runner.stream(chain, {
        input: items(8),
        output: out,
        key: "sku",
        onStart: (p) => Effect.sync(() => (plan = p))
      }))
      assert.strictEqual(plan!.resumed, 6)
      assert.deepStrictEqual(plan!.invalidated, [])
      const started = again.filter((e): e is Event.Of<"StepStart"> => e._tag === "StepStart").map((e) => e.item)
      assert.deepStrictEqual([...new Set(started)].sort(), [6, 7])
      for (const step of ["describe", "upper", "tag", "flattened"]) {
        assert.deepStrictEqual(ids(yield* records(out, step)), items(8).map((i) => i.sku), step)
      }
      const summary = yield* Runner.run(chain, { input: items(8), output: out, key: "sku" })
      assert.deepStrictEqual([summary.done, summary.resumed], [0, 8])
    }).pipe(Effect.provide(env())))

  it.scoped("after a crash, step outputs already written are reused and every item is written once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const out = `${dir}/out`
      yield* Runner.run(chain, { input: items(6), output: out, key: "sku" })
      // simulate a crash: only 2 flattened rows made it (plus a torn line), `tag` lost its last 3 records
      const flat = (yield* readText(`${out}/flattened/000.jsonl`)).split("\n")
      yield* write(`${out}/flattened/000.jsonl`, flat.slice(0, 2).join("\n") + "\n" + flat[2]!.slice(0, 20))
      const tags = (yield* readText(`${out}/tag/000.jsonl`)).split("\n").filter((l) => l.length > 0)
      const keptTags = new Set(tags.slice(0, 3).map((l) => JSON.parse(l)._id as string))
      yield* write(`${out}/tag/000.jsonl`, tags.slice(0, 3).join("\n") + "\n")
      const done = new Set(flat.slice(0, 2).map((l) => JSON.parse(l)._id as string))

      const all = yield* events(Runner.stream(chain, { input: items(6), output: out, key: "sku" }))
      const started = all.filter((e): e is Event.Of<"StepStart"> => e._tag === "StepStart")
      // describe and upper were written for every item: none runs again
      assert.deepStrictEqual(started.filter((e) => e.path[1] !== "tag"), [])
      // tag runs for the items that lost it, not for those that kept it
      const retagged = started.map((e) => items(6)[e.item!]!.sku).sort()
      assert.deepStrictEqual(retagged, items(6).map((i) => i.sku).filter((id) => !keptTags.has(id)).sort())
      for (const id of done) assert.notInclude(retagged, id)
      for (const step of ["describe", "upper", "tag", "flattened"]) {
        assert.deepStrictEqual(ids(yield* records(out, step)), items(6).map((i) => i.sku), step)
      }
    }).pipe(Effect.provide(env())))

  it.live("an interrupted run resumes where it stopped, every item once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const out = `${dir}/out`
      const input = items(30)
      // stop consuming after 8 items finished their last step: the run is interrupted
      yield* Runner.stream(chain, { input, output: out, key: "sku", concurrency: 4 }).pipe(
        Stream.filter((e) => e._tag === "StepEnd" && e.path[1] === "tag"),
        Stream.take(12),
        Stream.runDrain
      )
      const graph = yield* readJson(`${out}/graph.json`)
      assert.strictEqual(graph.run.status, "interrupted")
      // items finished but not yet written when the run stopped are lost (in flight), never half-written
      const partial = (yield* records(out, "flattened")).length
      assert.isBelow(partial, 30)
      const summary = yield* Runner.run(chain, { input, output: out, key: "sku", concurrency: 4 })
      assert.strictEqual(summary.resumed, partial)
      assert.strictEqual(summary.done + summary.resumed, 30)
      for (const step of ["describe", "upper", "tag", "flattened"]) {
        assert.deepStrictEqual(ids(yield* records(out, step)), input.map((i) => i.sku), step)
      }
    }).pipe(Effect.scoped, Effect.provide(env("5 millis"))))

  it.scoped("a changed prompt re-runs that step and those after it, not those before", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const out = `${dir}/out`
      yield* Runner.run(chain, { input: items(4), output: out, key: "sku" })
      const changed = Chain.make({
        name: "items",
        steps: [describeStep, upper, tagStep("tag v2 {{text}} of {{chain_input.sku}}")]
      })
      let plan: Runner.Plan | undefined
      const all = yield* events(Runner.stream(changed, {
        input: items(4),
        output: out,
        key: "sku",
        onStart: (p) => Effect.sync(() => (plan = p))
      }))
      assert.deepStrictEqual(plan!.invalidated, ["tag"])
      assert.strictEqual(plan!.resumed, 0)
      const started = all.filter((e): e is Event.Of<"StepStart"> => e._tag === "StepStart")
      assert.deepStrictEqual([...new Set(started.map((e) => e.path[1]))], ["tag"])
      assert.strictEqual(started.length, 4)
      for (const step of ["describe", "upper", "tag", "flattened"]) {
        assert.deepStrictEqual(ids(yield* records(out, step)), items(4).map((i) => i.sku), step)
      }
      const flat = yield* records(out, "flattened")
      assert.isTrue(flat.every((r) => String(r["tag.tag"]).startsWith("tag:v2 ")))
      // the old outputs are kept aside
      const stale = yield* list(`${out}/.stale`)
      assert.strictEqual(stale.length, 1)
      assert.deepStrictEqual(yield* list(`${out}/.stale/${stale[0]}`), ["flattened", "tag"])
      // a change to the first step invalidates everything after it
      const first = Chain.make({
        name: "items",
        steps: [
          Chain.llm({ id: "describe", input: describeStep.input, output: describeStep.output, prompt: "{{name}}!" }),
          upper,
          tagStep("tag v2 {{text}} of {{chain_input.sku}}")
        ]
      })
      const summary = yield* Runner.run(first, { input: items(4), output: out, key: "sku" })
      assert.deepStrictEqual(summary.invalidated, ["describe", "upper", "tag"])
      assert.strictEqual(summary.done, 4)
      const rows = yield* records(out, "flattened")
      assert.deepStrictEqual(ids(rows), items(4).map((i) => i.sku))
      assert.isTrue(rows.every((r) => String(r["describe.text"]).endsWith("!")))
    }).pipe(Effect.provide(env())))

  it.scoped("an engine override is recorded and, like any engine change, re-runs the steps it touches", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const out = `${dir}/out`
      const registry = EngineRegistry.layer({ engines: [{ name: "fast", backend: "dry-run" }] }).pipe(
        Layer.provide(FetchHttpClient.layer)
      )
      yield* Runner.run(chain, { input: items(3), output: out, key: "sku", engines: { tag: "fast" } }).pipe(
        Effect.provide(registry)
      )
      const graph = yield* readJson(`${out}/graph.json`)
      assert.deepStrictEqual(graph.run.engines, { describe: "context", tag: "registry:fast" })
      assert.strictEqual(graph.steps[2].engine, "fast")
      const again = yield* Runner.run(chain, { input: items(3), output: out, key: "sku" })
      assert.deepStrictEqual(again.invalidated, ["tag"])
      assert.strictEqual(again.done, 3)
      assert.deepStrictEqual(ids(yield* records(out, "tag")), items(3).map((i) => i.sku))
    }).pipe(Effect.provide(env())))

  it.scoped("failed items are tried again on the next run, with the attempt counted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const out = `${dir}/out`
      const input = [...items(2), { sku: "BAD", name: "x" }]
      yield* Runner.run(chain, { input, output: out, key: "sku" })
      const again = yield* Runner.run(chain, { input, output: out, key: "sku" })
      assert.deepStrictEqual([again.done, again.resumed, again.failed], [0, 2, 1])
      const errors = yield* records(out, "errors")
      assert.deepStrictEqual(errors.map((e) => [e._id, e.step, e.attempt]), [["BAD", "describe", 1], [
        "BAD",
        "describe",
        2
      ]])
    }).pipe(Effect.provide(env())))
})

// ---------------------------------------------------------------------------
// inspect and loadChain
// ---------------------------------------------------------------------------

describe("Runner: inspect and loadChain", () => {
  it.scoped("inspect summarises a run folder", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const out = `${dir}/out`
      const summary = yield* Runner.run(chain, {
        input: [...items(3), { sku: "BAD" }],
        output: out,
        key: "sku",
        rollRows: 2
      })
      const inspection = yield* Runner.inspect(out)
      assert.strictEqual(inspection.chain, "items")
      assert.strictEqual(inspection.runId, summary.runId)
      assert.strictEqual(inspection.status, "success")
      assert.deepStrictEqual(inspection.steps, {
        describe: { records: 3, files: 2 },
        upper: { records: 3, files: 2 },
        tag: { records: 3, files: 2 }
      })
      assert.deepStrictEqual(inspection.flattened, { records: 3, files: 2 })
      assert.strictEqual(inspection.errors.total, 1)
      assert.deepStrictEqual(inspection.errors.byStep, { describe: 1 })
      assert.deepStrictEqual(inspection.errors.byError, { ChainError: 1 })
      assert.strictEqual((inspection.metrics as any).items.done, 3)
      const error = yield* Effect.flip(Runner.inspect(dir))
      assert.strictEqual(error.reason, "InvalidRun")
      assert.include(error.message, "no graph.json")
    }).pipe(Effect.provide(env())))

  it.scoped("the example chains run offline on dry-run over their bundled data", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const examples = [
        ["products", "products.jsonl", "sku", 8],
        ["summaries", "articles.jsonl", "id", 5],
        ["join", "numbers.jsonl", undefined, 12]
      ] as const
      for (const [name, data, key, rows] of examples) {
        const loaded = yield* Runner.loadChain(`examples/chains/${name}.ts:chain`)
        const summary = yield* Runner.run(loaded, {
          input: `examples/chains/data/${data}`,
          output: `${dir}/${name}`,
          ...(key === undefined ? {} : { key })
        })
        assert.strictEqual(summary.failed, 0, name)
        assert.strictEqual(summary.done + summary.filtered, rows, name)
        assert.strictEqual((yield* records(`${dir}/${name}`, "flattened")).length, rows, name)
      }
      const join = yield* records(`${dir}/join`, "flattened")
      const three = join.find((r) => r["chain_input.value"] === 3)!
      assert.deepStrictEqual([three["inc.value"], three["dec.value"], three["combine.product"]], [4, 2, 8])
    }).pipe(Effect.provide(Layer.merge(DryRun.layer(), NodeContext.layer))))

  it.effect("loadChain imports module:export and reports what is wrong by name", () =>
    Effect.gen(function*() {
      const loaded = yield* Runner.loadChain("test/fixtures/chains/items.ts:chain")
      assert.strictEqual(loaded, chain)
      const products = yield* Runner.loadChain("examples/chains/products.ts:chain")
      assert.strictEqual(products.name, "products")
      const missing = yield* Effect.flip(Runner.loadChain("test/fixtures/chains/nope.ts:chain"))
      assert.deepStrictEqual([missing.reason, missing.path], ["ModuleNotFound", "test/fixtures/chains/nope.ts"])
      const noExport = yield* Effect.flip(Runner.loadChain("test/fixtures/chains/items.ts:chian"))
      assert.strictEqual(noExport.reason, "ExportNotFound")
      assert.include(noExport.message, `no export "chian" (chains exported: chain)`)
      const notChain = yield* Effect.flip(Runner.loadChain("test/fixtures/chains/items.ts:notAChain"))
      assert.strictEqual(notChain.reason, "NotAChain")
      const invalid = yield* Effect.flip(Runner.loadChain("test/fixtures/chains/invalid.ts"))
      assert.strictEqual(invalid.reason, "Chain")
      assert.strictEqual(invalid.step, "summ")
      assert.include(invalid.message, "{{bdy}}")
      // without an export name: the module's only chain
      assert.strictEqual(yield* Runner.loadChain("test/fixtures/chains/items.ts"), chain)
    }).pipe(Effect.provide(NodeContext.layer)))
})
